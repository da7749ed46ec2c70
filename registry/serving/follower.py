"""`Follower`: a model in a service that follows a ref, swapped by a background thread only once the new
version has loaded."""
from __future__ import annotations

import shutil
import tempfile
import threading
from pathlib import Path
from typing import Any, Callable

from .. import git
from ..errors import RegistryError
from ..manifest import ModelVersion
from ..serving_dir import ServingDir
from .syncer import Outcome, Syncer, check_ref, log


def load_version_folder(path: Path):
    """The default loader: reg's format loader on a version folder (manifest.yaml + model/), verified."""
    from ..loading import load_dir

    return load_dir(path)


class Follower:
    """A model that follows a ref: loaded at start, then kept at what `ref` names at the registry remote's
    head by a background thread, which swaps `.model` only once the new one has loaded.

        follower = Follower("churn/production", repo="/srv/registry", interval=30)
        follower.model.predict(df); follower.version; follower.close()

    `loader(path)` gets a verified version folder (manifest.yaml + model/) and returns the object to serve
    (default: `registry.loading.load_dir`). `to` keeps the version folders somewhere of your choosing (a
    `reg sync` folder layout, with status.json); by default a temporary folder removed at close().
    """

    def __init__(self, ref: str, repo: str | Path = ".", interval: float = 30.0,
                 loader: Callable[[Path], Any] | None = None, *, to: str | Path | None = None, keep: int = 3):
        self.ref = ref
        self.root = git.toplevel(Path(repo).resolve())
        check_ref(self.root, ref)
        self._tmp = Path(tempfile.mkdtemp(prefix="reg-follow-")) if to is None else None
        self._loader = loader or load_version_folder
        self._current: tuple[Any, ModelVersion] | None = None
        self._stop, self._wake = threading.Event(), threading.Event()
        self._lock_cm = None
        try:
            self.dir = ServingDir.open(Path(to) if to is not None else self._tmp, ref, registry_root=self.root)
            self._lock_cm = self.dir.locked()
            self._lock_cm.__enter__()
            self._syncer = Syncer(self.root, ref, self.dir, keep=keep, interval=interval,
                                  accept=lambda path, manifest: self._loader(path))
            self._start()
        except BaseException:
            self._release()
            raise
        self._thread = threading.Thread(target=self._run, name=f"reg-follow {ref}", daemon=True)
        self._thread.start()

    def _start(self) -> None:
        try:
            self._take(self._syncer.sync(forced=True, reload=True))
        except RegistryError as exc:
            name = self.dir.current()
            if name is None:
                raise
            # The registry is unreachable at start, but this folder served a version before: serve it.
            from ..loading import read_manifest_file

            folder = self.dir.folder(name)
            self._current = (self._loader(folder), read_manifest_file(folder / "manifest.yaml"))
            log.warning("serving the kept %s: %s", name, exc)

    def _take(self, outcome: Outcome) -> None:
        if outcome.changed and outcome.manifest is not None:
            self._current = (outcome.loaded, outcome.manifest)  # one assignment: model and version agree

    def _run(self) -> None:
        while not self._stop.is_set():
            woken = self._wake.wait(self._syncer.next_wait())
            self._wake.clear()
            if self._stop.is_set():
                break
            try:
                self._take(self._syncer.sync(forced=woken))
            except RegistryError:
                pass  # recorded in status.json and logged; the loaded model stays
            except Exception:  # a loader's own bug must not kill the thread and freeze the model forever
                log.exception("unexpected error while following %s; keeping v%s", self.ref, self.version)

    @property
    def model(self) -> Any:
        return self._current[0] if self._current else None

    @property
    def manifest(self) -> ModelVersion | None:
        return self._current[1] if self._current else None

    @property
    def version(self) -> int | None:
        return self._current[1].version if self._current else None

    @property
    def current(self) -> tuple[Any, ModelVersion]:
        """(model, manifest) read together: a swap between two attribute reads cannot mix them."""
        return self._current

    @property
    def status(self) -> dict:
        return self.dir.status()

    def refresh(self) -> None:
        """Check the registry now (a webhook's job), not at the next interval."""
        self._wake.set()

    def close(self) -> None:
        self._stop.set()
        self._wake.set()
        if getattr(self, "_thread", None) is not None and self._thread is not threading.current_thread():
            self._thread.join(timeout=120)
        self._release()

    def _release(self) -> None:
        if self._lock_cm is not None:
            self._lock_cm.__exit__(None, None, None)
            self._lock_cm = None
        if self._tmp is not None:
            shutil.rmtree(self._tmp, ignore_errors=True)
            self._tmp = None

    def __enter__(self) -> "Follower":
        return self

    def __exit__(self, *exc) -> None:
        self.close()
