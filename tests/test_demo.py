"""Issue 3: the one-command demo, end to end, as `make demo` runs it (python -m demo)."""
from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent


@pytest.mark.slow
def test_demo_runs_the_whole_lifecycle(isolated_env):
    env = dict(os.environ, PYTHONPATH=str(ROOT))
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
        for command in ("$ reg init", "$ dvc repro    (in pipelines/churn)", "$ dvc params diff",
                        "$ reg register churn --from-dvc train", "$ reg validate churn 1", "$ reg validate churn 2",
                        "$ reg promote churn 2 production --reason", "$ reg compare churn 1 2"):
            assert command in out, command
        assert "Promoted churn v1 to staging" in out and "Promoted churn v2 to production" in out
        assert re.search(r"train\.num_leaves\s+31\s+7", out)
        assert re.search(r"v1\s+archived", out)
        assert "Wrote 5 predictions (churn_probability) from churn v2 to predictions.csv" in out
        assert len((scratch / "predictions.csv").read_text().splitlines()) == 6
        assert "Rolled back churn production: v2 -> v1" in out
        assert re.search(r"rollback\s+v1\s+archived\s+production", out)  # reg history
        log = subprocess.run(["git", "log", "--format=%s"], cwd=scratch, capture_output=True, text=True).stdout
        assert "reg: promote churn v2 to production" in log and "reg: register churn v2" in log
        # the artifacts went to the embedded default remote inside the scratch folder, not the user's
        assert (scratch.parent / "xdg-data" / "reg" / "storage").is_dir()
        assert not (isolated_env / "xdg-data" / "reg").exists()
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

    broken = tmp_path / "churn"
    broken.mkdir()
    (broken / "dvc.yaml").write_text("stages:\n  prepare:\n    cmd: python -c 'raise SystemExit(4)'\n")
    (broken / "params.yaml").write_text("train:\n  num_leaves: 31\n")
    monkeypatch.setattr(demo_main, "SOURCE", broken)
    monkeypatch.setattr(demo_main.tempfile, "mkdtemp", lambda prefix: str(tmp_path / "scratch"))
    (tmp_path / "scratch").mkdir()
    assert demo_main.main() == 1
    out, err = capsys.readouterr()
    assert "$ dvc repro    (in pipelines/churn)" in out
    assert re.search(r"demo FAILED at step 2: `dvc repro` exited [1-9][0-9]* \(expected 0\)", err)
    assert f"The scratch registry is left in {tmp_path / 'scratch' / 'registry'}" in err
