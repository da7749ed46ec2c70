"""`reg codeowners`: a CODEOWNERS file from the owners in each model.yaml, so that the forge (GitHub,
GitLab) requires an owner's review of any change under `models/<name>/`."""
from __future__ import annotations

from pathlib import Path

from .changes import Applied, ChangeSet, apply
from .errors import UsageError

HEADER = ("# Written by `reg codeowners` from the owners in models/*/model.yaml; edit those and run it again.\n"
          "# Lines below the END marker are kept as they are.\n")
END = "# END reg codeowners\n"
# The order GitHub looks in (it uses the first it finds); GitLab looks in the root, docs/, then .gitlab/.
LOCATIONS = (".github/CODEOWNERS", "CODEOWNERS", "docs/CODEOWNERS", ".gitlab/CODEOWNERS")


def default_path(root: Path) -> str:
    for rel in LOCATIONS:
        if (root / rel).is_file():
            return rel
    return ".github/CODEOWNERS"


def text(state, kept: str = "") -> str:
    lines, everyone = [], []
    for m in state.models():
        owners = [str(o) for o in (m.card.owners if m.card else []) if str(o).strip()]
        everyone += [o for o in owners if o not in everyone]
        if owners:
            lines.append(f"/models/{m.name}/ {' '.join(owners)}")
    if everyone:
        lines.insert(0, f"/models/registry.yaml {' '.join(everyone)}")
    return HEADER + "".join(line + "\n" for line in lines) + END + kept


def _render(root: Path, rel: str, state) -> tuple[str, str]:
    """(the file as it is, the file as it should be)."""
    path = root / rel
    current = path.read_text() if path.is_file() else ""
    kept = current.split(END, 1)[1] if END in current else ("" if not current else "\n" + current)
    new = text(state, kept)
    if not any(line.startswith("/models/") for line in new.splitlines()):
        raise UsageError("no model lists owners; add `owners: [you@example.com]` to models/<name>/model.yaml")
    return current, new


def write(root: Path, rel: str | None = None, push: bool | None = None) -> Applied | None:
    """Commit the CODEOWNERS file; None when it is already up to date (running it again is not an error)."""
    from .state import read_state

    root = Path(root)
    rel = rel or default_path(root)
    if rel.startswith("/") or ".." in Path(rel).parts or rel.startswith("models/"):
        raise UsageError(f"invalid CODEOWNERS path {rel!r}: give a path inside the repository, e.g. .github/CODEOWNERS")
    if (root / rel).is_dir():
        raise UsageError(f"{rel} is a folder; give the CODEOWNERS file itself, e.g. {rel.rstrip('/')}/CODEOWNERS")
    current, new = _render(root, rel, read_state(root))
    if new == current:
        return None

    def build(state) -> ChangeSet:
        current, new = _render(root, rel, state)
        cs = ChangeSet(subject=f"reg: write {rel} from model owners", trailers={"Reg-Action": "codeowners"})
        if new != current:
            cs.writes[rel] = new
        cs.result = rel
        return cs

    return apply(root, build, push=push, scope=("models", rel))
