"""What `reg check` found: problems, warnings, the stage moves it judged, and the versions it saw added."""
from __future__ import annotations

from dataclasses import dataclass, field

from .. import policy


@dataclass
class Problem:
    where: str
    message: str
    commit: str | None = None

    def __str__(self) -> str:
        return f"{self.where}: {self.message}"


@dataclass
class Move:
    model: str
    version: int
    from_stage: str
    to_stage: str
    commit: str
    author: str
    reason: str | None
    checks: list[policy.Check] = field(default_factory=list)
    forced: bool = False


@dataclass
class Report:
    head: str
    base: str | None = None
    commits: int = 0
    problems: list[Problem] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)
    moves: list[Move] = field(default_factory=list)
    new_versions: list[tuple[str, int]] = field(default_factory=list)
    # model -> {"candidates": [ModelVersion at head], "current": ModelVersion at base or None, "stage": str}
    comparisons: dict = field(default_factory=dict)

    @property
    def ok(self) -> bool:
        return not self.problems


def problem(where: str, exc: Exception, commit: str | None = None) -> Problem:
    """A Problem from an error whose message starts with the file it names (not repeated after `where`)."""
    text = str(exc)
    return Problem(where, text.removeprefix(where).lstrip(": ") or text, commit)
