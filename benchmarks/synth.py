"""Build a registry with many versions quickly, by writing the files `reg register` would write
(manifest, pointer, .gitignore) and committing them once. Artifacts are not stored: the benchmarks
measure the registry's own bookkeeping, which is what grows with the number of versions."""
from __future__ import annotations

import hashlib
import subprocess
import sys
from pathlib import Path

from registry import artifacts, yamlio
from registry.manifest import ModelVersion
from registry.settings import DEFAULT_TEXT


def git(root: Path, *args: str) -> str:
    return subprocess.run(["git", *args], cwd=root, check=True, capture_output=True, text=True).stdout


def build(root: Path, versions: int, model: str = "churn") -> Path:
    root.mkdir(parents=True, exist_ok=True)
    git(root, "init", "-q", "-b", "main")
    git(root, "config", "user.name", "Bench")
    git(root, "config", "user.email", "bench@example.com")
    (root / ".dvc").mkdir(exist_ok=True)
    (root / ".dvc/config").write_text("[core]\n    remote = reg\n['remote \"reg\"']\n    url = /tmp/nowhere\n")
    (root / "models").mkdir(exist_ok=True)
    (root / "models/registry.yaml").write_text(DEFAULT_TEXT.format(remote="reg"))
    (root / f"models/{model}").mkdir(exist_ok=True)
    (root / f"models/{model}/model.yaml").write_text(f"name: {model}\ndescription: ''\nowners: []\ntags: {{}}\n")
    for n in range(1, versions + 1):
        md5 = hashlib.md5(f"{model}{n}".encode()).hexdigest() + ".dir"
        stage = "production" if n == versions // 2 else ("staging" if n == versions - 1 else "archived")
        mv = ModelVersion(model=model, version=n, stage=stage, created_at="2026-11-01T00:00:00Z",
                          created_by="Bench <bench@example.com>",
                          artifact={"path": "model", "md5": md5, "size": 1000, "files": 2, "format": "lightgbm"},
                          lineage={"git_sha": "0" * 40, "git_dirty": False, "params": {"lr": 0.05}},
                          metrics={"roc_auc": 0.8 + n / (versions * 10), "f1": 0.7})
        d = root / f"models/{model}/{n}"
        d.mkdir(exist_ok=True)
        (d / "manifest.yaml").write_text(yamlio.dump(mv.to_dict()) if n <= 1 else _fast_dump(mv))
        (d / "model.dvc").write_text(artifacts.pointer_text(md5, 1000, 2, "model"))
        (d / ".gitignore").write_text("/model\n")
        if stage == "production":
            (root / f"models/{model}/production.dvc").write_text(artifacts.pointer_text(md5, 1000, 2, "production", model=model, version=n))
        if stage == "staging":
            (root / f"models/{model}/staging.dvc").write_text(artifacts.pointer_text(md5, 1000, 2, "staging", model=model, version=n))
    (root / f"models/{model}/.gitignore").write_text("/production\n/staging\n")
    git(root, "add", "-A")
    git(root, "commit", "-qm", f"synthetic registry with {versions} versions")
    return root


def _fast_dump(mv: ModelVersion) -> str:
    import yaml

    return yaml.safe_dump(mv.to_dict(), sort_keys=False)


if __name__ == "__main__":
    build(Path(sys.argv[1]), int(sys.argv[2]))
