"""Signed promotions (issue 16): who promoted a model cannot be forged. Real SSH keys made by ssh-keygen
here, real `git commit -S` / `git tag -s` and reg's own signing, a real bare repository with the hook."""
from __future__ import annotations

import json
import os
import subprocess
from pathlib import Path

import pytest
import yaml

from .conftest import git, snapshot
from .servers import act_as, hooked_remote, make_clone, push, refused

CARD = """\
name: churn
description: ''
owners: [ada@example.com]
permissions:
  production: [ada@example.com, bob@example.com]
  staging: ["*"]
"""

pytestmark = pytest.mark.slow


def _key(folder: Path, who: str) -> Path:
    path = folder / who
    subprocess.run(["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-C", who, "-f", str(path)], check=True)
    return path


def _public(key: Path) -> str:
    return " ".join(key.with_suffix(".pub").read_text().split()[:2])


def _sign_as(clone: Path, who: str, key: Path | None) -> None:
    """The identity a clone claims (user.email) and the key it signs with (none: unset)."""
    act_as(clone, who)
    git(clone, "config", "gpg.format", "ssh")
    if key is None:
        git(clone, "config", "--unset", "user.signingkey", check=False)
    else:
        git(clone, "config", "user.signingkey", str(key))


@pytest.fixture
def keys(tmp_path):
    folder = tmp_path / "keys"
    folder.mkdir()
    return {who: _key(folder, who) for who in ("ada", "eve", "bob", "mallory")}


@pytest.fixture
def signed_server(tmp_path, registry, reg, artifact, keys):
    """Ada made the registry and owns churn (v1 in staging). models/allowed_signers lists Ada's and Eve's
    keys and Bob's, which expired at the start of 2020; `signing: required`. A hooked bare repository
    holds it; `clone` is a fresh clone of it."""
    m = artifact.parent / "m.json"
    m.write_text(json.dumps({"roc_auc": 0.91}))
    assert reg(registry, "register", "churn", str(artifact), "--metrics", str(m)).exit_code == 0
    (registry / "models/churn/model.yaml").write_text(CARD)
    (registry / "models/allowed_signers").write_text(
        f"ada@example.com {_public(keys['ada'])}\n"
        f"eve@example.com {_public(keys['eve'])}\n"
        f'bob@example.com valid-before="20200101" {_public(keys["bob"])}\n')
    with open(registry / "models/registry.yaml", "a") as fh:
        fh.write("signing: required\n")
    _sign_as(registry, "ada", keys["ada"])
    git(registry, "add", "-A")
    git(registry, "commit", "-qS", "-m", "Ada's rules: signed changes, her key")
    # reg signs its own commit and tag now that the registry requires it
    assert reg(registry, "promote", "churn", "1", "staging").exit_code == 0
    bare = hooked_remote(registry, tmp_path / "server.git", reg)
    return bare, make_clone(bare, tmp_path / "clone")


def _promotion(reg, clone, keys, *, author: str, signer: str | None) -> str:
    """A promotion of churn v1 to production made with reg, then re-made as the attack needs: authored as
    `author`, the commit and its stage tag signed by `signer`'s key (None: unsigned). Returns the tag."""
    _sign_as(clone, "ada", keys["ada"])
    assert reg(clone, "promote", "churn", "1", "production", "--no-push").exit_code == 0
    tag = git(clone, "tag", "--points-at", "HEAD").split()[0]
    message = git(clone, "cat-file", "tag", tag).split("\n\n", 1)[1].split("-----BEGIN")[0]
    _sign_as(clone, author, keys[signer] if signer else None)
    git(clone, "commit", "-q", "--amend", "--no-edit", "--reset-author",
        *(["-S"] if signer else ["--no-gpg-sign"]))
    git(clone, "tag", "-d", tag)
    git(clone, "tag", "-s" if signer else "-a", tag, "-m", message)
    return tag


def test_the_owners_signed_promotion_is_accepted_and_history_says_who_signed(signed_server, reg, keys, tmp_path):
    bare, clone = signed_server
    _sign_as(clone, "ada", keys["ada"])
    result = reg(clone, "promote", "churn", "1", "production", "--push", "--reason", "better AUC")
    assert result.exit_code == 0, result.output
    tag = git(bare, "describe", "--tags", "--exact-match", "main").strip()
    assert tag.startswith("churn#production#")
    signers = tmp_path / "as"
    signers.write_text(f"ada@example.com {_public(keys['ada'])}\n")
    for what in (["verify-commit", "main"], ["verify-tag", tag]):
        proc = subprocess.run(["git", "-c", f"gpg.ssh.allowedSignersFile={signers}", *what], cwd=str(bare),
                              capture_output=True, text=True)
        assert proc.returncode == 0 and 'Good "git" signature for ada@example.com' in proc.stderr, proc.stderr
    # reg check judges the same range as the hook did, and history says who signed
    assert reg(clone, "check", "--base", "HEAD~1").exit_code == 0
    events = json.loads(reg(clone, "history", "churn", "--json").stdout)
    assert events[0]["to_stage"] == "production"
    assert events[0]["signed"] == {"status": "good", "signed_by": "ada@example.com", "verified": True,
                                   "key": events[0]["signed"]["key"]}
    assert events[0]["signed"]["key"].startswith("SHA256:")
    register = [e for e in events if e["action"] == "register"][0]
    assert register["signed"]["status"] == "none" and register["signed"]["verified"] is False
    text = reg(clone, "history", "churn").stdout
    assert "signed by" in text.splitlines()[0]
    assert "ada@example.com" in text.splitlines()[2].split()[-1] and "unsigned" in text
    shown = reg(clone, "show", "churn/production", "--rev", "HEAD").stdout
    assert "signed by: ada@example.com" in shown


def test_an_unsigned_promotion_with_a_forged_author_is_refused(signed_server, reg, keys):
    bare, clone = signed_server
    tag = _promotion(reg, clone, keys, author="ada", signer=None)
    sha = git(clone, "rev-parse", "--short=8", "HEAD").strip()
    stderr = refused(bare, clone, "HEAD:main", f"refs/tags/{tag}",
                     says=f"commit {sha} is not signed, and this registry requires signed changes")
    assert f"refs/tags/{tag}: tag {tag} is not signed" in stderr


def test_a_promotion_signed_by_a_key_not_allowed_is_refused(signed_server, reg, keys):
    bare, clone = signed_server
    tag = _promotion(reg, clone, keys, author="ada", signer="mallory")
    sha = git(clone, "rev-parse", "--short=8", "HEAD").strip()
    stderr = refused(bare, clone, "HEAD:main", f"refs/tags/{tag}", says=f"commit {sha} is signed by key SHA256:")
    assert "which models/allowed_signers does not list; ask a registry admin to add it" in stderr


def test_an_allowed_key_signing_for_someone_else_is_refused(signed_server, reg, keys):
    bare, clone = signed_server
    tag = _promotion(reg, clone, keys, author="ada", signer="eve")
    sha = git(clone, "rev-parse", "--short=8", "HEAD").strip()
    stderr = refused(bare, clone, "HEAD:main", f"refs/tags/{tag}",
                     says=f"commit {sha} is signed by eve@example.com but claims author ada@example.com")
    assert f"tag {tag} is signed by eve@example.com but claims tagger ada@example.com" in stderr
    # Eve signing as herself is verified, and then it is her permission that is judged: she has none
    git(clone, "reset", "-q", "--hard", "origin/main")
    git(clone, "tag", "-d", tag)
    tag = _promotion(reg, clone, keys, author="eve", signer="eve")
    refused(bare, clone, "HEAD:main", f"refs/tags/{tag}", says="by eve@example.com: not allowed")


def test_a_key_past_its_valid_before_is_refused(signed_server, reg, keys):
    bare, clone = signed_server
    tag = _promotion(reg, clone, keys, author="bob", signer="bob")
    sha = git(clone, "rev-parse", "--short=8", "HEAD").strip()
    stderr = refused(bare, clone, "HEAD:main", f"refs/tags/{tag}",
                     says=f"commit {sha} is signed by bob@example.com with key SHA256:")
    assert "which models/allowed_signers does not allow now (past its valid-before" in stderr
    # a back-dated commit does not revive the key: the push is judged when it arrives
    git(clone, "reset", "-q", "--hard", "origin/main")
    git(clone, "tag", "-d", tag)
    tag = _promotion(reg, clone, keys, author="bob", signer="bob")
    subprocess.run(["git", "commit", "-q", "--amend", "--no-edit", "-S", "--date", "2019-06-01T00:00:00"],
                   cwd=str(clone), check=True, env={**os.environ, "GIT_COMMITTER_DATE": "2019-06-01T00:00:00"})
    refused(bare, clone, "HEAD:main", says="past its valid-before")


def test_a_signed_tag_is_needed_too(signed_server, reg, keys):
    bare, clone = signed_server
    _sign_as(clone, "ada", keys["ada"])
    assert reg(clone, "promote", "churn", "1", "production", "--no-push").exit_code == 0
    tag = git(clone, "tag", "--points-at", "HEAD").split()[0]
    git(clone, "tag", "-f", "-a", tag, "-m", "re-made without a signature")
    refused(bare, clone, "HEAD:main", f"refs/tags/{tag}", says=f"refs/tags/{tag}: tag {tag} is not signed")


def test_allowed_signers_is_changed_only_by_an_admin_and_only_signed(signed_server, reg, keys):
    bare, clone = signed_server
    # Eve's key is allowed, but she is no admin: she cannot add Mallory
    _sign_as(clone, "eve", keys["eve"])
    with open(clone / "models/allowed_signers", "a") as fh:
        fh.write(f"mallory@example.com {_public(keys['mallory'])}\n")
    git(clone, "commit", "-qaS", "-m", "add a friend")
    refused(bare, clone, "HEAD:main", says="models/allowed_signers: the allowed signers changed in ")
    # claiming to be Ada, unsigned, is refused for the signature
    git(clone, "reset", "-q", "--hard", "origin/main")
    _sign_as(clone, "ada", None)
    with open(clone / "models/allowed_signers", "a") as fh:
        fh.write(f"mallory@example.com {_public(keys['mallory'])}\n")
    git(clone, "commit", "-qa", "-m", "add a friend")
    refused(bare, clone, "HEAD:main", says="is not signed, and this registry requires signed changes")
    # Ada, signed, may
    _sign_as(clone, "ada", keys["ada"])
    git(clone, "commit", "-q", "--amend", "--no-edit", "-S")
    assert push(clone, "HEAD:main").returncode == 0


def test_a_forge_merge_is_judged_by_the_signed_commits_it_brings(signed_server, reg, keys):
    """A merge button makes an unsigned merge (or one signed by the forge's key): the signed promotion it
    brings is what is judged. A merge that itself changes the registry must be signed."""
    bare, clone = signed_server
    _sign_as(clone, "ada", keys["ada"])
    git(clone, "checkout", "-q", "-b", "promote")
    assert reg(clone, "promote", "churn", "1", "production", "--no-push").exit_code == 0
    tag = git(clone, "tag", "--points-at", "HEAD").split()[0]
    git(clone, "checkout", "-q", "main")
    (clone / "notes.txt").write_text("unrelated\n")
    git(clone, "add", "notes.txt")
    git(clone, "commit", "-qS", "-m", "notes")
    _sign_as(clone, "forge", None)  # the forge: unsigned, and no registry permission of its own
    git(clone, "merge", "-q", "--no-ff", "--no-gpg-sign", "-m", "Merge pull request #7", "promote")
    before = git(clone, "rev-parse", "HEAD").strip()
    # the same merge with a registry change of its own slipped into the resolution is refused
    git(clone, "reset", "-q", "--hard", "HEAD~1")
    git(clone, "merge", "-q", "--no-ff", "--no-commit", "promote")
    path = clone / "models/churn/1/manifest.yaml"
    data = yaml.safe_load(path.read_text())
    data["description"] = "slipped in"
    path.write_text(yaml.safe_dump(data, sort_keys=False))
    git(clone, "add", "-A")
    git(clone, "commit", "-q", "--no-gpg-sign", "-m", "Merge pull request #7")
    refused(bare, clone, "HEAD:main", f"refs/tags/{tag}",
            says="(a merge that changes the registry itself) is not signed")
    git(clone, "reset", "-q", "--hard", before)
    assert push(clone, "HEAD:main", f"refs/tags/{tag}").returncode == 0


def test_reg_refuses_before_any_work_without_a_signing_key(signed_server, reg, keys, artifact, storage):
    _, clone = signed_server
    _sign_as(clone, "ada", None)
    git(clone, "config", "--unset", "gpg.format")
    storage_before = sorted(p.name for p in Path(storage).rglob("*"))
    before = snapshot(clone)
    m = artifact.parent / "m2.json"
    m.write_text(json.dumps({"roc_auc": 0.95}))
    for args in (["register", "churn", str(artifact), "--metrics", str(m)], ["promote", "churn", "1", "production"],
                 ["promote", "churn", "1", "production", "--propose"]):
        result = reg(clone, *args)
        assert result.exit_code != 0
        assert "this registry requires signed changes, and git has no signing key here" in result.output
        assert "git config gpg.format ssh" in result.output and "models/allowed_signers" in result.output
        assert snapshot(clone) == before
        assert not (clone / "models/churn/2").exists()
        assert sorted(p.name for p in Path(storage).rglob("*")) == storage_before
    assert git(clone, "branch", "-a", "--list", "*reg/*") == ""


def test_per_stage_signing_covers_only_that_stage(tmp_path, registry, reg, artifact, keys):
    """`signing: {production: required}`: a promotion to staging needs no key, one to production does,
    and reg check names the unsigned production change (but not the staging one)."""
    m = artifact.parent / "m.json"
    m.write_text(json.dumps({"roc_auc": 0.91}))
    assert reg(registry, "register", "churn", str(artifact), "--metrics", str(m)).exit_code == 0
    with open(registry / "models/registry.yaml", "a") as fh:
        fh.write("signing: {production: required}\n")
    git(registry, "commit", "-qam", "production changes are signed")
    base = git(registry, "rev-parse", "HEAD").strip()
    assert reg(registry, "promote", "churn", "1", "staging").exit_code == 0
    before = snapshot(registry)
    refused = reg(registry, "promote", "churn", "1", "production")
    assert refused.exit_code != 0 and "requires signed changes for production" in refused.output
    assert snapshot(registry) == before
    assert reg(registry, "check", "--base", base).exit_code == 0
    # a hand-made promotion without a signature is found by reg check
    _sign_as(registry, "ada", keys["ada"])
    assert reg(registry, "promote", "churn", "1", "production").exit_code == 0
    git(registry, "commit", "-q", "--amend", "--no-edit", "--no-gpg-sign")
    result = reg(registry, "check", "--base", base)
    assert result.exit_code != 0
    assert "is not signed, and this registry requires signed changes" in result.output


def test_a_propose_branch_is_signed_and_accepted(signed_server, reg, keys, tmp_path):
    bare, clone = signed_server
    _sign_as(clone, "ada", keys["ada"])
    result = reg(clone, "promote", "churn", "1", "production", "--propose", "--reason", "review me")
    assert result.exit_code == 0, result.output
    branch = git(bare, "for-each-ref", "--format=%(refname:short)", "refs/heads/reg/").split()
    assert branch == ["reg/churn-v1-production"]
    signers = tmp_path / "as"
    signers.write_text(f"ada@example.com {_public(keys['ada'])}\n")
    proc = subprocess.run(["git", "-c", f"gpg.ssh.allowedSignersFile={signers}", "verify-commit", branch[0]],
                          cwd=str(bare), capture_output=True, text=True)
    assert proc.returncode == 0 and "ada@example.com" in proc.stderr, proc.stderr


def test_reg_signs_with_a_gpg_key_too(tmp_path, registry, reg, artifact, monkeypatch):
    """gpg.format openpgp: reg's commits and tags carry the GPG signature; models/allowed_signers holds SSH
    keys, so where signing is required reg check says a GPG signature cannot be verified against it."""
    home = tmp_path / "gnupg"
    home.mkdir(mode=0o700)
    monkeypatch.setenv("GNUPGHOME", str(home))
    subprocess.run(["gpg", "--batch", "--quiet", "--passphrase", "", "--quick-gen-key",
                    "Ada Lovelace <ada@example.com>", "ed25519", "sign", "never"], check=True, capture_output=True)
    fpr = [ln.split(":")[9] for ln in subprocess.run(["gpg", "--list-secret-keys", "--with-colons"],
                                                     capture_output=True, text=True).stdout.splitlines()
           if ln.startswith("fpr")][0]
    try:
        m = artifact.parent / "m.json"
        m.write_text(json.dumps({"roc_auc": 0.91}))
        assert reg(registry, "register", "churn", str(artifact), "--metrics", str(m)).exit_code == 0
        with open(registry / "models/registry.yaml", "a") as fh:
            fh.write("signing: required\n")
        git(registry, "commit", "-qam", "signed changes")
        base = git(registry, "rev-parse", "HEAD").strip()
        git(registry, "config", "user.signingkey", fpr)
        result = reg(registry, "promote", "churn", "1", "staging")
        assert result.exit_code == 0, result.output
        assert "Good signature" in subprocess.run(["git", "verify-commit", "HEAD"], cwd=str(registry),
                                                  capture_output=True, text=True).stderr
        assert "Good signature" in subprocess.run(["git", "verify-tag", "churn#staging#1"], cwd=str(registry),
                                                  capture_output=True, text=True).stderr
        checked = reg(registry, "check", "--base", base)
        assert checked.exit_code != 0
        assert "a GPG signature cannot be verified against it" in checked.output
    finally:
        subprocess.run(["gpgconf", "--kill", "gpg-agent"], capture_output=True)
