"""The whole lifecycle on real models, in a scratch registry: `make demo` (or `python -m demo`).

Copies this checkout's registry repository (dvc.yaml, params.yaml, pipelines/, models/) into a new git
repository under a temporary folder with a local DVC remote (no server); the checkout itself is never
changed. Then runs and prints each real command with its real output: train churn v1 with DVC, register
it, validate it into staging, promote it to production; change a hyperparameter, train v2, register,
compare with v1, validate, promote (v1 is archived); predict a CSV with the production model; roll back.
Then the sales forecast (seed 000): train the ensemble, register it, validate it on the time-based holdout
against RMSPE < 0.10 into staging, forecast by stage to CSV. Last, the history. Exits non-zero as soon as
a step fails, and prints where the scratch registry is so you can look inside (`git log`, `models/`).
"""
from __future__ import annotations

import os
import shutil
import subprocess
import sys
import tempfile
import textwrap
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
SOURCE = HERE.parent  # the checkout: a registry repository with the example pipelines and model cards
BIN = Path(sys.executable).parent
REGISTRY_PARTS = ("dvc.yaml", "params.yaml", "pipelines", "models")
# What running the pipelines in the source checkout may have left: never copied into the scratch registry.
OUTPUTS = (".gitignore", "__pycache__", "data", "model", "plots", "dvc_plots", "metrics.json", "evaluation.json",
           "dvc.lock", ".dvc")


class StepFailed(Exception):
    pass


class Demo:
    def __init__(self, scratch: Path):
        self.scratch = scratch
        self.repo = scratch / "registry"
        self.step = 0
        self.started = time.monotonic()
        gitconfig = scratch / "gitconfig"
        gitconfig.write_text("[user]\n\tname = Ada Lovelace\n\temail = ada@example.com\n"
                             "[init]\n\tdefaultBranch = main\n[advice]\n\tdetachedHead = false\n")
        self.env = dict(os.environ)
        self.env.update({
            "PATH": f"{BIN}{os.pathsep}{os.environ.get('PATH', '')}",  # `python` in dvc.yaml is this venv's
            "XDG_DATA_HOME": str(scratch / "xdg-data"),  # the embedded default DVC remote lives here
            "GIT_CONFIG_GLOBAL": str(gitconfig), "GIT_CONFIG_NOSYSTEM": "1",
            "DVC_NO_ANALYTICS": "1", "DVC_SITE_CACHE_DIR": str(scratch / "dvc-site-cache"),
            "PYTHONUNBUFFERED": "1", "COLUMNS": "120",
        })
        for var in ("GIT_AUTHOR_NAME", "GIT_AUTHOR_EMAIL", "GIT_COMMITTER_NAME", "GIT_COMMITTER_EMAIL", "REG_DEBUG"):
            self.env.pop(var, None)

    # -- output ------------------------------------------------------------------------------------
    def title(self, text: str) -> None:
        self.step += 1
        print(f"\n== {self.step}. {text}", flush=True)

    def note(self, text: str) -> None:
        print(textwrap.indent(text.rstrip("\n"), "   # "), flush=True)

    # -- running -----------------------------------------------------------------------------------
    def _argv(self, tool: str, args: list[str]) -> list[str]:
        if tool == "reg":
            exe = BIN / "reg"
            return [str(exe), *args] if exe.is_file() else [sys.executable, "-m", "cli", *args]
        if tool == "dvc":
            exe = BIN / "dvc"
            return [str(exe), *args] if exe.is_file() else [sys.executable, "-m", "dvc", *args]
        return [tool, *args]

    def run(self, tool: str, *args: str, cwd: str = "", expect: tuple[int, ...] = (0,), show: bool = True) -> str:
        where = self.repo / cwd
        shown = " ".join(_quote(a) for a in (tool, *args))
        if show:
            print(f"$ {shown}" + (f"    (in {cwd})" if cwd else ""), flush=True)
        proc = subprocess.run(self._argv(tool, list(args)), cwd=str(where), env=self.env, text=True,
                              stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
        out = proc.stdout.rstrip()
        if show and out:
            print(textwrap.indent(out, "  "), flush=True)
        if proc.returncode not in expect:
            if not show:
                print(f"$ {shown}\n{textwrap.indent(out, '  ')}", flush=True)
            raise StepFailed(f"`{shown}` exited {proc.returncode} (expected {' or '.join(map(str, expect))})")
        return proc.stdout

    def edit(self, rel: str, old: str, new: str) -> None:
        path = self.repo / rel
        text = path.read_text()
        if old not in text:
            raise StepFailed(f"{rel} does not contain {old!r}")
        path.write_text(text.replace(old, new, 1))

    # -- the story ---------------------------------------------------------------------------------
    def setup(self) -> None:
        self.title("A scratch copy of this checkout's registry repository: pipelines, params, model cards")
        self.repo.mkdir(parents=True)
        copy_registry(SOURCE, self.repo)
        self.note(f"copied {', '.join(REGISTRY_PARTS)} from {SOURCE} to {self.repo}")
        self.run("git", "init", "-q")
        self.run("git", "add", ".")
        self.run("git", "commit", "-q", "-m", "Registry repository: example pipelines and model cards")
        self.run("reg", "init")
        self.run("git", "log", "--oneline")

    def train(self, version: int, message: str) -> None:
        self.title(f"Train churn v{version} with DVC")
        self.run("dvc", "repro", "churn-evaluate")
        self.run("dvc", "metrics", "show", "pipelines/churn/metrics.json", "pipelines/churn/evaluation.json")
        self.run("git", "add", "-A")
        self.run("git", "commit", "-q", "-m", message)

    def register(self, version: int, description: str) -> None:
        self.title(f"Register churn v{version} from the DVC stage: metrics, params and data hashes from dvc.lock")
        self.run("reg", "register", "churn", "--from-dvc", "churn-train", "--description", description)
        if version == 1:
            self.run("reg", "show", "churn/1")

    def rules(self) -> None:
        self.title("Gates and the holdout in the model card, models/churn/model.yaml")
        self.run("cat", "models/churn/model.yaml")

    def validate(self, version: int) -> None:
        self.title(f"Validate churn v{version} on the holdout: the staging gate passes, so it moves to staging")
        self.run("reg", "validate", "churn", str(version))

    def promote(self, version: int, reason: str) -> None:
        self.title(f"Promote churn v{version} to production with a reason")
        self.run("reg", "promote", "churn", str(version), "production", "--reason", reason)
        self.run("reg", "show", "churn")

    def retrain(self) -> None:
        self.title("Change a hyperparameter: smaller trees")
        self.edit("params.yaml", "num_leaves: 31", "num_leaves: 7")
        self.note("params.yaml: churn.train.num_leaves 31 -> 7")
        self.run("dvc", "params", "diff")

    def compare(self) -> None:
        self.title("Compare churn v2 with v1 (in production)")
        self.run("reg", "compare", "churn", "1", "2")

    def predict(self) -> None:
        self.title("Predict with the production model")
        import csv

        with open(self.repo / "pipelines/churn/data/holdout.csv", newline="") as fh:
            rows = list(csv.DictReader(fh))[:5]
        out = self.repo / "new_customers.csv"
        with open(out, "w", newline="") as fh:
            fields = [k for k in rows[0] if k != "churned"]
            writer = csv.DictWriter(fh, fieldnames=fields, extrasaction="ignore")
            writer.writeheader()
            writer.writerows(rows)
        self.note("new_customers.csv: the first 5 holdout customers, without the label")
        self.run("reg", "predict", "churn/production", "--input", "new_customers.csv", "--output", "predictions.csv")
        self.run("cat", "predictions.csv")

    def rollback(self) -> None:
        self.title("Roll back production (a git revert of the promotion, plus a new stage tag)")
        self.run("reg", "rollback", "churn", "--reason", "Demo: v2 misbehaves in production; back to v1")
        self.run("reg", "show", "churn")
        self.run("git", "log", "-1", "--format=%B")

    def sales(self) -> None:
        self.title("The sales forecast (seed 000): its model card gates staging on RMSPE < 0.10")
        self.run("cat", "models/sales/model.yaml")
        self.title("Train the sales ensemble (LightGBM + HistGradientBoosting) with DVC")
        self.run("dvc", "repro", "sales-evaluate")
        self.run("dvc", "metrics", "show", "pipelines/sales/evaluation.json")
        self.run("git", "add", "-A")
        self.run("git", "commit", "-q", "-m", "Train sales v1")
        self.title("Register sales v1 from the DVC stage (format: ensemble)")
        self.run("reg", "register", "sales", "--from-dvc", "sales-train", "--description",
                 "Ensemble of LightGBM and HistGradientBoosting, equal weights")
        self.title("Validate sales v1 on the time-based holdout: RMSPE < 0.10 promotes it to staging")
        self.run("reg", "validate", "sales", "1")
        self.title("Forecast with the staging model, by stage, to CSV")
        import csv

        with open(self.repo / "pipelines/sales/data/holdout.csv", newline="") as fh:
            rows = [r for r in csv.DictReader(fh) if r["store"] == "1"][:7]
        with open(self.repo / "next_week.csv", "w", newline="") as fh:
            writer = csv.DictWriter(fh, fieldnames=[k for k in rows[0] if k != "sales"], extrasaction="ignore")
            writer.writeheader()
            writer.writerows(rows)
        self.note("next_week.csv: store 1's first 7 holdout days, without the sales")
        self.run("reg", "predict", "sales/staging", "--input", "next_week.csv", "--output", "sales_forecast.csv")
        self.run("cat", "sales_forecast.csv")

    def history(self) -> None:
        self.title("The audit trail")
        self.run("reg", "history")
        self.run("git", "tag", "-l")

    def story(self) -> None:
        self.setup()
        self.train(1, "Train churn v1")
        self.register(1, "First churn model: LightGBM, default tree size")
        self.rules()
        self.validate(1)
        self.promote(1, "First churn model; passes the staging gate on the holdout")
        self.retrain()
        self.train(2, "Train churn v2: num_leaves 7")
        self.register(2, "Smaller trees (num_leaves 7)")
        self.compare()
        self.validate(2)
        self.promote(2, "Smaller trees: better roc_auc and log_loss on the holdout")
        self.predict()
        self.rollback()
        self.sales()
        self.history()


def copy_registry(source: Path, dest: Path) -> None:
    """The registry repository's own files from `source`: what git tracks (or would add) there, else (not a
    git checkout) the folders without what running the pipelines left."""
    proc = subprocess.run(["git", "ls-files", "-co", "--exclude-standard", "-z", "--", *REGISTRY_PARTS],
                          cwd=str(source), capture_output=True, text=True)
    files = [rel for rel in proc.stdout.split("\0") if rel] if proc.returncode == 0 else []
    if files:
        for rel in files:
            if (source / rel).is_file() and not set(Path(rel).parts) & set(OUTPUTS[1:]):
                (dest / rel).parent.mkdir(parents=True, exist_ok=True)
                shutil.copy2(source / rel, dest / rel)
        return
    for part in REGISTRY_PARTS:
        if (source / part).is_dir():
            shutil.copytree(source / part, dest / part, ignore=shutil.ignore_patterns(*OUTPUTS))
        elif (source / part).is_file():
            shutil.copy2(source / part, dest / part)


def _quote(arg: str) -> str:
    return arg if arg and all(c.isalnum() or c in "-_./:=@#,%" for c in arg) else "'" + arg.replace("'", "'\\''") + "'"


def main() -> int:
    scratch = Path(tempfile.mkdtemp(prefix="reg-demo-"))
    demo = Demo(scratch)
    print(f"reg demo: a scratch registry in {demo.repo}", flush=True)
    try:
        demo.story()
    except Exception as exc:  # a step that failed, or the demo's own file handling: say where it stopped
        what = str(exc) if isinstance(exc, StepFailed) else f"{type(exc).__name__}: {exc}"
        print(f"\ndemo FAILED at step {demo.step}: {what}\nThe scratch registry is left in {demo.repo}",
              file=sys.stderr, flush=True)
        return 1
    print(f"\nDone in {time.monotonic() - demo.started:.0f} s. The scratch registry is in {demo.repo}\n"
          f"Look inside: cd {demo.repo} && git log --stat && cat models/*/*/manifest.yaml", flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
