"""Issue 9 item 1: the operations and `reg check` share each registry rule (registry/rules.py), so `reg check
--base <the commit before>` accepts every change `reg` makes: register, promote (with the exclusive stage's
displacement), archive, alias set and remove, annotate a model and a version, delete, validate, rollback
and rollback --to."""
from __future__ import annotations

import json

import pytest
import yaml

from . import churnmodel
from .conftest import git

CARD = """\
name: churn
description: ''
owners: [ada@example.com]
validation: {data: holdout.csv, target: churned}
gates:
  staging:
    metrics: {roc_auc: ">= 0.5"}
  production:
    from: staging
"""


@pytest.fixture(scope="module")
def model_dir(tmp_path_factory):
    return churnmodel.build(tmp_path_factory.mktemp("rules") / "model")


def _head(root) -> str:
    return git(root, "rev-parse", "HEAD").strip()


def _manifest(root, n: int) -> dict:
    return yaml.safe_load((root / f"models/churn/{n}/manifest.yaml").read_text())


@pytest.mark.slow
def test_check_since_the_commit_before_accepts_every_change_reg_makes(registry, reg, model_dir, tmp_path):
    root = registry
    metrics = tmp_path / "metrics.json"
    metrics.write_text(json.dumps({"roc_auc": 0.9}))
    df, y = churnmodel.frame(n=200, seed=5)
    df.assign(churned=y).to_csv(root / "holdout.csv", index=False)
    git(root, "add", "holdout.csv")
    git(root, "commit", "-qm", "holdout")
    steps = [
        ("register", ["register", "churn", str(model_dir), "--metrics", str(metrics)]),
        ("card", None),
        ("register with alias", ["register", "churn", str(model_dir), "--metrics", str(metrics),
                                 "--alias", "challenger"]),
        ("register", ["register", "churn", str(model_dir), "--metrics", str(metrics)]),
        ("register", ["register", "churn", str(model_dir), "--metrics", str(metrics)]),
        ("promote", ["promote", "churn", "1", "staging"]),
        ("promote", ["promote", "churn", "1", "production", "--reason", "launch"]),
        ("promote", ["promote", "churn", "2", "staging"]),
        ("promote displacing v1", ["promote", "churn", "2", "production"]),
        ("alias set", ["alias", "churn", "2", "champion"]),
        ("alias moved", ["alias", "churn", "1", "champion"]),
        ("alias remove", ["alias", "churn", "--delete", "challenger"]),
        ("annotate version", ["annotate", "churn/2", "--description", "October data", "--tag", "team=growth"]),
        ("annotate model", ["annotate", "churn", "--description", "Churn classifier", "--tag", "domain=crm"]),
        ("validate", ["validate", "churn", "3"]),
        ("rollback", ["rollback", "churn", "--stage", "production", "--reason", "v2 misbehaves"]),
        ("rollback --to", ["rollback", "churn", "--stage", "production", "--to", "2", "--reason", "fixed"]),
        ("archive", ["archive", "churn", "3", "--reason", "superseded"]),
        ("delete", ["delete", "churn", "4", "--reason", "trained on the wrong data"]),
    ]
    for what, args in steps:
        before = _head(root)
        if args is None:
            (root / "models/churn/model.yaml").write_text(CARD)
            git(root, "commit", "-qam", "gates")
            continue
        result = reg(root, *args)
        assert result.exit_code == 0, f"{what}: {result.output}"
        assert _head(root) != before, f"{what} made no commit"
        checked = reg(root, "check", "--base", before)
        assert checked.exit_code == 0 and checked.stdout.splitlines()[-1] == \
            f"reg check: ok ({_head(root)[:8]}, 1 commit(s) since {before[:8]})", f"{what}: {checked.output}"
        if what == "promote displacing v1":
            assert (_manifest(root, 1)["stage"], _manifest(root, 2)["stage"]) == ("archived", "production")
            assert "move: churn v2 staging -> production" in checked.stdout
            assert "churn v1 production -> archived" not in checked.stdout  # part of v2's promotion
        if what == "validate":
            assert _manifest(root, 3)["stage"] == "staging" and len(_manifest(root, 3)["validations"]) == 1
        if what == "rollback":
            assert (_manifest(root, 1)["stage"], _manifest(root, 2)["stage"]) == ("production", "staging")
        if what == "rollback --to":
            assert (_manifest(root, 1)["stage"], _manifest(root, 2)["stage"]) == ("archived", "production")
    # and the whole history at once, from before the first registration
    first = git(root, "rev-list", "--max-parents=0", "HEAD").strip()
    whole = reg(root, "check", "--base", first)
    assert whole.exit_code == 0 and whole.stdout.splitlines()[-1].startswith("reg check: ok ("), whole.output


def test_one_blob_reader_serves_objects_written_after_it_started(repo):
    """The persistent `git cat-file --batch` of registry/git.py: a long-lived process (a check after new
    commits, a serving host after a fetch) must see objects that did not exist when it started, in bulk
    beyond one chunk of requests, and say nothing of ids that are missing."""
    from registry import git as git_mod

    reader = git_mod.blobs(repo)
    first = git(repo, "rev-parse", "HEAD:README.md").strip()
    assert reader.read(first) == b"# project\n"
    # many objects at once, written after the reader started
    (repo / "many").mkdir()
    for i in range(git_mod.BlobReader.CHUNK + 5):
        (repo / "many" / f"{i}.txt").write_text(f"blob {i}\n")
    git(repo, "add", "many")
    git(repo, "commit", "-qm", "many")
    tree = git_mod.ls_tree(repo, "HEAD", "many")
    found = reader.read_many([*tree.values(), "0" * 40])
    assert len(found) == len(tree) and "0" * 40 not in found
    assert {found[sha] for sha in tree.values()} == {f"blob {i}\n".encode() for i in range(len(tree))}
    assert git_mod.blobs(repo) is reader  # one process per repository
