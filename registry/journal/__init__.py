"""What a mutation leaves behind when it is interrupted, and how the next command deals with it.

`changes.apply` holds the repository lock (`lock`) for the whole mutation and records what it is about to
do in `.git/reg/journal.json` before it touches the working tree: the commit it starts from, the files
and folders it writes, the tags, whether it pushes. A `kill -9`, a power cut or a full disk can stop it
anywhere; the next reg command (or `reg recover`) reads the record and either finishes the change (the
commit is on the branch: tags, index, push) or undoes it (it is not: files, folders, stray locks), and
says what it did in one line. No state ever needs cleaning by hand.

The lock is an flock: the kernel releases it when its holder dies, so a dead holder's lock is simply
taken; the file also names the holder (pid, command) for the message a waiting command gives.

    record.py    the record (`Entry`, save, load, clear), `reg_dir`, atomic writes, crash points for tests
    locking.py   `lock` and `try_lock`
    recovery.py  `recover`: finish or undo; `take_back`, `finish_local`, `fast_forward`
"""
from __future__ import annotations

from .locking import lock, lock_timeout, try_lock
from .recovery import (branch_head, clean_incoming, fast_forward, finish_local, recover, recover_if_idle,
                       remove_temp_files, restore_paths, take_back)
from .record import (INCOMING, JOURNAL, Entry, clear, crash_point, fsync_dir, load, pending, reg_dir, save,
                     write_atomic)

__all__ = ["lock", "lock_timeout", "try_lock", "branch_head", "clean_incoming", "fast_forward", "finish_local",
           "recover", "recover_if_idle", "remove_temp_files", "restore_paths", "take_back", "INCOMING", "JOURNAL",
           "Entry", "clear", "crash_point", "fsync_dir", "load", "pending", "reg_dir", "save", "write_atomic"]
