"""What may be registered: regular files and folders, nothing else.

Copying follows links, so a link in an artifact folder registered (and pushed) whatever it named:
`/etc/passwd`, or through a link to `..` the whole disk. A FIFO or a device (`/dev/zero`) makes the copy
never end. So the folder is walked first, without following anything, and the first such entry refuses
the registration before a byte is copied.
"""
from __future__ import annotations

import os
import stat
from pathlib import Path

from .errors import HostileContent

KINDS = ((stat.S_ISFIFO, "a FIFO"), (stat.S_ISSOCK, "a socket"), (stat.S_ISCHR, "a character device"),
         (stat.S_ISBLK, "a block device"))


def plain_files(path: str | Path) -> list[str]:
    """The relative paths of the regular files under `path` (or `path` itself, a regular file); refuse a
    symlink, FIFO, socket or device anywhere in it, naming it."""
    path = Path(path)
    st = os.stat(path)  # the path the user gave may itself be a link: it names what they mean to register
    if not stat.S_ISDIR(st.st_mode):
        _refuse_special(path, st.st_mode, path)
        return [path.name]
    found, todo = [], [path]
    while todo:
        folder = todo.pop()
        with os.scandir(folder) as entries:
            for entry in entries:
                st = entry.stat(follow_symlinks=False)
                if stat.S_ISLNK(st.st_mode):
                    target = os.readlink(entry.path)
                    raise HostileContent(f"{entry.path} is a symbolic link (to {target}); an artifact holds only "
                                         "regular files: copy what it points to into the folder, or remove it")
                if stat.S_ISDIR(st.st_mode):
                    todo.append(Path(entry.path))
                    continue
                _refuse_special(Path(entry.path), st.st_mode, path)
                found.append(os.path.relpath(entry.path, path).replace(os.sep, "/"))
    return sorted(found)


def _refuse_special(path: Path, mode: int, given: Path) -> None:
    if stat.S_ISREG(mode):
        return
    kind = next((name for test, name in KINDS if test(mode)), "not a regular file")
    fix = ("register a regular file or a folder of files" if path == given
           else "an artifact holds only regular files: remove it from the folder")
    raise HostileContent(f"{path} is {kind}; {fix}")
