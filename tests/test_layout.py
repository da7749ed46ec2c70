"""Issue 12 item 1: this checkout is a registry repository as the design card lays it out (root dvc.yaml
and params.yaml with the churn and sales stages, models/ with registry.yaml and the model cards), and a
fresh clone of it works with nothing else set up: reg init, dvc repro, git commit, reg register
--from-dvc, reg validate."""
from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from registry import policy, settings
from registry.state import read_state

ROOT = Path(__file__).resolve().parent.parent


def _stages() -> dict:
    return yaml.safe_load((ROOT / "dvc.yaml").read_text())["stages"]


def test_root_dvc_yaml_has_prepare_train_evaluate_for_churn_and_sales():
    stages = _stages()
    assert set(stages) == {f"{m}-{s}" for m in ("churn", "sales") for s in ("prepare", "train", "evaluate")}
    params = yaml.safe_load((ROOT / "params.yaml").read_text())
    for name, body in stages.items():
        model, step = name.split("-")
        assert body["cmd"] == f"python pipelines/{model}/{step}.py"
        for dep in body["deps"]:
            if dep.endswith(".py"):
                assert (ROOT / dep).is_file(), dep  # the code is in the checkout
        for key in body.get("params", []):
            section = params
            for part in key.split("."):
                section = section[part]  # every tracked param key is in the root params.yaml
    assert not (ROOT / "pipelines/churn/dvc.yaml").exists() and not (ROOT / "pipelines/churn/params.yaml").exists()


def test_models_holds_the_settings_and_the_model_cards_with_gates_and_validation():
    state = read_state(ROOT)
    assert sorted(m.name for m in state.models()) == ["churn", "sales"]
    committed = subprocess.run(["git", "ls-files", "models"], cwd=ROOT, capture_output=True, text=True).stdout.split()
    assert sorted(committed) == ["models/churn/model.yaml", "models/registry.yaml", "models/sales/model.yaml"]
    stages = settings.read(ROOT).stages
    churn = yaml.safe_load((ROOT / "models/churn/model.yaml").read_text())
    sales = yaml.safe_load((ROOT / "models/sales/model.yaml").read_text())
    assert churn["validation"]["data"] == "pipelines/churn/data/holdout.csv"
    assert sales["validation"] == {"task": "regression", "data": "pipelines/sales/data/holdout.csv", "target": "sales",
                                   "metrics": ["rmspe", "rmse", "mae", "mape", "r2"]}
    gates = policy.parse_gates("sales", sales["gates"], stages)
    assert gates["staging"].metrics == {"rmspe": ("<", 0.10, "0.10")}
    assert gates["production"].beat_current == {"rmspe": "lower"}
    assert policy.parse_gates("churn", churn["gates"], stages)["staging"].metrics["roc_auc"][:2] == (">=", 0.80)
    for model, body in (("churn", churn), ("sales", sales)):
        produced = [o for s in _stages().values() for o in s.get("outs", [])]
        assert body["validation"]["data"] in produced, model  # the holdout is a pipeline output


def _run(cwd: Path, env: dict, *argv: str, expect: int = 0) -> str:
    proc = subprocess.run(list(argv), cwd=str(cwd), env=env, capture_output=True, text=True, timeout=900)
    assert proc.returncode == expect, f"{' '.join(argv)} exited {proc.returncode}:\n{proc.stdout}\n{proc.stderr}"
    return proc.stdout


@pytest.mark.slow
def test_a_fresh_clone_trains_registers_and_validates_with_nothing_else_set_up(tmp_path, isolated_env):
    """The clone is of the checkout's committed HEAD, with its own default params (20,000 churn customers)."""
    bin_dir = Path(sys.executable).parent
    env = dict(os.environ, PATH=f"{bin_dir}{os.pathsep}{os.environ['PATH']}", PYTHONPATH=str(ROOT))
    reg = [sys.executable, "-m", "cli"]
    clone = tmp_path / "clone"
    _run(tmp_path, env, "git", "clone", "-q", "--no-local", str(ROOT), str(clone))
    head = _run(ROOT, env, "git", "rev-parse", "HEAD").strip()
    _run(clone, env, "git", "checkout", "-q", "-B", "main", head)

    _run(clone, env, *reg, "init")
    _run(clone, env, "dvc", "repro")
    _run(clone, env, "git", "add", "-A")
    _run(clone, env, "git", "commit", "-qm", "Train churn and sales")
    assert _run(clone, env, "git", "status", "--porcelain") == ""
    tracked = _run(clone, env, "git", "ls-files").split()
    assert "dvc.lock" in tracked and "pipelines/churn/evaluation.json" in tracked  # the run is in git
    out = _run(clone, env, *reg, "register", "churn", "--from-dvc", "churn-train")
    assert out.startswith("Registered churn v1 from DVC stage churn-train (commit ")
    out = _run(clone, env, *reg, "validate", "churn", "1")
    assert out.splitlines()[-1].startswith("Promoted churn v1 to staging (commit ")
    manifest = yaml.safe_load((clone / "models/churn/1/manifest.yaml").read_text())
    assert manifest["lineage"]["git_dirty"] is False and manifest["stage"] == "staging"

    out = _run(clone, env, *reg, "register", "sales", "--from-dvc", "sales-train")
    assert out.startswith("Registered sales v1 from DVC stage sales-train (commit ")
    assert yaml.safe_load((clone / "models/sales/1/manifest.yaml").read_text())["artifact"]["format"] == "ensemble"
    assert _run(clone, env, *reg, "check").startswith("reg check: ok")
    assert _run(clone, env, "git", "status", "--porcelain") == ""
    shutil.rmtree(clone, ignore_errors=True)
