"""Build a registry with many versions quickly, with the files and the git history `reg register` and
`reg promote` would leave: one commit per version (with reg's trailers) and its annotated `churn@vN` tag,
then the promotions to staging and production with their `churn#stage#N` tags. Everything goes through
one `git fast-import`, so 10,000 versions take seconds, not the hours real commands would. Artifacts are
not stored: the benchmarks measure the registry's own bookkeeping, which is what grows with versions.

    python -m benchmarks.synth DIR N
"""
from __future__ import annotations

import hashlib
import subprocess
import sys
from pathlib import Path

from registry import artifacts, yamlio
from registry.manifest import ModelVersion
from registry.settings import DEFAULT_TEXT

T0 = 1_793_000_000  # 2026-10-26, one second per event
WHO = "Bench <bench@example.com>"


def git(root: Path, *args: str, input: bytes | None = None) -> str:
    return subprocess.run(["git", *args], cwd=root, check=True, capture_output=True, input=input).stdout.decode()


class _Stream:
    """Writes a git fast-import stream: commits on main with inline files, and annotated tags."""

    def __init__(self):
        self.parts: list[bytes] = []
        self.mark = 0
        self.t = T0

    def _data(self, text: str) -> None:
        raw = text.encode()
        self.parts.append(b"data %d\n" % len(raw) + raw + b"\n")

    def commit(self, message: str, files: dict[str, str]) -> int:
        self.mark += 1
        self.t += 1
        self.parts.append(f"commit refs/heads/main\nmark :{self.mark}\ncommitter {WHO} {self.t} +0000\n".encode())
        self._data(message)
        for path, text in files.items():
            self.parts.append(f"M 100644 inline {path}\n".encode())
            self._data(text)
        return self.mark

    def tag(self, name: str, mark: int, message: str) -> None:
        self.parts.append(f"tag {name}\nfrom :{mark}\ntagger {WHO} {self.t} +0000\n".encode())
        self._data(message)

    def bytes(self) -> bytes:
        return b"".join(self.parts) + b"done\n"


def _message(subject: str, **trailers) -> str:
    return subject + "\n\n" + "".join(f"Reg-{k.replace('_', '-').title()}: {v}\n" for k, v in trailers.items())


def build(root: Path, versions: int, model: str = "churn", remote: str | None = None) -> Path:
    """`remote` is the DVC remote's folder (default: `<root>-storage` beside the registry)."""
    root = Path(root)
    remote = remote or f"{root.resolve()}-storage"
    root.mkdir(parents=True, exist_ok=True)
    git(root, "init", "-q", "-b", "main")
    git(root, "config", "user.name", "Bench")
    git(root, "config", "user.email", "bench@example.com")
    s = _Stream()
    s.commit("reg: init registry\n\nReg-Action: init\n", {
        ".dvc/config": f"[core]\n    remote = reg\n['remote \"reg\"']\n    url = {remote}\n",
        ".dvc/.gitignore": "/config.local\n/tmp\n/cache\n",
        ".dvcignore": "",
        "models/registry.yaml": DEFAULT_TEXT.format(remote="reg"),
    })
    production, staging = max(1, versions // 2), max(1, versions - 1)
    md5s = {}
    for n in range(1, versions + 1):
        md5 = md5s[n] = hashlib.md5(f"{model}{n}".encode()).hexdigest() + ".dir"
        stage = "production" if n == production else ("staging" if n == staging else "archived")
        mv = ModelVersion(model=model, version=n, stage=stage, created_at="2026-11-01T00:00:00Z",
                          created_by=WHO,
                          artifact={"path": "model", "md5": md5, "size": 1000, "files": 2, "format": "lightgbm"},
                          lineage={"git_sha": "0" * 40, "git_dirty": False, "params": {"lr": 0.05}},
                          metrics={"roc_auc": 0.8 + n / (versions * 10), "f1": 0.7})
        d = f"models/{model}/{n}"
        files = {f"{d}/manifest.yaml": yamlio.dump(mv.to_dict()) if n <= 1 else _fast_dump(mv),
                 f"{d}/model.dvc": artifacts.pointer_text(md5, 1000, 2, "model"),
                 f"{d}/.gitignore": "/model\n"}
        if n == 1:
            files[f"models/{model}/model.yaml"] = f"name: {model}\ndescription: ''\nowners: []\ntags: {{}}\n"
        mark = s.commit(_message(f"reg: register {model} v{n}", action="register", model=model, version=n,
                                 to="none"), files)
        s.tag(f"{model}@v{n}", mark, f"Register {model} v{n}")
    for i, (stage, n) in enumerate([("staging", staging), ("production", production)], start=1):
        files = {f"models/{model}/{stage}.dvc": artifacts.pointer_text(md5s[n], 1000, 2, stage, model=model,
                                                                       version=n)}
        if i == 2:
            files[f"models/{model}/.gitignore"] = "/production\n/staging\n"
        subject = f"reg: promote {model} v{n} to {stage}"
        mark = s.commit(_message(subject, action="promote", model=model, version=n, **{"from": "none"}, to=stage,
                                 reason="(none given)"), files)
        s.tag(f"{model}#{stage}#{i}", mark, subject[5:])
    git(root, "fast-import", "--quiet", "--done", input=s.bytes())
    git(root, "reset", "-q", "--hard", "main")
    git(root, "pack-refs", "--all")  # as after a clone or gc; thousands of loose tag refs would be atypical
    return root


def _fast_dump(mv: ModelVersion) -> str:
    import yaml

    return yaml.dump(mv.to_dict(), Dumper=getattr(yaml, "CSafeDumper", yaml.SafeDumper), sort_keys=False)


if __name__ == "__main__":
    build(Path(sys.argv[1]), int(sys.argv[2]))
