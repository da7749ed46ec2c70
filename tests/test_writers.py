"""Issue 11: many writers and hard crashes, with real processes, real bare remotes and real DVC.

A reg process is killed with SIGKILL (what `kill -9` sends) at each step of a change: REG_CRASH_AT names
the step, so every step is hit, not just the ones a random timer happens to land on (a random-timer test
is here too). After each kill the next command finishes or undoes the change, says so in one line, and
`reg check` passes with nothing to clean by hand.
"""
from __future__ import annotations

import json
import os
import random
import subprocess
import sys
import time
from pathlib import Path

import pytest
import yaml

from .conftest import git, init_registry, new_project
from .servers import bare_remote, make_clone

ROOT = Path(__file__).resolve().parents[1]
LOCAL_STEPS = ["journaled", "files", "commit-object", "ref", "index", "tags"]
UNDONE = {"journaled", "files", "commit-object"}  # the branch never moved: the change is taken back


def reg_proc(root: Path, *args: str, crash: str | None = None, extra_env: dict | None = None,
             timeout: float = 180) -> subprocess.CompletedProcess:
    env = {**os.environ, "PYTHONPATH": str(ROOT), **(extra_env or {})}
    env.pop("REG_CRASH_AT", None)
    if crash:
        env["REG_CRASH_AT"] = crash
    return subprocess.run([sys.executable, "-m", "cli", "-C", str(root), *args], capture_output=True, text=True,
                          env=env, timeout=timeout)


def _ok(proc: subprocess.CompletedProcess) -> subprocess.CompletedProcess:
    assert proc.returncode == 0, proc.stderr + proc.stdout
    return proc


def _consistent(root: Path, reg) -> None:
    result = reg(root, "check")
    assert result.exit_code == 0, result.output
    assert git(root, "status", "--porcelain", "--untracked-files=all") == ""
    assert not (root / ".git/reg/journal.json").exists()
    assert not list((root / ".git").glob("**/*.lock"))


def _artifact(folder: Path, salt: str) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "model.txt").write_text(f"tree\nsalt={salt}\n")
    return folder


@pytest.mark.slow
def test_kill_at_every_step_of_register_promote_and_rollback(tmp_path, registry, reg, artifact):
    bare = bare_remote(registry, tmp_path / "origin.git")
    for i in range(2):
        assert reg(registry, "register", "churn", str(_artifact(tmp_path / f"a{i}", str(i)))).exit_code == 0
    assert reg(registry, "promote", "churn", "1", "production").exit_code == 0
    assert reg(registry, "promote", "churn", "2", "production").exit_code == 0
    assert reg(registry, "register", "fraud", str(_artifact(tmp_path / "f", "f"))).exit_code == 0
    n = 2
    stage = iter(["staging", "archived"] * 10)
    for step in LOCAL_STEPS:
        # Every step for register (the longest change); three for promote and rollback (kept short: each
        # kill is a whole process start).
        for op in ("register", "promote", "rollback") if step in ("files", "ref", "tags") else ("register",):
            if op == "register":
                args = ["register", "churn", str(_artifact(tmp_path / f"k-{step}", step))]
            elif op == "promote":
                args = ["promote", "fraud", "1", next(stage)]
            else:
                serving = json.loads(reg(registry, "show", "churn/production", "--json").stdout)["version"]
                args = ["rollback", "churn", "--to", str(3 - serving), "--reason", f"kill at {step}"]
            head = git(registry, "rev-parse", "HEAD")
            killed = reg_proc(registry, *args, crash=step)
            assert killed.returncode == -9, (op, step, killed.stderr)
            after = _ok(reg_proc(registry, "list"))  # any next command deals with it first
            line = [ln for ln in after.stderr.splitlines() if ln.startswith("reg recover:")]
            assert len(line) == 1, (op, step, after.stderr)
            made = git(registry, "rev-parse", "HEAD") != head
            assert made == (step not in UNDONE), (op, step, line)
            assert ("undid" in line[0]) == (step in UNDONE), line
            _consistent(registry, reg)
            if not made:  # the same command now simply works
                _ok(reg_proc(registry, *args))
                _consistent(registry, reg)
            if op == "register":
                n += 1
                assert (registry / f"models/churn/{n}/model/model.txt").read_text() == f"tree\nsalt={step}\n"
                assert f"churn@v{n}" in git(registry, "tag", "-l")
    # Killed after the artifact was staged and pushed, before the change began: nothing to undo; the next
    # command removes the staged copy.
    killed = reg_proc(registry, "register", "churn", str(_artifact(tmp_path / "s", "s")), crash="staged")
    assert killed.returncode == -9 and any((registry / ".git/reg/incoming").iterdir())
    _ok(reg_proc(registry, "register", "churn", str(_artifact(tmp_path / "s", "s"))))
    _consistent(registry, reg)
    assert not any((registry / ".git/reg/incoming").iterdir())
    # Killed mid-push: the next command pushes what was committed (or takes it back if the remote moved on).
    for step in ("pushing", "pushed"):
        killed = reg_proc(registry, "register", "churn", str(_artifact(tmp_path / f"p-{step}", step)), "--push",
                          crash=step)
        assert killed.returncode == -9
        done = _ok(reg_proc(registry, "recover"))
        assert "pushed" in done.stdout or "already has it" in done.stdout, done.stdout
        _consistent(registry, reg)
        assert git(bare, "rev-parse", "main") == git(registry, "rev-parse", "HEAD")
    assert "nothing to recover" in _ok(reg_proc(registry, "recover")).stdout


@pytest.mark.slow
def test_kill_mid_push_after_the_remote_moved_on_takes_the_change_back(tmp_path, registry, reg, artifact):
    bare = bare_remote(registry, tmp_path / "origin.git")
    assert reg(registry, "register", "churn", str(artifact), "--push").exit_code == 0
    killed = reg_proc(registry, "promote", "churn", "1", "staging", "--push", crash="pushing")
    assert killed.returncode == -9
    other = make_clone(bare, tmp_path / "colleague")
    assert reg(other, "promote", "churn", "1", "production", "--push").exit_code == 0
    done = _ok(reg_proc(registry, "recover"))
    assert "undid" in done.stdout and "not made" in done.stdout
    _consistent(registry, reg)
    assert git(registry, "rev-parse", "HEAD") == git(bare, "rev-parse", "main")  # at the remote's head, not diverged
    assert "churn#staging#" not in git(registry, "tag", "-l")


@pytest.mark.slow
def test_kill_at_random_moments_of_register(tmp_path, registry, reg):
    rng = random.Random(11)
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    env.pop("REG_CRASH_AT", None)
    for trial in range(6):
        art = _artifact(tmp_path / f"r{trial}", f"r{trial}")
        (art / "weights.bin").write_bytes(os.urandom(3 << 20))  # enough bytes that copying and hashing take a while
        proc = subprocess.Popen([sys.executable, "-m", "cli", "-C", str(registry), "register", "churn", str(art)],
                                stdout=subprocess.PIPE, stderr=subprocess.PIPE, env=env)
        time.sleep(rng.uniform(0.3, 2.0))
        proc.kill()
        proc.communicate()
        _ok(reg_proc(registry, "register", "churn", str(art)))
        _consistent(registry, reg)
    versions = json.loads(reg(registry, "show", "churn", "--json").stdout)
    numbers = [v["version"] for v in versions]
    assert numbers == list(range(1, len(numbers) + 1)) and len(numbers) >= 6


@pytest.mark.slow
def test_concurrent_writers_over_several_clones_all_land(tmp_path, registry, reg):
    bare = bare_remote(registry, tmp_path / "origin.git")
    clones = [make_clone(bare, tmp_path / f"clone{c}") for c in range(3)]
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    env.pop("REG_CRASH_AT", None)
    writers, each = 6, 2
    script = ("import subprocess, sys\n"
              "root, w, each, art = sys.argv[1], sys.argv[2], int(sys.argv[3]), sys.argv[4]\n"
              "import pathlib\n"
              "for i in range(each):\n"
              "    a = pathlib.Path(art) / f'{w}-{i}'\n"
              "    a.mkdir(parents=True)\n"
              "    (a / 'model.txt').write_text(f'tree\\nwriter={w} run={i}\\n')\n"
              "    p = subprocess.run([sys.executable, '-m', 'cli', '-C', root, 'register', 'churn', str(a), '--push',\n"
              "                        '--description', f'w{w} r{i}'], capture_output=True, text=True)\n"
              "    print(p.returncode, p.stdout.strip(), p.stderr.strip(), flush=True)\n")
    procs = [subprocess.Popen([sys.executable, "-c", script, str(clones[w % len(clones)]), str(w), str(each),
                               str(tmp_path / "arts")], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                              env=env) for w in range(writers)]
    outputs = [p.communicate(timeout=600)[0] for p in procs]
    results = [line.split(" ", 1) for out in outputs for line in out.splitlines() if line.strip()]
    assert len(results) == writers * each
    assert [r for r in results if r[0] != "0"] == []
    total = writers * each
    tree = git(bare, "ls-tree", "-r", "--name-only", "main", "models/churn").split()
    numbers = sorted(int(p.split("/")[2]) for p in tree if p.endswith("/manifest.yaml"))
    assert numbers == list(range(1, total + 1))  # unique and dense
    descriptions = sorted(yaml.safe_load(git(bare, "show", f"main:models/churn/{n}/manifest.yaml"))["description"]
                          for n in numbers)
    assert descriptions == sorted(f"w{w} r{i}" for w in range(writers) for i in range(each))
    assert set(git(bare, "tag", "-l").split()) == {f"churn@v{n}" for n in numbers}
    for clone in clones:  # no clone is left diverged or dirty
        git(clone, "fetch", "-q", "origin")
        assert git(clone, "merge-base", "--is-ancestor", "HEAD", "origin/main", check=False) == ""
        assert git(clone, "status", "--porcelain") == ""
        assert not (clone / ".git/reg/journal.json").exists()


def test_giving_up_leaves_the_clone_at_the_remotes_head(tmp_path, registry, reg, artifact):
    """A push still rejected when push_timeout runs out: the change is taken back, the clone is exactly
    the remote's head, and the message says the change was not made."""
    bare = bare_remote(registry, tmp_path / "origin.git")
    other = make_clone(bare, tmp_path / "colleague")
    # Another artifact: the same one registered in the same second by the same person is the same commit.
    assert reg(other, "register", "churn", str(_artifact(tmp_path / "theirs", "theirs")), "--push").exit_code == 0
    # This clone has not fetched since: its push is rejected, and with no time left to retry it gives up.
    os.environ["REG_PUSH_TIMEOUT"] = "0"
    try:
        result = reg(registry, "register", "churn", str(artifact), "--push")
    finally:
        del os.environ["REG_PUSH_TIMEOUT"]
    assert result.exit_code == 1
    assert "not made" in result.stderr
    assert git(registry, "rev-parse", "HEAD") == git(bare, "rev-parse", "main")
    assert git(registry, "status", "--porcelain", "--untracked-files=all") == ""
    assert not (registry / "models/churn/2").exists()


def test_a_live_lock_holder_is_named_and_a_dead_ones_lock_is_taken(tmp_path, registry, reg, artifact):
    holder = subprocess.Popen([sys.executable, "-c",
                               "import fcntl, os, sys, time\n"
                               "fh = open(sys.argv[1], 'a+'); fcntl.flock(fh, fcntl.LOCK_EX)\n"
                               "fh.seek(0); fh.truncate(); fh.write(f'{os.getpid()} reg promote churn 1 staging\\n'); fh.flush()\n"
                               "print('held', flush=True); time.sleep(60)\n",
                               str(registry / ".git/reg/lock")], stdout=subprocess.PIPE, text=True)
    try:
        assert holder.stdout.readline().strip() == "held"
        result = reg_proc(registry, "register", "churn", str(artifact), extra_env={"REG_LOCK_TIMEOUT": "1"})
        assert result.returncode == 1
        assert f"pid {holder.pid}: reg promote churn 1 staging" in result.stderr
    finally:
        holder.kill()
        holder.wait()
    # Its holder is dead (kill -9): the lock is simply taken.
    _ok(reg_proc(registry, "register", "churn", str(artifact), extra_env={"REG_LOCK_TIMEOUT": "1"}))


@pytest.mark.slow
def test_writers_benchmark_counts_what_landed(tmp_path):
    from benchmarks import reg_bench, writers

    env = {**os.environ, **reg_bench.reg_env()}
    env.pop("REG_CRASH_AT", None)
    rows = writers.rows(tmp_path, [2], 2, [sys.executable, "-m", "cli"], env, lambda m: None)
    assert len(rows) == 1 and "4/4 succeeded (100%)" in rows[0].note


def _small_disk(folder: Path, size_mb: int) -> bool:
    """A tmpfs of `size_mb` at `folder` (needs root); False when this machine cannot make one."""
    folder.mkdir(parents=True, exist_ok=True)
    if os.geteuid() != 0:
        return False
    return subprocess.run(["mount", "-t", "tmpfs", "-o", f"size={size_mb}m", "tmpfs", str(folder)],
                          capture_output=True).returncode == 0


@pytest.mark.slow
def test_full_disk_mid_register_leaves_nothing_and_the_next_one_works(tmp_path, reg):
    disk = tmp_path / "disk"
    if not _small_disk(disk, 16):
        pytest.skip("cannot mount a small tmpfs here (needs root); the size-limited variant below still runs")
    try:
        root = init_registry(reg, new_project(disk / "project"), tmp_path / "storage")
        assert reg(root, "register", "churn", str(_artifact(tmp_path / "small", "small"))).exit_code == 0
        big = _artifact(tmp_path / "big", "big")
        (big / "weights.bin").write_bytes(os.urandom(3 << 20))
        filler = disk / "filler"
        # Leave less room each time than the registration needs (a staged copy and a cache copy of 3 MB, then
        # a few KB of files and git objects), so the disk fills at a different step of it each time.
        for room_kb in (1024, 4096, 6200, 6300, 6400, 6600):
            filler.unlink(missing_ok=True)
            before = (git(root, "log", "--format=%H"), git(root, "tag", "-l"))
            free = os.statvfs(disk).f_bavail * os.statvfs(disk).f_frsize
            with open(filler, "wb") as fh:
                fh.write(b"\0" * max(0, free - room_kb * 1024))
            result = reg_proc(root, "register", "churn", str(big))
            if result.returncode == 0:
                break  # it fitted: the disk filled at every step before this one
            assert "No space left" in result.stderr or "disk is full" in result.stderr, (room_kb, result.stderr)
            assert "Traceback" not in result.stderr
            filler.unlink()
            _consistent(root, reg)
            assert (git(root, "log", "--format=%H"), git(root, "tag", "-l")) == before
            assert not any((root / ".git/reg/incoming").iterdir())
        filler.unlink(missing_ok=True)
        (big / "weights.bin").write_bytes(os.urandom(3 << 20))
        _ok(reg_proc(root, "register", "churn", str(big)))
        _consistent(root, reg)
    finally:
        subprocess.run(["umount", "-l", str(disk)], capture_output=True)


@pytest.mark.slow
def test_size_limited_writes_mid_register_leave_nothing(tmp_path, registry, reg):
    """Without a small file system: the process may write no file larger than a limit (RLIMIT_FSIZE), so
    staging a large artifact fails part-way, as a full disk would."""
    big = _artifact(tmp_path / "big", "big")
    (big / "weights.bin").write_bytes(os.urandom(2 << 20))
    before = (git(registry, "log", "--format=%H"), git(registry, "tag", "-l"))
    script = ("import resource, runpy, signal, sys\n"
              "signal.signal(signal.SIGXFSZ, signal.SIG_IGN)\n"
              "resource.setrlimit(resource.RLIMIT_FSIZE, (1 << 20, 1 << 20))\n"
              "sys.argv = ['reg'] + sys.argv[1:]\n"
              "runpy.run_module('cli', run_name='__main__')\n")
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    env.pop("REG_CRASH_AT", None)
    result = subprocess.run([sys.executable, "-c", script, "-C", str(registry), "register", "churn", str(big)],
                            capture_output=True, text=True, env=env, timeout=180)
    assert result.returncode == 1 and "Traceback" not in result.stderr, result.stderr
    _consistent(registry, reg)
    assert (git(registry, "log", "--format=%H"), git(registry, "tag", "-l")) == before
    _ok(reg_proc(registry, "register", "churn", str(big)))
    _consistent(registry, reg)


def test_tree_from_changed_folders_is_the_tree_git_would_write(repo):
    """`git.tree_with` rewrites only the folders on the changed paths; its tree must be byte for byte what
    git's own index would write, including git's odd ordering (`a.b` before `a/`) and emptied folders."""
    from registry import git as gitmod

    for rel in ("models/a/1/manifest.yaml", "models/a.b/x", "models/a-c", "models/a/2/manifest.yaml",
                "models/z/only.txt", "top.txt"):
        (repo / rel).parent.mkdir(parents=True, exist_ok=True)
        (repo / rel).write_text(rel + "\n")
    git(repo, "add", "-A")
    git(repo, "commit", "-qm", "files")
    (repo / "models/a/1/manifest.yaml").write_text("changed\n")
    (repo / "models/a/3").mkdir()
    (repo / "models/a/3/manifest.yaml").write_text("new\n")
    (repo / "models/a/3/model.dvc").write_text("new\n")
    changes = ["models/a/1/manifest.yaml", "models/a/3/manifest.yaml", "models/a/3/model.dvc"]
    blobs = gitmod.write_blobs(repo, changes)
    entries = {rel: ("100644", sha) for rel, sha in blobs.items()}
    entries["models/z/only.txt"] = None  # its folder goes with it
    entries["models/a.b/x"] = None
    ours = gitmod.tree_with(repo, "HEAD", entries)
    (repo / "models/z/only.txt").unlink()
    (repo / "models/a.b/x").unlink()
    git(repo, "add", "-A")
    assert ours == git(repo, "write-tree").strip()
