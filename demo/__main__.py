"""`make demo`: the registry's lifecycle in a scratch repository, each step's real command and output.

Everything happens in a new temporary folder (a git repository, a local DVC remote, XDG data inside
it), never in this checkout. Exits non-zero as soon as a step fails and prints where the scratch
registry is so you can look inside.
"""
from __future__ import annotations

import json
import os
import shlex
import subprocess
import sys
import tempfile
from pathlib import Path


def run(cwd: Path, *args: str, env: dict) -> str:
    shown = " ".join(shlex.quote(a) for a in args)
    print(f"\n$ {shown}", flush=True)
    cmd = [sys.executable, "-m", "cli", *args[1:]] if args[0] == "reg" else list(args)
    proc = subprocess.run(cmd, cwd=cwd, env=env, capture_output=True, text=True)
    out = (proc.stdout + proc.stderr).rstrip()
    if out:
        print(out, flush=True)
    if proc.returncode != 0:
        print(f"\ndemo failed at `{shown}` (exit {proc.returncode})", file=sys.stderr)
        sys.exit(1)
    return proc.stdout


def write_model(folder: Path, trees: int) -> None:
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "model.txt").write_text(f"a generated model with {trees} trees\n")


def main() -> None:
    scratch = Path(tempfile.mkdtemp(prefix="reg-demo-"))
    repo = scratch / "registry"
    repo.mkdir()
    env = {**os.environ, "XDG_DATA_HOME": str(scratch / "xdg-data"), "DVC_NO_ANALYTICS": "1",
           "GIT_AUTHOR_NAME": "Demo User", "GIT_AUTHOR_EMAIL": "demo@example.com",
           "GIT_COMMITTER_NAME": "Demo User", "GIT_COMMITTER_EMAIL": "demo@example.com",
           "PYTHONPATH": str(Path(__file__).resolve().parent.parent)}
    print(f"Scratch registry: {repo}")
    run(repo, "git", "init", "-q", "-b", "main", env=env)
    run(repo, "git", "commit", "-q", "--allow-empty", "-m", "start", env=env)
    run(repo, "reg", "init", env=env)

    work = scratch / "work"
    write_model(work / "v1", 100)
    (work / "m1.json").write_text(json.dumps({"roc_auc": 0.81, "f1": 0.62}))
    run(repo, "reg", "register", "churn", str(work / "v1"), "--metrics", str(work / "m1.json"),
        "--description", "first model", env=env)
    run(repo, "reg", "promote", "churn", "1", "production", "--reason", "baseline", env=env)

    write_model(work / "v2", 200)
    (work / "m2.json").write_text(json.dumps({"roc_auc": 0.84, "f1": 0.66}))
    run(repo, "reg", "register", "churn", str(work / "v2"), "--metrics", str(work / "m2.json"),
        "--description", "more trees", env=env)
    run(repo, "reg", "promote", "churn", "2", "staging", env=env)
    run(repo, "reg", "promote", "churn", "2", "production", "--reason", "better roc_auc", env=env)
    run(repo, "reg", "alias", "churn", "2", "champion", env=env)
    run(repo, "reg", "list", env=env)
    run(repo, "reg", "show", "churn", env=env)
    run(repo, "reg", "show", "churn/production", env=env)
    run(repo, "git", "log", "--oneline", env=env)
    print(f"\nDemo finished. Look inside the scratch registry: {repo}")


if __name__ == "__main__":
    main()
