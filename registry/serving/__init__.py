"""Serving hosts follow the registry: fetch, resolve a ref at the remote's head, pull and verify only that
version, swap it in atomically, keep the old one on any error.

`Syncer` is one follower of one ref into one serving folder (registry.serving_dir); `reg sync` runs it once
or in a loop (registry.watching), and `Follower` runs it in a background thread of a service and swaps the
loaded model object. Nothing here prints: events go to the `registry.serving` logger, one line each.

The host's clone only ever fast-forwards to the remote's head, and only when a version must be pulled; a
clone with commits of its own is refused rather than merged.

    syncer.py    `Syncer`, `Outcome`, `sync` (`reg sync` once), `check_ref`
    follower.py  `Follower`, the in-process follower a service uses
"""
from __future__ import annotations

from .follower import Follower, load_version_folder
from .syncer import MAX_BACKOFF, Outcome, SwapRejected, Syncer, check_ref, fetch_env, served, sync

__all__ = ["Follower", "load_version_folder", "MAX_BACKOFF", "Outcome", "SwapRejected", "Syncer", "check_ref",
           "fetch_env", "served", "sync"]
