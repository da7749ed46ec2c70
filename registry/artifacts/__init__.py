"""Everything DVC: init, remotes, hashing an artifact into the cache, pointer files, push and pull.

This is the one package that imports DVC, and only inside functions, so the read path never pays for it.
Register does not use `Repo.add` (it parses every .dvc file in the repository to look for overlapping
outputs, which grows with the number of versions); it hashes the folder into the cache with dvc-data,
writes the pointer itself, and pushes only that pointer.

    repo.py      opening the DVC repository quietly, `dvc init`, remotes
    cache.py     copying an artifact in and hashing it into the cache; what the cache holds; evicting damage
    hashing.py   file and folder content hashes without a cache; the pointer (.dvc) text
    remote.py    push, pull, push one object; what the remote holds; sending an artifact again
    formats.py   the format names and detecting one from the files
"""
from __future__ import annotations

from .cache import copy_in, evict_damaged, hash_into_cache, in_cache
from .formats import FORMATS, check_format, detect_format
from .hashing import content_md5, file_md5, pointer_text
from .remote import pull, push, push_object, remote_status, repush
from .repo import DEFAULT_REMOTE_NAME, add_remote, default_storage_dir, init, is_dvc_repo, open_repo, remotes

__all__ = ["copy_in", "evict_damaged", "hash_into_cache", "in_cache", "FORMATS", "check_format", "detect_format",
           "content_md5", "file_md5", "pointer_text", "pull", "push", "push_object", "remote_status", "repush",
           "DEFAULT_REMOTE_NAME", "add_remote", "default_storage_dir", "init", "is_dvc_repo", "open_repo", "remotes"]
