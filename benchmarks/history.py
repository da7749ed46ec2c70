"""`reg history` and `reg rollback` at thousands of versions: a registry whose every registration and
promotion is its own commit (with the trailers `reg` writes), built in seconds with `git fast-import`.

    python -m benchmarks.history /tmp/hist-bench 10000 2000
"""
from __future__ import annotations

import hashlib
import os
import subprocess
import sys
import time
from pathlib import Path

import yaml

from registry import artifacts
from registry.settings import DEFAULT_TEXT

WHO = "Bench <bench@example.com>"


def _manifest(model: str, n: int, stage: str) -> str:
    md5 = hashlib.md5(f"{model}{n}".encode()).hexdigest() + ".dir"
    return yaml.safe_dump({
        "schema": 1, "model": model, "version": n, "created_at": "2026-11-01T00:00:00Z", "created_by": WHO,
        "artifact": {"path": "model", "md5": md5, "size": 1000, "files": 2, "format": "lightgbm"},
        "lineage": {"git_sha": "0" * 40, "git_dirty": False}, "metrics": {"roc_auc": 0.8, "f1": 0.7},
        "stage": stage, "aliases": [], "description": "", "tags": {}}, sort_keys=False)


def build(root: Path, versions: int, promotions: int, model: str = "churn") -> Path:
    root.mkdir(parents=True, exist_ok=True)
    subprocess.run(["git", "init", "-q", "-b", "main"], cwd=root, check=True)
    out: list[bytes] = []
    mark = 0
    t = 1_780_000_000

    def commit(message: str, files: dict[str, str]) -> None:
        nonlocal mark, t
        mark += 1
        t += 60
        out.append(f"commit refs/heads/main\nmark :{mark}\n".encode())
        out.append(f"author {WHO} {t} +0000\ncommitter {WHO} {t} +0000\n".encode())
        data = message.encode()
        out.append(f"data {len(data)}\n".encode() + data + b"\n")
        if mark > 1:
            out.append(f"from :{mark - 1}\n".encode())
        for path, text in files.items():
            blob = text.encode()
            out.append(f"M 100644 inline {path}\ndata {len(blob)}\n".encode() + blob + b"\n")
        out.append(b"\n")

    commit("reg: init registry\n", {"models/registry.yaml": DEFAULT_TEXT.format(remote="reg"),
                                    f"models/{model}/model.yaml": f"name: {model}\ndescription: ''\n"})
    every = max(1, versions // max(promotions, 1))
    holder = None
    for n in range(1, versions + 1):
        md5 = hashlib.md5(f"{model}{n}".encode()).hexdigest() + ".dir"
        commit(f"reg: register {model} v{n}\n\nReg-Action: register\nReg-Model: {model}\nReg-Version: {n}\n"
               f"Reg-To: none\n", {f"models/{model}/{n}/manifest.yaml": _manifest(model, n, "none"),
                                   f"models/{model}/{n}/model.dvc": artifacts.pointer_text(md5, 1000, 2, "model")})
        if n % every == 0:
            files = {f"models/{model}/{n}/manifest.yaml": _manifest(model, n, "production"),
                     f"models/{model}/production.dvc": artifacts.pointer_text(md5, 1000, 2, "production",
                                                                              model=model, version=n)}
            archived = ""
            if holder:
                files[f"models/{model}/{holder}/manifest.yaml"] = _manifest(model, holder, "archived")
                archived = f"Reg-Archived: {holder}\n"
            commit(f"reg: promote {model} v{n} to production\n\nReason: retrained\n\nReg-Action: promote\n"
                   f"Reg-Model: {model}\nReg-Version: {n}\nReg-From: none\nReg-To: production\n{archived}"
                   f"Reg-Reason: retrained\n", files)
            holder = n
    subprocess.run(["git", "fast-import", "--quiet"], cwd=root, input=b"".join(out), check=True)
    subprocess.run(["git", "checkout", "-q", "-f", "main"], cwd=root, check=True)
    return root


def timed(root: Path, *args: str) -> float:
    env = {**os.environ, "PYTHONPATH": str(Path(__file__).resolve().parent.parent)}
    start = time.perf_counter()
    subprocess.run([sys.executable, "-m", "cli", "-C", str(root), *args], check=True, env=env,
                   stdout=subprocess.DEVNULL)
    return time.perf_counter() - start


if __name__ == "__main__":
    root = Path(sys.argv[1])
    versions, promotions = int(sys.argv[2]), int(sys.argv[3])
    start = time.perf_counter()
    build(root, versions, promotions)
    print(f"built {versions} versions, {promotions} promotions in {time.perf_counter() - start:.1f}s")
    for args in (["history", "churn"], ["history", "churn"], ["history", "churn", "--stage", "production"],
                 ["show", "churn/production", "--at", "2026-05-30T00:00"]):
        print(f"reg {' '.join(args)}: {timed(root, *args):.2f}s")
