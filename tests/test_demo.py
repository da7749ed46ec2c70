"""`make demo` as a newcomer runs it: the whole story in a scratch registry, exit 0, path printed."""
import re
import subprocess
import sys
from pathlib import Path

from .conftest import git

ROOT = Path(__file__).resolve().parent.parent


def test_demo_runs_end_to_end_in_a_scratch_registry():
    proc = subprocess.run([sys.executable, "-m", "demo"], cwd=ROOT, capture_output=True, text=True, timeout=600)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    scratch = Path(re.search(r"Look inside the scratch registry: (\S+)", proc.stdout).group(1))
    assert scratch.is_dir() and not str(scratch).startswith(str(ROOT))
    assert "reg: promote churn v2 to production" in git(scratch, "log", "--format=%s")
    assert "$ reg promote churn 2 production" in proc.stdout
