"""Issue 3 and 12: the one-command demo, end to end, as `make demo` runs it (python -m demo): churn, then the
sales ensemble, in a scratch copy of the checkout that never changes the checkout itself."""
from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

ROOT = Path(__file__).resolve().parent.parent


@pytest.mark.slow
def _checkout_state() -> str:
    """Changed and new files of the checkout's registry repository parts (pipeline outputs, dvc.lock and .dvc/
    are not git-ignored there, so they would show); other tests' leftovers elsewhere are not the demo's."""
    return subprocess.run(["git", "status", "--porcelain", "--untracked-files=all", "--", "dvc.yaml", "dvc.lock",
                           "params.yaml", "pipelines", "models", ".dvc", ".dvcignore", ".gitignore"], cwd=ROOT,
                          capture_output=True, text=True).stdout


@pytest.mark.slow
def test_demo_runs_the_whole_lifecycle(isolated_env):
    env = dict(os.environ, PYTHONPATH=str(ROOT))
    before = _checkout_state()
    proc = subprocess.run([sys.executable, "-m", "demo"], cwd=str(ROOT), env=env, capture_output=True, text=True,
                          timeout=600)
    out = proc.stdout
    assert proc.returncode == 0, out + proc.stderr
    found = re.search(r"The scratch registry is in (\S+)", out)
    assert found, out
    scratch = Path(found.group(1))
    try:
        assert scratch.is_dir() and (scratch / "models/churn/model.yaml").is_file()
        # each step's real command is printed, then its real output
        for command in ("$ reg init", "$ cat models/churn/model.yaml", "$ dvc repro churn-evaluate",
                        "$ dvc params diff", "$ reg register churn --from-dvc churn-train", "$ reg validate churn 1",
                        "$ reg validate churn 2", "$ reg promote churn 2 production --reason",
                        "$ reg compare churn 1 2", "$ dvc repro sales-evaluate",
                        "$ reg register sales --from-dvc sales-train", "$ reg validate sales 1",
                        "$ reg predict sales/staging --input next_week.csv --output sales_forecast.csv"):
            assert command in out, command
        assert out.index("$ reg rollback churn") < out.index("$ dvc repro sales-evaluate")  # sales after churn
        assert "Promoted churn v1 to staging" in out and "Promoted churn v2 to production" in out
        assert re.search(r"churn\.train\.num_leaves\s+31\s+7", out)
        assert re.search(r"v1\s+archived", out)
        assert "Wrote 5 predictions (churn_probability) from churn v2 to predictions.csv" in out
        assert len((scratch / "predictions.csv").read_text().splitlines()) == 6
        assert "Rolled back churn production: v2 -> v1" in out
        assert re.search(r"rollback\s+churn\s+v1\s+archived\s+production", out)  # reg history (every model)
        # the sales ensemble: registered as an ensemble, validated on RMSPE into staging, forecast by stage
        sales = yaml.safe_load((scratch / "models/sales/1/manifest.yaml").read_text())
        assert sales["artifact"]["format"] == "ensemble" and sales["stage"] == "staging"
        assert sales["validations"][-1]["metrics"]["rmspe"] < 0.10
        assert "Promoted sales v1 to staging" in out
        assert "Wrote 7 predictions (predicted_sales) from sales v1 to sales_forecast.csv" in out
        forecast = (scratch / "sales_forecast.csv").read_text().splitlines()
        assert len(forecast) == 8 and forecast[0].endswith(",predicted_sales,model,model_version")
        log = subprocess.run(["git", "log", "--format=%s"], cwd=scratch, capture_output=True, text=True).stdout
        assert "reg: promote churn v2 to production" in log and "reg: register churn v2" in log
        # the artifacts went to the embedded default remote inside the scratch folder, not the user's
        assert (scratch.parent / "xdg-data" / "reg" / "storage").is_dir()
        assert not (isolated_env / "xdg-data" / "reg").exists()
        assert _checkout_state() == before, "the demo changed the checkout"
    finally:
        shutil.rmtree(scratch.parent, ignore_errors=True)


def test_a_failing_step_stops_the_demo_with_its_command(tmp_path, capsys):
    from demo.__main__ import Demo, StepFailed

    demo = Demo(tmp_path)
    demo.repo.mkdir()
    with pytest.raises(StepFailed) as err:
        demo.run("git", "log")  # not a git repository yet
    assert str(err.value) == "`git log` exited 128 (expected 0)"
    assert "$ git log" in capsys.readouterr().out


def test_a_failing_pipeline_exits_1_and_leaves_the_scratch_path(tmp_path, monkeypatch, capsys, isolated_env):
    import demo.__main__ as demo_main

    broken = tmp_path / "checkout"  # not a git checkout: the demo copies its registry parts as folders
    (broken / "models/churn").mkdir(parents=True)
    (broken / "models/churn/model.yaml").write_text("name: churn\n")
    (broken / "dvc.yaml").write_text("stages:\n  churn-evaluate:\n    cmd: python -c 'raise SystemExit(4)'\n")
    (broken / "params.yaml").write_text("churn:\n  train:\n    num_leaves: 31\n")
    monkeypatch.setattr(demo_main, "SOURCE", broken)
    monkeypatch.setattr(demo_main.tempfile, "mkdtemp", lambda prefix: str(tmp_path / "scratch"))
    (tmp_path / "scratch").mkdir()
    assert demo_main.main() == 1
    out, err = capsys.readouterr()
    assert "$ dvc repro churn-evaluate" in out
    assert re.search(r"demo FAILED at step 2: `dvc repro churn-evaluate` exited [1-9][0-9]* \(expected 0\)", err)
    assert f"The scratch registry is left in {tmp_path / 'scratch' / 'registry'}" in err
