"""Signed registry changes: who promoted a model cannot be forged.

`signing: required` in models/registry.yaml (or per stage: `signing: {production: required}`) makes every
registry commit and registry tag it covers need a good signature from a key in `models/allowed_signers`
(git's allowed-signers format: `principal [options] keytype key`, e.g. `ada@example.com ssh-ed25519
AAAA...`, with optional `valid-after="20260101"` / `valid-before="20270101"`). The principal of the key
that signed must be the email of the author (commit) or tagger (tag) the change claims, so permissions
judged by that email are judged by the verified signer. Both files are judged as of the base of a change.

reg signs with the user's own git setup (`gpg.format`, `user.signingkey`): SSH keys are verified against
`models/allowed_signers`; GPG-signed changes are signed the same way but only SSH signatures verify
against that file (git's allowed-signers format is SSH's).
"""
from __future__ import annotations

import contextlib
import os
import re
import tempfile
from dataclasses import dataclass, field
from pathlib import Path

from . import git
from .errors import CorruptState, StateError

ALLOWED_SIGNERS = "models/allowed_signers"
SETUP_HINT = ("set up git signing (`git config gpg.format ssh` and `git config user.signingkey "
              "~/.ssh/id_ed25519.pub`) and ask a registry admin to add your key to models/allowed_signers "
              "as `you@example.com ssh-ed25519 AAAA...`")


@dataclass
class SigningPolicy:
    everywhere: bool = False
    stages: set[str] = field(default_factory=set)

    @property
    def active(self) -> bool:
        return self.everywhere or bool(self.stages)

    def required_for(self, stages: set[str] | None) -> bool:
        """Whether a change touching these stages (from or to; None: not a stage change) needs a signature."""
        return self.everywhere or bool(self.stages & (stages or set()))


def policy(raw_settings: dict, where: str = "models/registry.yaml") -> SigningPolicy:
    value = (raw_settings or {}).get("signing")
    if value in (None, False, "off", "optional", "none"):
        return SigningPolicy()
    if value in (True, "required"):
        return SigningPolicy(everywhere=True)
    if isinstance(value, dict):
        if value.get("required") is True or value.get("required") == "required":
            return SigningPolicy(everywhere=True)
        stages = value.get("stages")
        if isinstance(stages, list):
            return SigningPolicy(stages={str(s).lower() for s in stages})
        picked = {str(k).lower() for k, v in value.items() if v in ("required", True)}
        if picked or not value:
            return SigningPolicy(stages=picked)
    raise CorruptState(f"{where}: 'signing' must be `required`, `off`, or per stage such as "
                       "{production: required}")


POLICY_FILE_RE = re.compile(r"^models/(registry\.yaml|allowed_signers|[^/]+/model\.yaml)$")


def required_for_change(pol: SigningPolicy, files: list[str], stages: set[str]) -> bool:
    """Whether a change of these registry files, moving versions into or out of these stages, must be signed:
    everywhere; per stage, a move or pointer of such a stage; and, whenever any signing is required, a change
    of policy (registry.yaml, allowed_signers, a model.yaml), so a forged author cannot loosen the rules."""
    if not files or not pol.active:
        return False
    if pol.everywhere or any(POLICY_FILE_RE.match(f) for f in files):
        return True
    pointers = {f.split("/")[2][:-4] for f in files if f.count("/") == 2 and f.endswith(".dvc")}
    return pol.required_for({s.lower() for s in stages} | pointers)


def preflight(root: Path, settings) -> None:
    """Before any work (an artifact copy included): refuse when every change here must be signed, or new
    versions enter a stage that must, and git has no signing key."""
    pol = settings.signing or SigningPolicy()
    if pol.required_for({settings.initial_stage}):
        sign_flags(root, True, pol, {settings.initial_stage})


def flags_for_change(root: Path, cs) -> tuple[list[str], list[str]]:
    """`sign_flags` for a ChangeSet about to be committed (its paths, and the stages its trailers name)."""
    from . import settings as settings_mod

    pol = settings_mod.read(root).signing or SigningPolicy()
    stages = {str(cs.trailers.get(k)) for k in ("Reg-From", "Reg-To", "Reg-Stage") if cs.trailers.get(k)}
    return sign_flags(root, required_for_change(pol, cs.paths, stages), pol, stages)


def sign_flags(root: Path, required: bool, pol: SigningPolicy | None = None,
               stages: set[str] | None = None) -> tuple[list[str], list[str]]:
    """Flags for `git commit-tree` and `git tag` so the change is signed with the user's own key (when the
    registry requires it here, or the user asks git to sign everything: commit.gpgsign); raises before
    anything changes when it is required and the user has no signing setup."""
    wanted = required or (git.config(root, "commit.gpgsign") or "").lower() == "true"
    if not wanted:
        return [], []
    if not has_signing_key(root):
        if required:
            raise StateError(f"this registry requires signed changes{_where(pol, stages)}, and git has no signing "
                             f"key here: {SETUP_HINT}")
        return [], []
    return ["-S"], ["-s"]


def failed(exc: Exception) -> str:
    """git could not sign (a key file missing, an agent not running): what to do."""
    return (f"git could not sign the change ({exc}); check `git config user.signingkey` and `gpg.format` "
            "(an SSH key file, or a GPG key id), then run the command again")


def has_signing_key(root: Path) -> bool:
    fmt = (git.config(root, "gpg.format") or "openpgp").lower()
    key = git.config(root, "user.signingkey")
    if fmt == "ssh":
        return bool(key) or bool(git.config(root, "gpg.ssh.defaultKeyCommand"))
    return bool(key)  # openpgp/x509: without a named key gpg may still pick one, but we do not guess


def _where(pol: SigningPolicy | None, stages) -> str:
    named = sorted(pol.stages & {s.lower() for s in stages or ()}) if pol and not pol.everywhere else []
    return f" for {', '.join(named)}" if named else ""


@contextlib.contextmanager
def allowed_signers_file(text: str | None):
    """The base's models/allowed_signers as a file git can read (empty when there is none)."""
    fd, name = tempfile.mkstemp(prefix="reg-allowed-signers-")
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as fh:
            fh.write(text or "")
        yield Path(name)
    finally:
        with contextlib.suppress(OSError):
            os.unlink(name)


def problem(sig: git.SignatureInfo, what: str, claims: str = "author") -> str | None:
    """Why a change's signature is not good enough where signing is required; None when it is."""
    if sig.status == "none":
        return f"{what} is not signed, and this registry requires signed changes: {SETUP_HINT}"
    if sig.status == "bad":
        return f"{what} has a signature that does not verify (changed after signing?): sign it again"
    if sig.status == "expired":
        return (f"{what} is signed by {sig.principal} with key {sig.key}, which models/allowed_signers does not "
                "allow now (past its valid-before, or before its valid-after); ask a registry admin to renew it")
    if sig.status == "unknown" or not sig.principal:
        gpg = "" if (sig.key or "").startswith("SHA256:") else (
            " (models/allowed_signers lists SSH keys; a GPG signature cannot be verified against it)")
        return (f"{what} is signed by key {sig.key or '(unknown)'}, which models/allowed_signers does not list"
                f"{gpg}; ask a registry admin to add it")
    if (sig.email or "").lower() != sig.principal.lower():
        return (f"{what} is signed by {sig.principal} but claims {claims} {sig.email}: a change must be signed "
                "by the person it names")
    return None


def describe(sig: git.SignatureInfo | None) -> dict | None:
    """For `reg history` and `show --at`: who signed and whether it verified (a listed key, valid when it
    signed, whose principal is the author the commit claims)."""
    if sig is None:
        return None
    return {"status": sig.status, "signed_by": sig.principal, "key": sig.key,
            "verified": sig.status == "good" and (sig.email or "").lower() == (sig.principal or "").lower()}


def summary(signed: dict | None) -> str:
    """One cell of `reg history`: the verified signer, or why there is none."""
    if not signed:
        return "-"
    if signed["verified"]:
        return signed["signed_by"]
    if signed["status"] == "none":
        return "unsigned"
    if signed["status"] == "good":
        return f"{signed['signed_by']} (not the author)"
    return f"not verified ({signed['status']} key)" if signed["status"] != "bad" else "bad signature"
