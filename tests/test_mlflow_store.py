"""MLflow's own client and fluent API against a reg registry (`reg:///path`), with real MLflow on SQLite.

The seed lesson's CI flow runs unchanged but for the registry URI: register two runs' models, Staging,
compare with Production, Production with archive, alias champion, load by stage and by alias, predict.
Every state change must be one reg commit with reg's trailers and tags, and `reg check` must accept it.
"""
from __future__ import annotations

import json
import os
import subprocess

import pytest

from .conftest import git, snapshot

# `make test` installs the mlflow extra; in CI a missing MLflow fails here instead of skipping.
mlflow = pytest.importorskip("mlflow") if not os.environ.get("CI") else __import__("mlflow")
pytestmark = [pytest.mark.mlflow, pytest.mark.slow]


@pytest.fixture(scope="module")
def tracking(tmp_path_factory):
    """One MLflow tracking store (SQLite + local artifacts) with two finished runs that logged a model each."""
    import numpy as np
    from sklearn.linear_model import LogisticRegression

    root = tmp_path_factory.mktemp("mlflow")
    uri = f"sqlite:///{root}/mlflow.db"
    mlflow.set_tracking_uri(uri)
    exp = mlflow.create_experiment("churn", artifact_location=str(root / "artifacts"))
    rng = np.random.default_rng(0)
    X = rng.random((80, 3))
    y = (X[:, 0] + 0.1 * rng.random(80) > 0.55).astype(int)
    runs = []
    for c, auc in ((0.1, 0.81), (10.0, 0.93)):
        with mlflow.start_run(experiment_id=exp) as run:
            mlflow.log_param("C", c)
            mlflow.log_metric("roc_auc", auc)
            mlflow.sklearn.log_model(LogisticRegression(C=c).fit(X, y), name="model")
            runs.append(run.info.run_id)
    return {"uri": uri, "runs": runs, "X": X, "experiment": exp}


@pytest.fixture
def client(registry, tracking, monkeypatch):
    from mlflow import MlflowClient

    monkeypatch.setenv("MLFLOW_TRACKING_URI", tracking["uri"])
    monkeypatch.setenv("MLFLOW_REGISTRY_URI", f"reg://{registry}")
    mlflow.set_tracking_uri(tracking["uri"])
    mlflow.set_registry_uri(f"reg://{registry}")
    yield MlflowClient()
    mlflow.set_registry_uri(None)


def _subjects(root) -> list[str]:
    return git(root, "log", "--format=%s").splitlines()


def test_seed_ci_flow_runs_unchanged(registry, tracking, client, reg):
    first, second = tracking["runs"]
    mv1 = mlflow.register_model(f"runs:/{first}/model", "churn")
    mv2 = mlflow.register_model(f"runs:/{second}/model", "churn")
    assert (mv1.version, mv2.version) == ("1", "2")  # strings, as MLflow's are
    manifest = reg(registry, "show", "churn/2", "--json")
    data = json.loads(manifest.stdout)
    assert data["metrics"]["roc_auc"] == 0.93 and data["lineage"]["run_id"] == second
    assert data["lineage"]["params"]["C"] == "10.0"

    client.transition_model_version_stage("churn", mv1.version, "Production")
    client.transition_model_version_stage("churn", mv2.version, "Staging")
    staging = client.get_latest_versions("churn", stages=["Staging"])[0]
    production = client.get_latest_versions("churn", stages=["Production"])[0]
    assert (staging.version, production.version) == ("2", "1")
    better = client.get_run(staging.run_id).data.metrics["roc_auc"] > client.get_run(production.run_id).data.metrics["roc_auc"]
    assert better
    client.transition_model_version_stage("churn", staging.version, "Production", archive_existing_versions=True)
    client.set_registered_model_alias("churn", "champion", staging.version)

    assert client.get_model_version("churn", "1").current_stage == "Archived"
    assert client.get_model_version_by_alias("churn", "champion").version == "2"
    by_stage = mlflow.pyfunc.load_model("models:/churn/Production")
    by_alias = mlflow.pyfunc.load_model("models:/churn@champion")
    by_number = mlflow.sklearn.load_model("models:/churn/1")
    X = tracking["X"][:5]
    assert list(by_stage.predict(X)) == list(by_alias.predict(X))
    assert len(by_number.predict(X)) == 5

    subjects = _subjects(registry)
    assert subjects[:6] == ["reg: alias churn v2 as champion", "reg: promote churn v2 to production",
                            "reg: promote churn v2 to staging", "reg: promote churn v1 to production",
                            "reg: register churn v2", "reg: register churn v1"]
    assert "Reg-Action: promote" in git(registry, "log", "-1", "--skip=1", "--format=%B")
    assert "churn#production#3" in git(registry, "tag", "-l").split()
    assert reg(registry, "check").exit_code == 0


def test_management_calls_are_reg_commits(registry, tracking, client, reg):
    from mlflow.entities.model_registry import RegisteredModelTag  # noqa: F401

    first, second = tracking["runs"]
    client.create_registered_model("churn", tags={"team": "growth"}, description="Predicts churn")
    with pytest.raises(mlflow.exceptions.MlflowException) as exc:
        client.create_registered_model("churn")
    assert exc.value.error_code == "RESOURCE_ALREADY_EXISTS"
    client.create_model_version("churn", f"runs:/{first}/model", run_id=first)
    client.create_model_version("churn", f"runs:/{second}/model", run_id=second)
    client.update_registered_model("churn", description="Who cancels next month")
    client.update_model_version("churn", "2", description="C=10")
    client.set_registered_model_tag("churn", "owner", "ada")
    client.set_model_version_tag("churn", "2", "validation", "passed")
    client.delete_model_version_tag("churn", "2", "validation")
    client.set_model_version_tag("churn", "1", "validation", "passed")

    rm = client.get_registered_model("churn")
    assert rm.description == "Who cancels next month" and rm.tags == {"team": "growth", "owner": "ada"}
    found = client.search_model_versions("name = 'churn' and tags.validation = 'passed'")
    assert [v.version for v in found] == ["1"]
    models = client.search_registered_models("name LIKE 'ch%'")
    assert [m.name for m in models] == ["churn"]
    assert client.get_model_version("churn", "2").description == "C=10"

    client.delete_model_version("churn", "1")
    with pytest.raises(mlflow.exceptions.MlflowException) as exc:
        client.get_model_version("churn", "1")
    assert exc.value.error_code == "RESOURCE_DOES_NOT_EXIST"
    shown = json.loads(reg(registry, "show", "churn/1", "--json").stdout)
    assert shown["deleted"] is True  # a tombstone, as reg keeps them
    with pytest.raises(mlflow.exceptions.MlflowException, match="does not rename"):
        client.rename_registered_model("churn", "churn2")
    client.set_registered_model_alias("churn", "champion", "2")
    client.set_registered_model_alias("churn", "champion", "2")  # idempotent, as in MLflow: no second commit
    client.delete_registered_model_alias("churn", "champion")
    subjects = _subjects(registry)
    assert subjects.count("reg: alias churn v2 as champion") == 1
    assert reg(registry, "check").exit_code == 0


def test_gate_refusal_is_an_mlflow_exception_with_regs_message(registry, tracking, client):
    (registry / "models").mkdir(exist_ok=True)
    first, _ = tracking["runs"]
    mlflow.register_model(f"runs:/{first}/model", "churn")
    card = registry / "models/churn/model.yaml"
    card.write_text(card.read_text() + "gates:\n  production:\n    metrics:\n      roc_auc: '>= 0.9'\n")
    git(registry, "commit", "-qam", "gate production on roc_auc")
    before = _subjects(registry)
    with pytest.raises(mlflow.exceptions.MlflowException) as exc:
        MlflowClient = mlflow.MlflowClient
        MlflowClient().transition_model_version_stage("churn", "1", "Production")
    assert "roc_auc" in str(exc.value) and "0.81" in str(exc.value)
    assert _subjects(registry) == before


def test_default_install_does_not_import_mlflow(registry):
    import sys

    code = ("import sys, registry, cli.main; from registry import Registry; "
            f"Registry({str(registry)!r}).state().models(); print('mlflow' in sys.modules)")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "False"


def test_import_an_mlflow_registry_with_its_history(registry, tracking, reg, monkeypatch):
    """Three versions in MLflow's own registry (SQLite), stage history and an alias, moved over in one
    command; running it again adds only what is new."""
    import time

    from mlflow import MlflowClient

    first, second = tracking["runs"]
    ml = MlflowClient(tracking_uri=tracking["uri"], registry_uri=tracking["uri"])
    ml.create_registered_model("fraud", tags={"team": "risk"}, description="Flags fraud")
    for run in (first, second, first):
        ml.create_model_version("fraud", f"runs:/{run}/model", run_id=run)
        time.sleep(1.1)  # distinct MLflow timestamps, so the replayed order is theirs
    ml.transition_model_version_stage("fraud", "1", "Production")
    time.sleep(1.1)
    ml.transition_model_version_stage("fraud", "2", "Production", archive_existing_versions=True)
    ml.transition_model_version_stage("fraud", "3", "Staging")
    ml.set_registered_model_alias("fraud", "champion", "2")

    out = reg(registry, "import", "mlflow", "--tracking-uri", tracking["uri"], "--model", "fraud")
    assert out.exit_code == 0, out.output
    shown = {v["version"]: v for v in json.loads(reg(registry, "show", "fraud", "--json").stdout)}
    assert {n: v["stage"] for n, v in shown.items()} == {1: "archived", 2: "production", 3: "staging"}
    assert shown[2]["aliases"] == ["champion"] and shown[2]["lineage"]["run_id"] == second
    assert shown[2]["metrics"]["roc_auc"] == 0.93
    card = json.loads(reg(registry, "list", "--json").stdout)[0]
    assert card["description"] == "Flags fraud"

    mv1 = ml.get_model_version("fraud", "1")
    log = git(registry, "log", "--reverse", "--format=%at %s", "--", "models/fraud").splitlines()
    registered = [line for line in log if line.endswith("register fraud v1")][0]
    assert int(registered.split()[0]) == mv1.creation_timestamp // 1000  # MLflow's time, not now
    history = reg(registry, "history", "fraud", "--json")
    actions = [e["action"] for e in json.loads(history.stdout)]
    assert actions.count("register") == 3 and "alias" in actions
    assert reg(registry, "check").exit_code == 0

    again = reg(registry, "import", "mlflow", "--tracking-uri", tracking["uri"], "--model", "fraud")
    assert again.exit_code == 0 and "0 change(s)" in again.stdout
    ml.create_model_version("fraud", f"runs:/{second}/model", run_id=second)
    ml.set_registered_model_alias("fraud", "champion", "4")
    more = reg(registry, "import", "mlflow", "--tracking-uri", tracking["uri"], "--model", "fraud", "--json")
    assert json.loads(more.stdout)["done"] == ["registered fraud v4", "fraud@champion -> v4"]


def test_import_draws_no_progress_bars_off_a_terminal(registry, tracking, reg):
    """MLflow's download bars went to a log or CI output as lines of carriage returns; off a terminal, none."""
    from mlflow import MlflowClient

    ml = MlflowClient(tracking_uri=tracking["uri"], registry_uri=tracking["uri"])
    ml.create_model_version(ml.create_registered_model("quiet").name, f"runs:/{tracking['runs'][0]}/model",
                            run_id=tracking["runs"][0])
    out = reg(registry, "import", "mlflow", "--tracking-uri", tracking["uri"], "--model", "quiet")
    assert out.exit_code == 0, out.output
    assert out.stdout.splitlines() == ["created quiet", "registered quiet v1",
                                       "Imported from MLflow: 2 change(s), 0 already here"]
    assert out.stderr == ""
    assert "MLFLOW_ENABLE_ARTIFACTS_PROGRESS_BAR" not in os.environ  # set for the import only


def test_import_refuses_a_source_that_is_not_there_at_once(registry, reg, tmp_path, monkeypatch):
    """A mistyped database path used to be created empty (exit 0, nothing imported); a refused connection
    was retried for four minutes and ended in a traceback-sized line."""
    import socket
    import time

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]  # closed again: nothing listens there
    monkeypatch.chdir(tmp_path)
    before = snapshot(registry)
    cases = [("sqlite:///typo.db", "there is no MLflow database at typo.db (sqlite:///typo.db)"),
             (str(tmp_path / "mlruns"), f"there is no MLflow tracking folder at {tmp_path / 'mlruns'}"),
             (f"http://127.0.0.1:{port}", f"cannot reach MLflow at http://127.0.0.1:{port} (")]
    for uri, message in cases:
        started = time.monotonic()
        out = reg(registry, "import", "mlflow", "--tracking-uri", uri)
        assert out.exit_code == 1 and out.stderr.startswith(f"error: {message}"), out.output
        assert out.stderr.count("\n") == 1 and time.monotonic() - started < 20
    assert not (tmp_path / "typo.db").exists() and snapshot(registry) == before


def test_import_from_mlflows_file_store(registry, reg, tmp_path, monkeypatch):
    """MLflow 3 refuses its file store unless allowed, and its file registry opened a default client that
    left an empty ./mlflow.db in the folder the import ran from."""
    from mlflow import MlflowClient

    store = tmp_path / "mlruns"
    monkeypatch.setenv("MLFLOW_ALLOW_FILE_STORE", "true")
    ml = MlflowClient(tracking_uri=str(store), registry_uri=str(store))
    exp = ml.create_experiment("fs", artifact_location=str(tmp_path / "fs-artifacts"))
    run = ml.create_run(exp)
    ml.log_metric(run.info.run_id, "roc_auc", 0.9)
    (tmp_path / "weights").mkdir()
    (tmp_path / "weights" / "model.txt").write_text("weights\n")
    ml.log_artifacts(run.info.run_id, str(tmp_path / "weights"), "model")
    ml.create_registered_model("fsmodel")
    ml.create_model_version("fsmodel", f"runs:/{run.info.run_id}/model", run_id=run.info.run_id)
    monkeypatch.delenv("MLFLOW_ALLOW_FILE_STORE")
    monkeypatch.chdir(registry)
    tracking_before = os.environ.get("MLFLOW_TRACKING_URI")
    out = reg(registry, "import", "mlflow", "--tracking-uri", str(store))
    assert out.exit_code == 0, out.output
    assert out.stdout.splitlines()[-1] == "Imported from MLflow: 2 change(s), 0 already here"
    shown = json.loads(reg(registry, "show", "fsmodel/1", "--json").stdout)
    assert shown["metrics"] == {"roc_auc": 0.9}
    assert git(registry, "status", "--porcelain") == ""  # no stray mlflow.db
    assert "MLFLOW_ALLOW_FILE_STORE" not in os.environ  # set for the import only
    assert os.environ.get("MLFLOW_TRACKING_URI") == tracking_before


def test_mlflow_server_browses_a_reg_registry(registry, reg, artifact, tmp_path):
    """`mlflow server --registry-store-uri reg:///path` lists reg's models and versions (the MLflow UI's calls)."""
    import socket
    import sys
    import time
    import urllib.request
    from pathlib import Path

    assert reg(registry, "register", "churn", str(artifact), "--description", "first").exit_code == 0
    assert reg(registry, "promote", "churn", "1", "staging").exit_code == 0
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    exe = Path(sys.executable).parent / "mlflow"
    server = subprocess.Popen([str(exe), "server", "--backend-store-uri", f"sqlite:///{tmp_path}/ui.db",
                               "--registry-store-uri", f"reg://{registry}", "--host", "127.0.0.1", "--port", str(port),
                               "--workers", "1"], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                              start_new_session=True)
    base = f"http://127.0.0.1:{port}"

    def get(path):
        with urllib.request.urlopen(base + path, timeout=30) as resp:
            return resp.read().decode()

    try:
        deadline = time.monotonic() + 180
        while True:
            try:
                models = json.loads(get("/ajax-api/2.0/mlflow/registered-models/search?max_results=10"))
                break
            except OSError:
                assert server.poll() is None and time.monotonic() < deadline, "mlflow server did not start"
                time.sleep(1)
        assert [m["name"] for m in models["registered_models"]] == ["churn"]
        version = json.loads(get("/ajax-api/2.0/mlflow/model-versions/get?name=churn&version=1"))["model_version"]
        assert version["current_stage"] == "Staging" and version["description"] == "first"
        assert "<html" in get("/").lower()  # the UI itself is served
    finally:
        import os
        import signal

        os.killpg(server.pid, signal.SIGTERM)  # mlflow server runs uvicorn workers as children
        try:
            server.wait(timeout=15)
        except subprocess.TimeoutExpired:
            os.killpg(server.pid, signal.SIGKILL)
            server.wait(timeout=15)


def test_log_model_with_registered_model_name(registry, tracking, client, reg):
    """The one-call form most training scripts use: log and register in `log_model`."""
    import numpy as np
    from sklearn.linear_model import LogisticRegression

    X = tracking["X"]
    with mlflow.start_run(experiment_id=tracking["experiment"]):  # its artifacts in the test's folder
        mlflow.log_metric("roc_auc", 0.77)
        info = mlflow.sklearn.log_model(LogisticRegression().fit(X, X[:, 0] > 0.5), name="model",
                                        registered_model_name="tree")
    assert str(info.registered_model_version) == "1"
    shown = json.loads(reg(registry, "show", "tree/1", "--json").stdout)
    assert shown["metrics"] == {"roc_auc": 0.77} and shown["lineage"]["mlflow"]["model_id"] == info.model_id
    uri = client.get_model_version_download_uri("tree", "1")
    assert (registry / "models/tree/1/model/MLmodel").is_file() and uri.endswith("models/tree/1/model")
    loaded = mlflow.sklearn.load_model("models:/tree/latest")
    assert np.array_equal(loaded.predict(X[:3]), mlflow.sklearn.load_model(info.model_uri).predict(X[:3]))
