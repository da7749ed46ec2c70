"""The one git layer: every git process the engine starts is started here, and each git output format
has one parser here (raw tree diffs, the log, `cat-file --batch`, `ls-tree`).

git is driven as a command, not through GitPython: the one thing GitPython would add is its persistent
`cat-file --batch` reader, which `BlobReader` is in fifty lines, and importing GitPython costs 50-90 ms,
a third of the read path's whole budget (`reg show` under 0.25 s as a process)."""
from __future__ import annotations

from .core import *  # noqa: F401,F403
from .guard import *  # noqa: F401,F403
from .objects import *  # noqa: F401,F403
from .revisions import *  # noqa: F401,F403
from .signatures import *  # noqa: F401,F403
from .writing import *  # noqa: F401,F403
