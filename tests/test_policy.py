"""Gates and permissions (issue 3 "Gates", issue 5 item 3): reg promote refuses with every check, its
value and threshold; --force --reason is recorded; permissions refuse early by git user.email."""
from __future__ import annotations

import json

import pytest
import yaml

from registry import Registry, policy

from .conftest import git, snapshot

GATES = """\
owners: [ada@example.com]
gates:
  staging:
    metrics: {roc_auc: ">= 0.80", log_loss: "<= 0.45"}
  production:
    from: staging
    beat_current: roc_auc
    require_reason: true
"""


def _write_card(root, text, name="churn"):
    path = root / f"models/{name}/model.yaml"
    path.write_text(f"name: {name}\ndescription: ''\n" + text)
    git(root, "add", str(path))
    git(root, "commit", "-qm", "gates")


def _register(reg, root, artifact, tmp_path, **metrics):
    f = tmp_path / f"m{len(list(tmp_path.glob('m*.json')))}.json"
    f.write_text(json.dumps(metrics))
    (artifact / "model.txt").write_text(f"tree\n{metrics}\n")
    result = reg(root, "register", "churn", str(artifact), "--metrics", str(f))
    assert result.exit_code == 0, result.output
    return result


@pytest.fixture
def gated(registry, reg, artifact, tmp_path):
    _register(reg, registry, artifact, tmp_path, roc_auc=0.85, log_loss=0.40)    # v1: passes staging
    _register(reg, registry, artifact, tmp_path, roc_auc=0.77123, log_loss=0.52)  # v2: fails both
    _write_card(registry, GATES)
    return registry


def test_failing_gate_lists_every_check_and_changes_nothing(gated, reg):
    before = snapshot(gated)
    result = reg(gated, "promote", "churn", "2", "staging")
    assert result.exit_code == 1
    assert result.stderr == (
        "error: churn v2 cannot move to staging: 2 of 2 checks failed\n"
        "  FAIL roc_auc >= 0.80: roc_auc = 0.7712, needs >= 0.80\n"
        "  FAIL log_loss <= 0.45: log_loss = 0.52, needs <= 0.45\n"
        "Fix the model, or override with --force --reason TEXT (recorded in the commit and manifest).\n")
    assert snapshot(gated) == before


def test_passing_gates_promote(gated, reg):
    assert reg(gated, "promote", "churn", "1", "staging").exit_code == 0
    # production: from staging, reason required, nothing to beat yet
    result = reg(gated, "promote", "churn", "2", "production", "--reason", "x")
    assert result.exit_code == 1
    assert "  FAIL from: staging: v2 is in none, needs to be in staging\n" in result.stderr
    result = reg(gated, "promote", "churn", "1", "production")
    assert result.exit_code == 1
    assert "  FAIL reason required: no reason given; pass --reason TEXT\n" in result.stderr
    assert "  ok   beat_current: roc_auc: no version is in production yet\n" in result.stderr
    assert result.stderr.endswith("Pass --reason TEXT saying why.\n") and "--force" not in result.stderr
    result = reg(gated, "promote", "churn", "1", "production", "--reason", "launch")
    assert result.exit_code == 0, result.output


def test_beat_current_compares_with_the_production_version(gated, reg, artifact, tmp_path):
    reg(gated, "promote", "churn", "1", "staging")
    assert reg(gated, "promote", "churn", "1", "production", "--reason", "launch").exit_code == 0
    _register(reg, gated, artifact, tmp_path, roc_auc=0.83, log_loss=0.30)  # v3: staging ok, worse than v1
    assert reg(gated, "promote", "churn", "3", "staging").exit_code == 0
    result = reg(gated, "promote", "churn", "3", "production", "--reason", "newer")
    assert result.exit_code == 1
    assert "  FAIL beat_current: roc_auc: roc_auc = 0.83, needs >= 0.85 (v1 in production)\n" in result.stderr


def test_force_needs_a_reason_and_is_recorded(gated, reg):
    before = snapshot(gated)
    result = reg(gated, "promote", "churn", "2", "staging", "--force")
    assert result.exit_code == 1
    assert result.stderr == "error: --force needs --reason TEXT saying why the gates are overridden (it is recorded)\n"
    assert snapshot(gated) == before
    result = reg(gated, "promote", "churn", "2", "staging", "--force", "--reason", "needed for the A/B test")
    assert result.exit_code == 0, result.output
    message = git(gated, "log", "-1", "--format=%B")
    assert "Reg-Forced: roc_auc >= 0.80 (roc_auc = 0.7712, needs >= 0.80); log_loss <= 0.45 (log_loss = 0.52, " \
           "needs <= 0.45)" in message
    assert "Forced past failed gates:\n  roc_auc >= 0.80: roc_auc = 0.7712, needs >= 0.80" in message
    manifest = yaml.safe_load((gated / "models/churn/2/manifest.yaml").read_text())
    assert manifest["stage"] == "staging"
    [override] = manifest["overrides"]
    assert override["stage"] == "staging" and override["reason"] == "needed for the A/B test"
    assert override["by"] == "Ada Lovelace <ada@example.com>"
    assert override["failed"] == ["roc_auc >= 0.80: roc_auc = 0.7712, needs >= 0.80",
                                  "log_loss <= 0.45: log_loss = 0.52, needs <= 0.45"]
    # A passing promotion records no override.
    reg(gated, "promote", "churn", "1", "staging")
    assert "overrides" not in yaml.safe_load((gated / "models/churn/1/manifest.yaml").read_text())
    assert "Reg-Forced" not in git(gated, "log", "-1", "--format=%B")


def test_permissions_refuse_early(gated, reg, monkeypatch):
    card = (gated / "models/churn/model.yaml").read_text().replace("name: churn\ndescription: ''\n", "")
    _write_card(gated, card + "permissions:\n  production: [grace@example.com]\n  staging: ['*']\n")
    reg(gated, "promote", "churn", "1", "staging")
    before = snapshot(gated)
    result = reg(gated, "promote", "churn", "1", "production", "--reason", "launch", "--force")
    assert result.exit_code == 1
    assert result.stderr == ("error: ada@example.com may not move churn to production (permissions.production: "
                             "grace@example.com); ask an owner, or change permissions in models/churn/model.yaml "
                             "(--force does not override permissions)\n")
    assert snapshot(gated) == before
    # Judged by the author, as `reg check` and the server hook judge the commit: a committer alone is not enough.
    monkeypatch.setenv("GIT_COMMITTER_EMAIL", "grace@example.com")
    assert reg(gated, "promote", "churn", "1", "production", "--reason", "launch").exit_code == 1
    monkeypatch.setenv("GIT_AUTHOR_EMAIL", "Grace@Example.com")
    monkeypatch.setenv("GIT_AUTHOR_NAME", "Grace Hopper")
    assert reg(gated, "promote", "churn", "1", "production", "--reason", "launch").exit_code == 0
    # archived is not listed: open to the owners only (ada), not to grace
    result = reg(gated, "archive", "churn", "1")
    assert result.exit_code == 1
    assert "grace@example.com may not move churn to archived (owners: ada@example.com)" in result.stderr


@pytest.mark.parametrize("spec, message", [
    ("gates:\n  staging:\n    metrics: {roc_auc: high}\n",
     "models/churn/model.yaml: gates.staging.metrics.roc_auc: 'high' is not a comparison such as '>= 0.80'"),
    ("gates:\n  prod:\n    require_reason: true\n",
     "models/churn/model.yaml: gates.prod: unknown stage; the stages are none, staging, production, archived"),
    ("gates:\n  production:\n    form: staging\n",
     "models/churn/model.yaml: gates.production: unknown key 'form'"),
    ("permissions: [ada@example.com]\n", "models/churn/model.yaml: 'permissions' must map a stage"),
])
def test_bad_gate_spec_names_the_file(gated, reg, spec, message):
    _write_card(gated, spec)
    before = snapshot(gated)
    result = reg(gated, "promote", "churn", "1", "staging")
    assert result.exit_code == 1
    assert result.stderr.startswith("error: " + message), result.stderr
    assert snapshot(gated) == before


def test_gate_checks_api_with_fresh_metrics(gated):
    state = Registry(gated).state()
    model = state.model("churn")
    v2 = model.versions[2]
    checks = policy.gate_checks(state, model, v2, "staging", metrics={"roc_auc": 0.9, "log_loss": 0.2})
    assert [(c.name, c.passed, c.detail) for c in checks] == [
        ("roc_auc >= 0.80", True, "roc_auc = 0.9, needs >= 0.80"),
        ("log_loss <= 0.45", True, "log_loss = 0.2, needs <= 0.45")]
    checks = policy.gate_checks(state, model, v2, "staging", metrics={"roc_auc": 0.9})
    assert checks[1] == policy.Check("log_loss <= 0.45", False, "v2 has no log_loss, needs <= 0.45")
    with pytest.raises(policy.PolicyError) as info:
        policy.check_promotion(state, model, v2, "staging", reason=None, force=False, actor="ada@example.com")
    assert "FAIL roc_auc >= 0.80: roc_auc = 0.7712, needs >= 0.80" in str(info.value)


def test_gates_judge_the_latest_validation_when_there_is_one(gated, reg):
    # v2 trained poorly, but its latest `reg validate` record scored well on the holdout set
    path = gated / "models/churn/2/manifest.yaml"
    path.write_text(path.read_text() + "validations:\n  - at: '2026-11-25T10:00:00Z'\n"
                                       "    metrics: {roc_auc: 0.86, log_loss: 0.33}\n")
    git(gated, "commit", "-qam", "validated")
    result = reg(gated, "promote", "churn", "2", "staging")
    assert result.exit_code == 0, result.output
    assert reg(gated, "check", "--base", "HEAD~2").exit_code == 0
