"""Issue 3: the churn pipeline under real DVC on 2,000 rows, `reg register --from-dvc` lineage,
`reg validate` promoting (exit 0) and refusing (exit 3), and `reg compare`.

The pipeline runs once per module in a template workspace (a git repository with the checkout's root
dvc.yaml and params.yaml, pipelines/churn's code, and DVC); each test works on its own copy, made a registry
with `reg init` in the test's own environment. The checkout's own model cards are left out: tests write theirs."""
from __future__ import annotations

import hashlib
import json
import shutil
import sys
from pathlib import Path

import pytest
import yaml

from .conftest import git, snapshot
from .pipelines import dvc, trained_template

ROWS = 2000
CARD = """\
validation: {{data: pipelines/churn/data/holdout.csv, target: churned}}
gates:
  staging:
    metrics: {{roc_auc: ">= {auc}", log_loss: "<= 0.60"}}
"""


@pytest.fixture(scope="module")
def template(tmp_path_factory) -> Path:
    """A workspace after `dvc repro` of the churn pipeline on 2,000 rows, everything committed."""
    def rows(root: Path) -> None:
        params = root / "params.yaml"
        params.write_text(params.read_text().replace("rows: 20000", f"rows: {ROWS}"))
    return trained_template(tmp_path_factory, "churn", ("dvc.yaml", "params.yaml", "pipelines/churn"),
                            "churn-evaluate", edit=rows)


def _lock(root: Path) -> dict:
    return yaml.safe_load((root / "dvc.lock").read_text())["stages"]


def _manifest(root: Path, version: int) -> dict:
    return yaml.safe_load((root / f"models/churn/{version}/manifest.yaml").read_text())


def _register(reg, root: Path) -> None:
    result = reg(root, "register", "churn", "--from-dvc", "churn-train")
    assert result.exit_code == 0, result.output


def _card(root: Path, auc: str) -> None:
    with open(root / "models/churn/model.yaml", "a") as fh:
        fh.write(CARD.format(auc=auc))
    git(root, "commit", "-qm", "gates", "models/churn/model.yaml")


# -- the pipeline ----------------------------------------------------------------------------------

def test_pipeline_writes_the_model_folder_metrics_and_plots(template):
    churn = template / "pipelines/churn"
    train = churn / "data/train.csv"
    holdout = churn / "data/holdout.csv"
    assert len(train.read_text().splitlines()) + len(holdout.read_text().splitlines()) - 2 == ROWS
    assert sorted(p.name for p in (churn / "model").iterdir()) == ["model.txt", "preprocess.skops", "signature.json"]
    assert (churn / "model/model.txt").read_text().startswith("tree\n")
    sig = json.loads((churn / "model/signature.json").read_text())
    assert sig["outputs"] == [{"name": "churn_probability", "type": "float64"}]
    types = {c["name"]: c["type"] for c in sig["inputs"]}
    assert types["tenure_months"] == "int64" and types["monthly_charges"] == "float64"
    assert types["contract"] == "string" and "churned" not in types and "customer_id" not in types
    # skops, no pickle: only numpy/scikit-learn types need trusting
    import skops.io as sio

    assert all(t.startswith(("numpy.", "sklearn.")) for t in sio.get_untrusted_types(file=churn / "model/preprocess.skops"))
    assert (churn / "plots/calibration.csv").read_text().startswith("mean_predicted,fraction_positive\n")
    assert (churn / "plots/calibration.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"  # the figure itself
    assert set(_lock(template)) == {"churn-prepare", "churn-train", "churn-evaluate"}

    shown = json.loads(dvc(template, "metrics", "show", "--json"))
    found = json.dumps(shown)
    assert '"roc_auc"' in found and '"log_loss"' in found and '"f1"' in found and '"valid_roc_auc"' in found
    evaluation = json.loads((churn / "evaluation.json").read_text())
    assert 0.7 < evaluation["roc_auc"] < 1 and evaluation["holdout_rows"] == len(holdout.read_text().splitlines()) - 1
    assert "didn't change" in dvc(template, "repro", "churn-evaluate")


def test_params_diff_shows_a_changed_hyperparameter(workspace):
    params = workspace / "params.yaml"
    params.write_text(params.read_text().replace("num_leaves: 31", "num_leaves: 7"))
    diff = dvc(workspace, "params", "diff")
    assert "churn.train.num_leaves" in diff and "31" in diff and "7" in diff
    assert "churn-train" in dvc(workspace, "status", "--with-deps", "churn-evaluate")



# -- register --from-dvc ---------------------------------------------------------------------------

def test_register_from_dvc_takes_lineage_from_dvc_lock(workspace, reg):
    lock = _lock(workspace)
    head = git(workspace, "rev-parse", "HEAD").strip()
    result = reg(workspace, "register", "churn", "--from-dvc", "churn-train", "--description", "first")
    assert result.exit_code == 0, result.output
    assert result.stdout.startswith("Registered churn v1 from DVC stage churn-train (commit ")
    m = _manifest(workspace, 1)
    evaluation = json.loads((workspace / "pipelines/churn/evaluation.json").read_text())
    training = json.loads((workspace / "pipelines/churn/metrics.json").read_text())
    assert list(m["metrics"])[:3] == ["roc_auc", "f1", "log_loss"]  # the holdout scores lead
    assert m["metrics"] == {**evaluation, **training}
    model_out = next(o for o in lock["churn-train"]["outs"] if o["path"] == "pipelines/churn/model")
    assert m["artifact"]["md5"] == model_out["md5"] and m["artifact"]["format"] == "lightgbm"
    train_csv = next(d for d in lock["churn-train"]["deps"] if d["path"] == "pipelines/churn/data/train.csv")
    holdout = next(d for d in lock["churn-evaluate"]["deps"] if d["path"] == "pipelines/churn/data/holdout.csv")
    assert m["lineage"]["data"] == {"pipelines/churn/data/train.csv": train_csv["md5"],
                                    "pipelines/churn/data/holdout.csv": holdout["md5"]}
    # dvc.lock's `churn.evaluate: {...}` keys are nested back into params.yaml's shape
    params = m["lineage"]["params"]
    assert list(params) == ["churn"]
    assert params["churn"]["evaluate"] == lock["churn-evaluate"]["params"]["params.yaml"]["churn.evaluate"]
    assert params["churn"]["train"] == lock["churn-train"]["params"]["params.yaml"]["churn.train"]
    assert params["churn"]["prepare"]["rows"] == ROWS  # upstream stages' params too
    assert m["lineage"]["git_sha"] == head and m["lineage"]["git_dirty"] is False
    assert m["lineage"]["dvc"]["file"] == "dvc.yaml" and m["lineage"]["dvc"]["stage"] == "churn-train"
    assert m["signature"]["outputs"] == [{"name": "churn_probability", "type": "float64"}]
    assert git(workspace, "tag", "-l", "churn@*").split() == ["churn@v1"]
    assert git(workspace, "status", "--porcelain") == ""


def test_register_from_dvc_with_a_path_to_dvc_yaml_from_anywhere(workspace, reg, monkeypatch, tmp_path):
    monkeypatch.chdir(tmp_path)
    result = reg(workspace, "register", "churn", "--from-dvc", "dvc.yaml:churn-train")
    assert result.exit_code == 0, result.output
    assert (workspace / "models/churn/1/model/model.txt").is_file()


@pytest.mark.parametrize("args, message", [
    (["--from-dvc", "trian"], "has no stage 'trian'; its stages: churn-evaluate, churn-prepare, churn-train"),
    (["--from-dvc", "churn-train", "--metrics", "m.json"],
     "--from-dvc takes metrics, params and format from the pipeline"),
    (["--from-dvc", "churn-prepare"], "stage 'churn-prepare' has several outputs (pipelines/churn/data/train.csv, "
                                      "pipelines/churn/data/holdout.csv)"),
    (["--from-dvc", "dvc.yaml:"], "--from-dvc dvc.yaml: names no stage after ':'; write e.g. dvc.yaml:train"),
    ([], "give the PATH to register, or --from-dvc STAGE"),
])
def test_register_from_dvc_bad_input_changes_nothing(workspace, reg, args, message):
    before = snapshot(workspace)
    result = reg(workspace, "register", "churn", *args)
    assert result.exit_code != 0
    assert message in result.output
    assert snapshot(workspace) == before


def test_register_from_dvc_in_a_subfolder_finds_the_root_dvc_yaml(workspace, reg, monkeypatch):
    monkeypatch.chdir(workspace / "pipelines/churn")
    result = reg(workspace, "register", "churn", "--from-dvc", "churn-train")
    assert result.exit_code == 0, result.output
    assert _manifest(workspace, 1)["lineage"]["dvc"]["file"] == "dvc.yaml"


def test_register_from_dvc_at_the_root_names_the_dvc_yaml_that_has_the_stage(registry, reg, monkeypatch):
    tiny = registry / "pipelines/tiny"
    tiny.mkdir(parents=True)
    (tiny / "dvc.yaml").write_text("stages:\n  train:\n    cmd: mkdir -p model\n    outs: [model]\n")
    git(registry, "add", "-A")
    git(registry, "commit", "-qm", "tiny pipeline")
    monkeypatch.chdir(registry)
    before = snapshot(registry)
    result = reg(registry, "register", "tiny", "--from-dvc", "train")
    assert result.exit_code == 1
    assert result.stderr == (f"error: no dvc.yaml found at {registry.resolve() / 'dvc.yaml'}; 'train' is in "
                             "pipelines/tiny/dvc.yaml: give --from-dvc pipelines/tiny/dvc.yaml:train\n")
    assert snapshot(registry) == before


def test_register_from_dvc_with_dvc_lock_not_committed_is_dirty(workspace, reg):
    git(workspace, "rm", "-q", "--cached", "dvc.lock")
    git(workspace, "commit", "-qm", "the run is not in git")
    _register(reg, workspace)
    assert _manifest(workspace, 1)["lineage"]["git_dirty"] is True


def test_register_from_dvc_refuses_an_output_changed_after_the_run(workspace, reg):
    with open(workspace / "pipelines/churn/model/model.txt", "a") as fh:
        fh.write("\n")
    before = snapshot(workspace)
    result = reg(workspace, "register", "churn", "--from-dvc", "churn-train")
    assert result.exit_code == 1
    assert result.stderr == ("error: pipelines/churn/model is not what dvc.lock recorded for stage 'churn-train' (it "
                             "changed after the run); run `dvc repro churn-train` so the lineage describes this "
                             "artifact\n")
    assert snapshot(workspace) == before


# -- retrain, stale evaluation, compare ------------------------------------------------------------

def test_retrain_then_compare_shows_metric_diffs_params_and_shas(workspace, reg):
    _register(reg, workspace)
    params = workspace / "params.yaml"
    params.write_text(params.read_text().replace("num_leaves: 31", "num_leaves: 7"))
    dvc(workspace, "repro", "-s", "churn-train")  # evaluate not rerun: its metrics belong to the old model
    before = snapshot(workspace)
    stale = reg(workspace, "register", "churn", "--from-dvc", "churn-train")
    assert stale.exit_code == 1
    assert ("stage 'churn-evaluate' last ran on another pipelines/churn/model, so its metrics "
            "(pipelines/churn/evaluation.json) are stale") in stale.stderr
    assert snapshot(workspace) == before

    dvc(workspace, "repro", "churn-evaluate")
    git(workspace, "add", "-A")
    git(workspace, "commit", "-qm", "smaller trees")
    _register(reg, workspace)

    v1, v2 = _manifest(workspace, 1), _manifest(workspace, 2)
    out = reg(workspace, "compare", "churn", "1", "2")
    assert out.exit_code == 0, out.output
    lines = out.stdout.splitlines()
    assert lines[0] == "churn v1 (none) vs v2 (none)"
    auc = next(ln.split() for ln in lines if ln.startswith("roc_auc "))
    diff = round(v2["metrics"]["roc_auc"] - v1["metrics"]["roc_auc"], 6)
    assert auc[:3] == ["roc_auc", str(v1["metrics"]["roc_auc"]), str(v2["metrics"]["roc_auc"])]
    assert auc[3] == ("0" if diff == 0 else f"{diff:+.4g}")
    assert next(ln.split() for ln in lines if ln.startswith("churn.train.num_leaves")) == \
        ["churn.train.num_leaves", "31", "7"]
    assert "data: no change" in lines
    assert lines[-1] == f"git: v1 {v1['lineage']['git_sha'][:12]}, v2 {v2['lineage']['git_sha'][:12]}"

    data = json.loads(reg(workspace, "compare", "churn", "1", "2", "--json").stdout)
    assert data["params_changed"] == [{"name": "churn.train.num_leaves", "a": 31, "b": 7}]
    assert data["data_changed"] == []
    assert data["a"]["git_sha"] == v1["lineage"]["git_sha"] != data["b"]["git_sha"]
    roc = next(r for r in data["metrics"] if r["name"] == "roc_auc")
    assert roc["diff"] == diff

    bad = reg(workspace, "compare", "churn", "1", "9")
    assert bad.exit_code == 1 and bad.stderr == "error: churn has no version 9 (versions 1-2)\n"


# -- validate --------------------------------------------------------------------------------------

def test_validate_records_and_promotes_in_one_commit(workspace, reg):
    _register(reg, workspace)
    _card(workspace, "0.60")
    before = int(git(workspace, "rev-list", "--count", "HEAD"))
    result = reg(workspace, "validate", "churn", "1")
    assert result.exit_code == 0, result.output
    evaluation = json.loads((workspace / "pipelines/churn/evaluation.json").read_text())
    assert "ok   roc_auc >= 0.60: roc_auc = " in result.stdout
    assert result.stdout.splitlines()[-1].startswith("Promoted churn v1 to staging (commit ")
    assert int(git(workspace, "rev-list", "--count", "HEAD")) == before + 1
    m = _manifest(workspace, 1)
    assert m["stage"] == "staging"
    [record] = m["validations"]
    # the same model on the same holdout: the numbers the pipeline's evaluate stage wrote
    assert {k: record["metrics"][k] for k in ("roc_auc", "f1", "log_loss")} == \
        {k: evaluation[k] for k in ("roc_auc", "f1", "log_loss")}
    holdout = workspace / "pipelines/churn/data/holdout.csv"
    assert record["data"] == "pipelines/churn/data/holdout.csv"
    assert record["data_md5"] == hashlib.md5(holdout.read_bytes()).hexdigest()
    assert record["rows"] == evaluation["holdout_rows"] and record["promoted"] is True
    assert record["gate"]["passed"] is True
    assert m["metrics"] == _manifest_at(workspace, "churn@v1")["metrics"]  # registered metrics untouched
    files = git(workspace, "show", "--name-only", "--format=", "HEAD").split()
    assert sorted(files) == ["models/churn/.gitignore", "models/churn/1/manifest.yaml", "models/churn/staging.dvc"]
    log = git(workspace, "log", "-1", "--format=%B")
    assert "Reg-Action: promote" in log and "Reg-To: staging" in log
    assert git(workspace, "tag", "--points-at", "HEAD").split() == ["churn#staging#1"]
    assert git(workspace, "status", "--porcelain") == ""


def _manifest_at(root: Path, rev: str) -> dict:
    return yaml.safe_load(git(root, "show", f"{rev}:models/churn/1/manifest.yaml"))


def test_validate_failing_gate_records_and_exits_3(workspace, reg):
    _register(reg, workspace)
    _card(workspace, "0.99")
    result = reg(workspace, "validate", "churn", "1")
    assert result.exit_code == 3, result.output
    auc = _manifest(workspace, 1)["validations"][0]["metrics"]["roc_auc"]
    assert f"FAIL roc_auc >= 0.99: roc_auc = {auc}, needs >= 0.99" in result.stdout
    assert "Not promoted: the staging gate failed: roc_auc >= 0.99 (roc_auc = " in result.stdout
    m = _manifest(workspace, 1)
    assert m["stage"] == "none" and m["validations"][0]["promoted"] is False
    assert git(workspace, "log", "-1", "--format=%s").strip() == "reg: validate churn v1"
    assert git(workspace, "tag", "--points-at", "HEAD") == ""
    assert not (workspace / "models/churn/staging.dvc").exists()
    events = json.loads(reg(workspace, "history", "churn", "--json").stdout)
    assert events[0]["action"] == "validate" and events[0]["version"] == 1
    assert f"roc_auc={auc}" in events[0]["detail"]


def test_validate_with_data_option_and_json(workspace, reg, tmp_path):
    _register(reg, workspace)
    data = tmp_path / "fresh.csv"
    shutil.copy(workspace / "pipelines/churn/data/holdout.csv", data)
    result = reg(workspace, "validate", "churn", "1", "--data", str(data), "--target", "churned", "--json")
    # Fail closed (issue 12): no staging gate, so the scores are recorded and nothing is promoted (exit 3);
    # this test used to see a promotion without any gate.
    assert result.exit_code == 3, result.output
    out = json.loads(result.stdout)
    assert out["promoted"] is False and out["stage"] == "none" and out["checks"] == [] and out["gate"] is False
    assert out["why_not"].startswith("models/churn/model.yaml has no staging gate, so validation does not promote")
    assert out["data"] == str(data) and out["task"] == "classification"
    _card(workspace, "0.60")
    result = reg(workspace, "validate", "churn", "1", "--data", str(data), "--target", "churned", "--json")
    assert result.exit_code == 0, result.output
    assert json.loads(result.stdout)["promoted"] is True


@pytest.mark.parametrize("args, message", [
    ([], "error: no holdout data for churn: pass --data FILE, or set validation: {data: PATH, target: COLUMN} "
         "in models/churn/model.yaml\n"),
    (["--data", "nope.csv", "--target", "churned"], "does not exist; run the pipeline (dvc repro) or pass --data FILE\n"),
    (["--data", "pipelines/churn/data/holdout.csv", "--target", "churn"],
     "has no column 'churn' (its columns: customer_id, "),
    (["--data", "pipelines/churn/data/train.csv", "--target", "tenure_months"], "must hold both classes as 0/1"),
])
def test_validate_bad_input_changes_nothing(workspace, reg, args, message):
    _register(reg, workspace)
    before = snapshot(workspace)
    result = reg(workspace, "validate", "churn", "1", *args)
    assert result.exit_code == 1
    assert message in result.stderr and result.stderr.count("\n") == 1
    assert snapshot(workspace) == before


def test_validate_again_records_without_moving_the_version(workspace, reg):
    _register(reg, workspace)
    _card(workspace, "0.60")
    assert reg(workspace, "validate", "churn", "1").exit_code == 0
    again = reg(workspace, "validate", "churn", "1")
    assert again.exit_code == 0, again.output
    assert again.stdout.splitlines()[-1].startswith(
        "Passed; not moved: v1 is already in staging; validation only promotes a version in none, and never "
        "moves one back (validation recorded, commit ")
    m = _manifest(workspace, 1)
    assert m["stage"] == "staging" and [r["promoted"] for r in m["validations"]] == [True, False]
    assert git(workspace, "log", "-1", "--format=%s").strip() == "reg: validate churn v1"


def test_validate_unusable_data_is_one_line_and_changes_nothing(workspace, reg, tmp_path):
    _register(reg, workspace)
    holdout = (workspace / "pipelines/churn/data/holdout.csv").read_text().splitlines()
    header = holdout[0].split(",")
    col = header.index("tenure_months")
    bad_row = holdout[1].split(",")
    bad_row[col] = "abc"
    files = {
        "text.csv": "\n".join([holdout[0], ",".join(bad_row), *holdout[2:]]) + "\n",
        "semicolons.csv": "\n".join(line.replace(",", ";") for line in holdout) + "\n",
        "fake.parquet": "not parquet\n",
    }
    for name, text in files.items():
        (tmp_path / name).write_text(text)
    (tmp_path / "folder").mkdir()
    cases = {
        "text.csv": "column 'tenure_months' must hold numbers (int64 in the model's signature) but holds 'abc'",
        "semicolons.csv": "; is it a comma-separated CSV?",
        "fake.parquet": "fake.parquet",
        "folder": "is a folder; pass --data with a CSV file",
    }
    before = snapshot(workspace)
    for name, message in cases.items():
        result = reg(workspace, "validate", "churn", "1", "--data", str(tmp_path / name), "--target", "churned")
        assert result.exit_code == 1, (name, result.output)
        assert result.stderr.startswith("error: ") and message in result.stderr, (name, result.stderr)
        assert result.stderr.count("\n") == 1 and "unexpected" not in result.stderr, (name, result.stderr)
    assert snapshot(workspace) == before


def test_compare_says_a_version_is_deleted(workspace, reg):
    _register(reg, workspace)
    _register(reg, workspace)
    assert reg(workspace, "delete", "churn", "1", "--reason", "leaked data").exit_code == 0
    out = reg(workspace, "compare", "churn", "1", "2")
    assert out.exit_code == 0, out.output
    assert out.stdout.splitlines()[0] == "churn v1 (deleted) vs v2 (none)"
    data = json.loads(reg(workspace, "compare", "churn", "1", "2", "--json").stdout)
    assert data["a"]["deleted"] is True and data["b"]["deleted"] is False


def test_validate_without_the_ml_extras_says_what_to_install(workspace, reg, monkeypatch):
    _register(reg, workspace)
    before = snapshot(workspace)
    monkeypatch.setitem(sys.modules, "sklearn.metrics", None)  # as if scikit-learn were not installed
    result = reg(workspace, "validate", "churn", "1", "--data", "pipelines/churn/data/holdout.csv", "--target",
                 "churned")
    assert result.exit_code == 1
    assert result.stderr == ("error: reg validate needs pandas, numpy and scikit-learn (sklearn.metrics is not "
                             "installed): install the ml extras with pip install -e '.[ml]' in the reg checkout\n")
    assert snapshot(workspace) == before


def test_register_from_dvc_data_outside_the_pipeline_folder_is_a_clean_path(registry, reg, monkeypatch):
    """A dep such as ../shared/rows.csv is recorded as pipelines/shared/rows.csv, not pipelines/tiny/../..."""
    tiny = registry / "pipelines/tiny"
    tiny.mkdir(parents=True)
    (registry / "pipelines/shared").mkdir()
    (registry / "pipelines/shared/rows.csv").write_text("a,b\n1,2\n")
    (tiny / "dvc.yaml").write_text("stages:\n  train:\n    cmd: mkdir -p model && cp ../shared/rows.csv model/\n"
                                   "    deps: [../shared/rows.csv]\n    outs: [model]\n")
    dvc(tiny, "repro")
    git(registry, "add", "-A")
    git(registry, "commit", "-qm", "tiny pipeline")
    monkeypatch.chdir(tiny)
    result = reg(registry, "register", "tiny", "--from-dvc", "train")
    assert result.exit_code == 0, result.output
    data = yaml.safe_load((registry / "models/tiny/1/manifest.yaml").read_text())["lineage"]["data"]
    assert data == {"pipelines/shared/rows.csv": hashlib.md5(b"a,b\n1,2\n").hexdigest()}


def test_compare_explains_a_metric_change_by_the_evaluate_stage_params(workspace, reg):
    """Only the evaluate stage's threshold changed: f1 moves, and compare must say which param did it."""
    _register(reg, workspace)
    churn = workspace / "pipelines/churn"
    params = workspace / "params.yaml"
    params.write_text(params.read_text().replace("threshold: 0.5", "threshold: 0.3"))
    dvc(workspace, "repro", "churn-evaluate")  # only evaluate reruns; the model is the same
    git(workspace, "commit", "-qam", "lower threshold")
    _register(reg, workspace)
    data = json.loads(reg(workspace, "compare", "churn", "1", "2", "--json").stdout)
    assert data["params_changed"] == [{"name": "churn.evaluate.threshold", "a": 0.5, "b": 0.3}]
    assert data["a"]["artifact_md5"] == data["b"]["artifact_md5"]
    f1 = next(r for r in data["metrics"] if r["name"] == "f1")
    assert f1["diff"] != 0


def test_validate_uses_the_cards_threshold_so_f1_matches_evaluate(workspace, reg):
    churn = workspace / "pipelines/churn"
    params = workspace / "params.yaml"
    params.write_text(params.read_text().replace("threshold: 0.5", "threshold: 0.3"))
    dvc(workspace, "repro", "churn-evaluate")
    git(workspace, "commit", "-qam", "lower threshold")
    _register(reg, workspace)
    card = workspace / "models/churn/model.yaml"
    with open(card, "a") as fh:
        fh.write("validation: {data: pipelines/churn/data/holdout.csv, target: churned, threshold: 0.3}\n")
    git(workspace, "commit", "-qm", "threshold", "models/churn/model.yaml")
    result = reg(workspace, "validate", "churn", "1")
    assert result.exit_code == 3, result.output  # recorded; no staging gate, so not promoted (issue 12: fail closed)
    evaluation = json.loads((churn / "evaluation.json").read_text())
    [record] = _manifest(workspace, 1)["validations"]
    assert record["threshold"] == 0.3
    assert {k: record["metrics"][k] for k in ("f1", "precision", "recall")} == \
        {k: evaluation[k] for k in ("f1", "precision", "recall")}

    card.write_text(card.read_text().replace("threshold: 0.3", "threshold: high"))
    git(workspace, "commit", "-qm", "bad threshold", "models/churn/model.yaml")
    before = snapshot(workspace)
    bad = reg(workspace, "validate", "churn", "1")
    assert bad.exit_code == 1
    assert bad.stderr == ("error: models/churn/model.yaml: validation.threshold must be a number between 0 and 1 "
                          "such as 0.5 (found 'high')\n")
    assert snapshot(workspace) == before
