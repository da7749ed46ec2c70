"""`reg check` (issue 5 item 2) on ranges made by `reg` and by hand edits, in text, markdown and json."""
from __future__ import annotations

import json
import re
import shutil

import pytest
import yaml

from .conftest import git

CARD = """\
name: churn
description: ''
owners: [ada@example.com]
permissions:
  production: [ada@example.com]
  staging: ["*"]
gates:
  staging:
    metrics: {roc_auc: ">= 0.80"}
  production:
    from: staging
    require_reason: true
"""


@pytest.fixture
def churn(registry, reg, artifact, tmp_path):
    """v1 in production, v2 in staging, v3 registered; gates and permissions in model.yaml."""
    for i, auc in enumerate((0.85, 0.88, 0.70), 1):
        (artifact / "model.txt").write_text(f"tree\n{i}\n")
        m = tmp_path / f"m{i}.json"
        m.write_text(json.dumps({"roc_auc": auc, "log_loss": 0.3}))
        assert reg(registry, "register", "churn", str(artifact), "--metrics", str(m)).exit_code == 0
    (registry / "models/churn/model.yaml").write_text(CARD)
    git(registry, "commit", "-qam", "gates and permissions")
    assert reg(registry, "promote", "churn", "1", "staging").exit_code == 0
    assert reg(registry, "promote", "churn", "1", "production", "--reason", "launch").exit_code == 0
    assert reg(registry, "promote", "churn", "2", "staging").exit_code == 0
    git(registry, "tag", "base")
    return registry


def _hand_commit(root, message, author="Ada Lovelace <ada@example.com>"):
    git(root, "add", "-A", "models")
    git(root, "commit", "-qm", message, f"--author={author}")


def _edit(root, rel, fn):
    path = root / rel
    data = yaml.safe_load(path.read_text())
    fn(data)
    path.write_text(yaml.safe_dump(data, sort_keys=False))


def test_a_registry_made_by_reg_passes(churn, reg):
    result = reg(churn, "check")
    assert result.exit_code == 0, result.output
    assert result.stdout.startswith("reg check: ok (")
    first = git(churn, "rev-list", "--max-parents=0", "HEAD").strip()
    result = reg(churn, "check", "--base", first)
    assert result.exit_code == 0, result.output
    assert "move: churn v1 staging -> production in " in result.stdout
    assert "(reason: launch)" in result.stdout
    # the text format lists the versions a range registered, as the markdown does
    assert result.stdout.startswith("new: churn v1\nnew: churn v2\nnew: churn v3\n")


def test_promotion_since_base_by_reg_with_force_is_a_warning(churn, reg):
    assert reg(churn, "promote", "churn", "3", "staging", "--force", "--reason", "A/B test").exit_code == 0
    result = reg(churn, "check", "--base", "base")
    assert result.exit_code == 0, result.output
    assert ("warning: churn v3 moved none -> staging in " in result.stdout
            and "by ada@example.com: gate roc_auc >= 0.80 forced (roc_auc = 0.7, needs >= 0.80); reason: A/B test"
            in result.stdout)


def test_hand_edited_metric_is_refused(churn, reg):
    _edit(churn, "models/churn/2/manifest.yaml", lambda d: d["metrics"].update(roc_auc=0.99))
    _hand_commit(churn, "better numbers")
    sha = git(churn, "rev-parse", "--short=8", "HEAD").strip()
    result = reg(churn, "check", "--base", "base")
    assert result.exit_code == 1
    assert (f"problem: models/churn/2/manifest.yaml: immutable field metrics (roc_auc: 0.88 -> 0.99) changed in "
            f"{sha} by ada@example.com; register a new version instead\n") in result.stdout
    assert result.stdout.endswith(f"reg check: 1 problem(s) ({sha}, 1 commit(s) since "
                                  f"{git(churn, 'rev-parse', '--short=8', 'base').strip()})\n")
    # At HEAD alone the registry is consistent: the rule is about the change.
    assert reg(churn, "check").exit_code == 0


def test_hand_edited_promotion_is_judged_by_gates_author_and_reason(churn, reg):
    # bob moves v2 to production by hand: not allowed, and no reason
    _edit(churn, "models/churn/1/manifest.yaml", lambda d: d.update(stage="archived"))
    _edit(churn, "models/churn/2/manifest.yaml", lambda d: d.update(stage="production"))
    prod = churn / "models/churn/production.dvc"
    prod.write_text(prod.read_text().replace(
        yaml.safe_load(prod.read_text())["outs"][0]["md5"],
        yaml.safe_load((churn / "models/churn/2/model.dvc").read_text())["outs"][0]["md5"]).replace(
        "version: 1", "version: 2"))
    (churn / "models/churn/staging.dvc").unlink()
    (churn / "models/churn/.gitignore").write_text("/production\n")
    _hand_commit(churn, "ship v2", author="Bob <bob@example.com>")
    result = reg(churn, "check", "--base", "base", "--format", "json")
    assert result.exit_code == 1
    report = json.loads(result.stdout)
    messages = [p["message"] for p in report["problems"]]
    assert len(messages) == 2, messages
    assert messages[0].endswith("by bob@example.com: not allowed: bob@example.com may not move churn to production "
                                "(permissions.production: ada@example.com)")
    assert messages[1].endswith("gate reason required failed: no reason given; pass --reason TEXT")
    [move] = report["moves"]  # v1's archiving is part of this promotion, not a move of its own
    assert (move["version"], move["from"], move["to"], move["author"]) == (2, "staging", "production",
                                                                           "bob@example.com")


@pytest.mark.parametrize("breakage, message", [
    ("two_in_production", "models/churn/: 2 versions are in production (v1, v2); it holds one at most"),
    ("deleted_folder", "models/churn/2/: is missing: churn has versions up to 3, and a version is never removed"),
    ("pointer", "models/churn/production.dvc: tracks abc123, but it should track v1's artifact "),
    ("alias", "models/churn/: alias champion names 2 versions (v1, v3); it names one"),
    ("folder_number", "models/churn/3/manifest.yaml: says it is churn v4; a manifest must match its folder"),
    ("bad_yaml", "models/churn/3/manifest.yaml: is not valid YAML (line 2)"),
    ("tombstone_pointer", "models/churn/3/model.dvc: churn v3 is deleted; its pointer must be removed"),
])
def test_broken_states_at_head(churn, reg, breakage, message):
    rel3 = "models/churn/3/manifest.yaml"
    if breakage == "two_in_production":
        _edit(churn, "models/churn/2/manifest.yaml", lambda d: d.update(stage="production"))
    elif breakage == "deleted_folder":
        shutil.rmtree(churn / "models/churn/2")
    elif breakage == "pointer":
        p = churn / "models/churn/production.dvc"
        p.write_text("outs:\n- md5: abc123\n  path: production\n")
    elif breakage == "alias":
        _edit(churn, "models/churn/1/manifest.yaml", lambda d: d.update(aliases=["champion"]))
        _edit(churn, rel3, lambda d: d.update(aliases=["champion"]))
    elif breakage == "folder_number":
        _edit(churn, rel3, lambda d: d.update(version=4))
    elif breakage == "bad_yaml":
        (churn / rel3).write_text("model: [churn\n")
    elif breakage == "tombstone_pointer":
        _edit(churn, rel3, lambda d: d.update(deleted=True, deleted_reason="x"))
    _hand_commit(churn, f"break: {breakage}")
    result = reg(churn, "check")
    assert result.exit_code == 1
    assert f"problem: {message}" in result.stdout, result.stdout


def test_removed_version_and_renumbering_since_base(churn, reg):
    shutil.rmtree(churn / "models/churn/3")
    _hand_commit(churn, "drop v3")
    result = reg(churn, "check", "--base", "base")
    assert result.exit_code == 1
    assert ("problem: models/churn/3/manifest.yaml: was removed in " in result.stdout
            and "by ada@example.com: versions are never removed or renumbered" in result.stdout)


def test_markdown_is_a_review_comment(churn, reg, artifact, tmp_path):
    (artifact / "model.txt").write_text("tree\n4\n")
    m = tmp_path / "m4.json"
    m.write_text(json.dumps({"roc_auc": 0.9, "log_loss": 0.25}))
    assert reg(churn, "register", "churn", str(artifact), "--metrics", str(m)).exit_code == 0
    assert reg(churn, "promote", "churn", "4", "staging").exit_code == 0
    result = reg(churn, "check", "--base", "base", "--format", "markdown")
    assert result.exit_code == 0, result.output
    md = result.stdout
    assert md.startswith("## ✅ reg check: registry rules hold\n")
    assert "### churn\n\nNew versions: v4\n" in md
    assert ("| v4 | none | staging | ada@example.com | - | ✅ permission: ada@example.com is allowed by "
            "permissions.staging<br>✅ roc_auc >= 0.80: roc_auc = 0.9, needs >= 0.80 |") in md
    assert "| metric | v4 (new) | v1 (production) | v4 - v1 |" in md
    assert "| roc_auc | 0.9 | 0.85 | +0.0500 |" in md
    assert "| log_loss | 0.25 | 0.3 | -0.0500 |" in md


def test_bad_format_and_unknown_base(churn, reg):
    result = reg(churn, "check", "--format", "html")
    assert result.exit_code == 2 and "unknown format 'html'" in result.output
    result = reg(churn, "check", "--base", "no-such-branch")
    assert result.exit_code == 1
    assert result.stderr == ("error: unknown revision 'no-such-branch': give a commit, branch or tag that exists "
                             "(in CI, fetch the base branch first)\n")


def test_codeowners_from_model_owners(churn, reg):
    result = reg(churn, "codeowners")
    assert result.exit_code == 0, result.output
    assert result.stdout.startswith("Wrote .github/CODEOWNERS (commit ")
    text = (churn / ".github/CODEOWNERS").read_text()
    assert "/models/churn/ ada@example.com\n" in text and "/models/registry.yaml ada@example.com\n" in text
    assert git(churn, "log", "-1", "--format=%s").strip() == "reg: write .github/CODEOWNERS from model owners"
    assert git(churn, "status", "--porcelain") == ""
    # running it again (e.g. in CI, to keep the file in sync) is not an error
    head = git(churn, "rev-parse", "HEAD")
    result = reg(churn, "codeowners")
    assert result.exit_code == 0, result.output
    assert result.stdout == ".github/CODEOWNERS is up to date (no commit)\n"
    assert git(churn, "rev-parse", "HEAD") == head
    # lines a person adds below the marker survive a rewrite
    (churn / ".github/CODEOWNERS").write_text(text + "/docs/ @docs-team\n")
    git(churn, "commit", "-qam", "docs owners")
    card = churn / "models/churn/model.yaml"
    card.write_text(card.read_text().replace("owners: [ada@example.com]", "owners: [ada@example.com, grace@example.com]"))
    git(churn, "commit", "-qam", "grace co-owns churn")
    assert reg(churn, "codeowners").exit_code == 0
    text = (churn / ".github/CODEOWNERS").read_text()
    assert "/models/churn/ ada@example.com grace@example.com\n" in text and text.endswith("/docs/ @docs-team\n")
    assert reg(churn, "check").exit_code == 0


def test_ci_template_runs_reg_check_against_the_target_branch():
    from pathlib import Path

    template = Path(__file__).resolve().parent.parent / "templates/ci/registry-check.yml"
    workflow = yaml.safe_load(template.read_text())
    steps = workflow["jobs"]["reg-check"]["steps"]
    run = "\n".join(s.get("run", "") for s in steps)
    assert 'reg check --base "origin/${{ github.base_ref }}" --format markdown' in run
    assert steps[0]["with"]["fetch-depth"] == 0


def test_ci_template_installs_this_reg_and_does_not_block_unrelated_pull_requests():
    from pathlib import Path

    template = Path(__file__).resolve().parent.parent / "templates/ci/registry-check.yml"
    workflow = yaml.safe_load(template.read_text())
    job = workflow["jobs"]["reg-check"]
    runs = [s.get("run", "") for s in job["steps"]]
    # `reg` on PyPI is an unrelated package: the template must not install it by that name
    assert not any(re.search(r"pip install reg\b", r) for r in runs)
    assert "git+" in job["env"]["REG_PACKAGE"]
    # a required check skipped by a paths filter never reports and blocks every other pull request
    on = workflow.get("on", workflow.get(True))
    assert not (on["pull_request"] or {}).get("paths")
    post = next(s for s in job["steps"] if s.get("name", "").startswith("Post"))
    assert post.get("continue-on-error") is True  # fork pull requests have a read-only token


def test_git_revert_of_a_promotion_is_a_valid_rollback(churn, reg):
    assert reg(churn, "promote", "churn", "2", "production", "--reason", "v2 is better").exit_code == 0
    git(churn, "revert", "--no-edit", "HEAD")
    # v1 goes back from archived to production: `from: staging` does not apply to putting it back
    result = reg(churn, "check", "--base", "base")
    assert result.exit_code == 0, result.output
    assert "move: churn v1 archived -> production in " in result.stdout


def test_reg_rollback_passes_check_despite_production_gates(churn, reg):
    assert reg(churn, "promote", "churn", "2", "production", "--reason", "v2 is better").exit_code == 0
    result = reg(churn, "rollback", "churn", "--reason", "v2 misbehaves")
    assert result.exit_code == 0, result.output
    result = reg(churn, "check", "--base", "base")
    assert result.exit_code == 0, result.output


def test_metric_edit_hidden_in_a_merge_commit_is_refused(churn, reg):
    git(churn, "checkout", "-q", "-b", "side")
    git(churn, "commit", "-q", "--allow-empty", "-m", "side work")
    git(churn, "checkout", "-q", "main")
    git(churn, "commit", "-q", "--allow-empty", "-m", "main work")
    git(churn, "merge", "-q", "--no-ff", "--no-commit", "side")
    _edit(churn, "models/churn/2/manifest.yaml", lambda d: d["metrics"].update(roc_auc=0.99))
    _hand_commit(churn, "Merge side")
    result = reg(churn, "check", "--base", "base")
    assert result.exit_code == 1, result.output
    assert "models/churn/2/manifest.yaml: immutable field metrics (roc_auc: 0.88 -> 0.99) changed between " \
        in result.stdout


def test_metric_edit_through_a_manifest_that_did_not_parse_is_refused(churn, reg):
    path = churn / "models/churn/2/manifest.yaml"
    good = path.read_text()
    path.write_text(good.replace("roc_auc: 0.88", "roc_auc: 0.99") + "metrics: [unclosed\n")
    _hand_commit(churn, "oops")
    path.write_text(good.replace("roc_auc: 0.88", "roc_auc: 0.99"))
    _hand_commit(churn, "fix the yaml")
    result = reg(churn, "check", "--base", "base")
    assert result.exit_code == 1, result.output
    assert "immutable field metrics (roc_auc: 0.88 -> 0.99) changed between " in result.stdout


def test_a_branch_behind_its_base_is_not_blamed_for_newer_versions(churn, reg, artifact):
    git(churn, "checkout", "-q", "-b", "old-branch", "base")
    git(churn, "checkout", "-q", "main")
    (artifact / "model.txt").write_text("tree\n4\n")
    assert reg(churn, "register", "churn", str(artifact)).exit_code == 0
    git(churn, "checkout", "-q", "old-branch")
    result = reg(churn, "check", "--base", "main")
    assert result.exit_code == 0, result.output


def test_unparseable_manifest_is_one_problem_without_advice_to_remove_its_pointer(churn, reg):
    assert reg(churn, "alias", "churn", "3", "challenger").exit_code == 0
    (churn / "models/churn/3/manifest.yaml").write_text("model: [churn\n")
    _hand_commit(churn, "break v3")
    result = reg(churn, "check")
    assert result.exit_code == 1
    assert "problem: models/churn/3/manifest.yaml: is not valid YAML (line 2)" in result.stdout
    assert "challenger.dvc" not in result.stdout  # v3 may well hold it: restoring the manifest is the fix


def test_check_in_a_repository_without_commits_says_so(tmp_path, reg):
    git(tmp_path, "init", "-q", "fresh")
    result = reg(tmp_path / "fresh", "check")
    assert result.exit_code == 1
    assert result.stderr == ("error: the repository has no commits yet, so there is nothing to check; run "
                             "`reg init` and commit first\n")


def test_promotion_made_while_resolving_a_merge_is_judged(churn, reg):
    git(churn, "checkout", "-q", "-b", "side")
    git(churn, "commit", "-q", "--allow-empty", "-m", "side work")
    git(churn, "checkout", "-q", "main")
    git(churn, "commit", "-q", "--allow-empty", "-m", "main work")
    # an ordinary merge of reg's own changes passes
    assert reg(churn, "promote", "churn", "3", "staging", "--force", "--reason", "try it").exit_code == 0
    git(churn, "merge", "-q", "--no-ff", "-m", "Merge side", "side")
    assert reg(churn, "check", "--base", "base").exit_code == 0
    git(churn, "checkout", "-q", "side")
    git(churn, "commit", "-q", "--allow-empty", "-m", "more side work")
    git(churn, "checkout", "-q", "main")
    git(churn, "merge", "-q", "--no-ff", "--no-commit", "side")
    # bob slips v2 into production inside the merge: not allowed, and no reason
    _edit(churn, "models/churn/2/manifest.yaml", lambda d: d.update(stage="production"))
    _edit(churn, "models/churn/1/manifest.yaml", lambda d: d.update(stage="archived"))
    shutil.copy(churn / "models/churn/2/model.dvc", churn / "models/churn/production.dvc")
    p = churn / "models/churn/production.dvc"
    p.write_text(p.read_text().replace("path: model", "path: production"))
    _hand_commit(churn, "Merge side again", author="Bob <bob@example.com>")
    result = reg(churn, "check", "--base", "base")
    assert result.exit_code == 1, result.output
    assert ("churn v2 moved staging -> production in " in result.stdout
            and "by bob@example.com: not allowed: bob@example.com may not move churn to production" in result.stdout)
    assert "v1 moved" not in result.stdout  # its archiving is part of v2's promotion


def test_markdown_keeps_a_reason_with_a_pipe_in_its_table_cell(churn, reg):
    assert reg(churn, "promote", "churn", "3", "staging", "--force", "--reason", "A/B | week 1").exit_code == 0
    result = reg(churn, "check", "--base", "base", "--format", "markdown")
    assert result.exit_code == 0, result.output
    row = next(line for line in result.stdout.splitlines() if line.startswith("| v3 |"))
    assert "| A/B \\| week 1 |" in row
    assert len(re.split(r"(?<!\\)\|", row)) == 8  # six cells, as in the header


def test_unparseable_registry_yaml_is_named_once(churn, reg):
    with open(churn / "models/registry.yaml", "a") as fh:
        fh.write("bad: [\n")
    _hand_commit(churn, "break settings")
    result = reg(churn, "check")
    assert result.exit_code == 1
    assert "problem: models/registry.yaml: is not valid YAML (line " in result.stdout, result.stdout


def test_empty_base_is_refused_not_ignored(churn, reg):
    result = reg(churn, "check", "--base", "")
    assert result.exit_code == 1
    assert result.stderr.startswith("error: unknown revision '': give a commit, branch or tag that exists")


def test_codeowners_path_that_is_a_folder_is_one_line(churn, reg):
    (churn / ".github").mkdir()
    head = git(churn, "rev-parse", "HEAD")
    result = reg(churn, "codeowners", "--path", ".github")
    assert result.exit_code == 1
    assert result.stderr == "error: .github is a folder; give the CODEOWNERS file itself, e.g. .github/CODEOWNERS\n"
    assert git(churn, "rev-parse", "HEAD") == head


def test_codeowners_updates_the_file_github_reads_first(churn, reg):
    for rel in ("CODEOWNERS", ".github/CODEOWNERS"):
        (churn / rel).parent.mkdir(exist_ok=True)
        (churn / rel).write_text("* @someone\n")
    git(churn, "add", "CODEOWNERS", ".github/CODEOWNERS")
    git(churn, "commit", "-qm", "two codeowners files")
    result = reg(churn, "codeowners")
    assert result.exit_code == 0, result.output
    assert result.stdout.startswith("Wrote .github/CODEOWNERS (commit ")


def test_format_name_is_case_insensitive(churn, reg):
    result = reg(churn, "check", "--format", "JSON")
    assert result.exit_code == 0, result.output
    assert json.loads(result.stdout)["ok"] is True


def test_duplicate_key_in_a_hand_edited_card_is_one_line_everywhere(churn, reg):
    card = churn / "models/churn/model.yaml"
    card.write_text(card.read_text() + "owners: [mallory@example.com]\n")
    _hand_commit(churn, "second owners")
    result = reg(churn, "check")
    assert result.exit_code == 1
    assert "problem: models/churn/model.yaml: has a duplicate key 'owners' (line " in result.stdout, result.stdout
    head = git(churn, "rev-parse", "HEAD")
    result = reg(churn, "annotate", "churn", "--description", "x")
    assert result.exit_code == 1
    assert result.stderr.startswith("error: models/churn/model.yaml has a duplicate key 'owners' (line ")
    assert result.stderr.count("\n") == 1
    assert git(churn, "rev-parse", "HEAD") == head


def test_a_typed_revert_line_does_not_skip_the_gates(churn, reg):
    # v3 was never in staging: a commit saying "This reverts commit ..." is not a rollback of anything
    _edit(churn, "models/churn/3/manifest.yaml", lambda d: d.update(stage="staging"))
    git(churn, "add", "-A", "models")
    git(churn, "commit", "-qm", "Put v3 back\n\nThis reverts commit 1234567.")
    result = reg(churn, "check", "--base", "base")
    assert result.exit_code == 1, result.output
    assert "churn v3 moved none -> staging in " in result.stdout
    assert "gate roc_auc >= 0.80 failed: roc_auc = 0.7, needs >= 0.80" in result.stdout


def test_a_forced_trailer_inside_the_body_does_not_excuse_failed_gates(churn, reg):
    # Only the last paragraph holds trailers; a description quoting one is text.
    _edit(churn, "models/churn/3/manifest.yaml", lambda d: d.update(stage="staging"))
    git(churn, "add", "-A", "models")
    git(churn, "commit", "-qm", "Stage v3\n\nReason: trust me\nReg-Forced: roc_auc >= 0.80\n\nReviewed by the team.")
    result = reg(churn, "check", "--base", "base")
    assert result.exit_code == 1, result.output
    assert "gate roc_auc >= 0.80 failed: roc_auc = 0.7, needs >= 0.80" in result.stdout


def test_check_help_names_its_values(churn, reg):
    result = reg(churn, "check", "--help")
    assert "--base REV" in result.stdout and "--format FORMAT" in result.stdout
