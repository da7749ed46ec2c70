"""`reg check`: the registry's invariants at a revision, and the rules every change since a base must keep.

The CLI, the CI template and the server's pre-receive hook all call `check`, so a rule holds however a
change was made: by `reg`, by a hand edit in a pull request, or by a push from an old client. The rules
themselves are `registry.rules`, the same functions the operations build changes with.

    tree.py      invariants at one revision
    commits.py   the rules each commit since a base keeps (immutable fields, numbering, gated moves)
    ends.py      the two ends of a range compared; the metrics comparison a review shows
    report.py    Report, Problem, Move
    formats.py   text, JSON and markdown
"""
from __future__ import annotations

from pathlib import Path

from .. import git
from ..errors import RegistryError
from ..parsecache import ParseCache
from .commits import Range, check_range
from .ends import compare_ends, comparisons
from .formats import format_markdown, format_text, to_json
from .report import Move, Problem, Report
from .tree import check_tree


def check(root: Path, head: str = "HEAD", base: str | None = None, *, exclude_all: bool = False,
          strict_base: bool = False) -> Report:
    """Invariants at `head`, and, with `base` (or `exclude_all`: every commit no ref has yet, as a server
    hook sees a pushed branch), the rules every commit since must keep. `strict_base` (the hook's old tip)
    also refuses a head that dropped versions `base` had, as a force push does; otherwise the ends
    compared are the merge base and head, so a branch behind its base is not blamed for newer versions."""
    root = Path(root)
    head_sha = _commit(root, head)
    base_sha = _commit(root, base) if base is not None else None  # --base '' is an error, not "no base"
    report = Report(head=head_sha, base=base_sha)
    cache = ParseCache(root)
    report.problems += check_tree(root, head_sha, cache)
    if base_sha or exclude_all:
        rng = check_range(root, head_sha, base_sha, report, exclude_all=exclude_all, cache=cache)
        if base_sha:
            before = base_sha if strict_base else git.merge_base(root, base_sha, head_sha)
            if before:
                compare_ends(rng, report, before, head_sha)
        comparisons(rng, report, head_sha, base_sha)
    cache.save()
    return report


def _commit(root: Path, rev: str) -> str:
    sha = git.rev_parse(root, rev)
    if sha is None:
        if rev == "HEAD":
            raise RegistryError("the repository has no commits yet, so there is nothing to check; run "
                                "`reg init` and commit first")
        raise RegistryError(f"unknown revision {rev!r}: give a commit, branch or tag that exists "
                            "(in CI, fetch the base branch first)")
    return sha


__all__ = ["check", "check_tree", "check_range", "compare_ends", "comparisons", "format_text", "format_markdown",
           "to_json", "Report", "Problem", "Move", "Range"]
