"""reg's rows: the CLI as a process (what a user or CI job pays) and `Registry.resolve` in-process."""
from __future__ import annotations

import os
import sys
from pathlib import Path

from . import fixtures, measure, synth
from .table import Row

ROOT = Path(__file__).resolve().parent.parent

# Targets from DESIGN.md "Performance targets", in seconds.
T_STARTUP = 0.25
T_RESOLVE = 0.001
T_READ = 0.5
T_PROMOTE = 0.5
T_REGISTER = 1.0
T_SITE = 5.0  # "a few seconds" for 1,000 versions


def reg_command() -> list[str]:
    """The `reg` console script of this interpreter's environment (what users type), else `python -m cli`."""
    script = Path(sys.executable).parent / "reg"
    return [str(script)] if script.exists() else [sys.executable, "-m", "cli"]


def reg_env() -> dict:
    # This checkout's code wins over whatever the venv has installed (an editable install of another tree).
    path = os.environ.get("PYTHONPATH")
    return {"PYTHONPATH": str(ROOT) + (os.pathsep + path if path else ""), "DVC_NO_ANALYTICS": "1",
            "GIT_AUTHOR_NAME": "Bench", "GIT_AUTHOR_EMAIL": "bench@example.com",
            "GIT_COMMITTER_NAME": "Bench", "GIT_COMMITTER_EMAIL": "bench@example.com"}


def registry_fixture(cache: Path, versions: int) -> tuple[Path, bool]:
    key = fixtures.source_key(Path(synth.__file__))
    return fixtures.cached(cache, f"reg-{versions}-{key}", lambda p: synth.build(p, versions))


def _has_command(reg: list[str], name: str, cwd: Path, env: dict) -> bool:
    try:
        measure.run_once([*reg, name, "--help"], cwd, env)
        return True
    except measure.BenchError:
        return False


def rows(cache: Path, work: Path, sizes: list[int], reps: int, budget: float, log) -> list[Row]:
    reg, env = reg_command(), reg_env()
    out: list[Row] = []

    def proc(op: str, n: int, cwd: Path, args, target=None, note="", **kw) -> None:
        log(f"reg: {op} at {n:,} versions")
        cmd = (lambda i: [*reg, *args(i)]) if callable(args) else [*reg, *args]
        sample = measure.process(cmd, cwd, reps=reps, budget=budget, env=env, **kw)
        out.append(Row("reg", op, n, "process", sample, target, note))

    log("baseline: python -c pass")
    out.append(Row("baseline", "python -c pass", None, "process",
                   measure.process([sys.executable, "-c", "pass"], ROOT, reps=reps, budget=budget, warmup=1),
                   note="interpreter start-up: shows how loaded the machine was"))
    largest = max(sizes)
    site_size = min(sizes, key=lambda s: abs(s - 1000))  # DESIGN.md's target is at 1,000 versions
    for n in sizes:
        repo, built = registry_fixture(cache, n)
        if built:
            log(f"built a synthetic registry of {n:,} versions in {repo}")
        proc("reg --help", n, repo, ["--help"], T_STARTUP, warmup=1)
        proc("reg show churn/production", n, repo, ["show", "churn/production"], T_STARTUP, warmup=1)
        out.append(_resolve_row(repo, n, reps, budget, log))
        if n == site_size:
            site_out = work / f"site-{n}"
            proc("reg site OUT", n, repo, ["site", str(site_out)], T_SITE, warmup=1,
                 note=f"{n + 3:,} pages: the registry, the model, its compare page, one per version")
        # promote at every size: what a change costs must not grow with the number of versions
        copy = fixtures.copy_repo(repo, work / f"reg-{n}")
        storage = work / "dvc-storage"
        (copy / ".dvc/config.local").write_text(f"['remote \"reg\"']\n    url = {storage}\n")
        counter = iter(range(1, n + 1))
        production = max(1, n // 2)

        def promote_args(_i: int) -> list[str]:
            v = next(counter)
            if v == production:
                v = next(counter)
            return ["promote", "churn", str(v), "production", "--reason", "bench"]

        proc("reg promote churn N production", n, copy, promote_args, T_PROMOTE,
             note="local, no push; a different version each run", warmup=1)
        if n != largest:
            continue
        cache_files = [repo / ".git/reg/cache.json", repo / ".git/reg/blobs.json"]

        def drop_cache(_i: int) -> None:
            for f in cache_files:
                f.unlink(missing_ok=True)

        proc("reg list", n, repo, ["list"], note="cold: no parse cache (first read after a clone)",
             before=drop_cache)
        proc("reg list", n, repo, ["list"], T_READ, warmup=1)
        proc("reg show churn", n, repo, ["show", "churn"], T_READ, warmup=1)
        proc("reg show churn --json", n, repo, ["show", "churn", "--json"], T_READ, warmup=1)
        if _has_command(reg, "history", repo, env):
            proc("reg history churn", n, repo, ["history", "churn"], T_READ, warmup=1)
        else:
            out.append(Row("reg", "reg history churn", n, "process", None, T_READ,
                           "skipped: this checkout has no `reg history` command"))
        artifact = work / "artifact" / "model"
        artifact.mkdir(parents=True, exist_ok=True)
        (artifact / "model.txt").write_text("tree\nversion=v4\n")
        (artifact / "preprocess.bin").write_bytes(os.urandom(2048))

        def register_args(i: int) -> list[str]:
            (artifact / "preprocess.bin").write_bytes(os.urandom(2048))  # new content, new version
            return ["register", "churn", str(artifact)]

        proc("reg register churn ./model", n, copy, register_args, T_REGISTER,
             note="2 small files; hash into DVC cache, push to a local remote, commit, tag", warmup=1)
    return out


def _resolve_row(repo: Path, n: int, reps: int, budget: float, log) -> Row:
    log(f"reg: Registry.resolve at {n:,} versions")
    from registry import Registry

    registry = Registry(repo)
    sample = measure.in_process(lambda: registry.resolve("churn/production"), reps=max(reps, 5),
                                inner=50, budget=budget)
    return Row("reg", 'Registry(path).resolve("churn/production")', n, "in-process", sample, T_RESOLVE,
               "per call, Registry made once")
