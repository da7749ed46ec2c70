"""Signatures of commits and tags, checked against an allowed-signers file (registry/signing.py and signers.py judge them)."""
from __future__ import annotations

import subprocess
from dataclasses import dataclass
from pathlib import Path

from .core import run

# -- signatures (registry/signing.py judges them) ---------------------------------------------------

@dataclass
class SignatureInfo:
    """What git says of one commit's or tag's signature, checked against an allowed-signers file.
    status: good (a listed key, `principal` its name), unknown (signed, but by no listed key valid at
    that time), expired (a listed key, but not valid now: registry/signers.py), bad (does not verify),
    none (unsigned)."""
    status: str
    principal: str | None = None
    key: str | None = None
    email: str | None = None  # the author (commit) or tagger (tag) it claims


def commit_signatures(root: Path, shas: list[str], allowed_signers: Path) -> dict[str, SignatureInfo]:
    if not shas:
        return {}
    out = run(["-c", f"gpg.ssh.allowedSignersFile={allowed_signers}", "log", "--no-walk=unsorted", "--stdin",
               "--format=%H%x00%G?%x00%GS%x00%GK%x00%ae%x1e"], root, input="\n".join(shas) + "\n")
    found = {}
    for rec in out.split("\x1e"):
        parts = rec.strip("\n").split("\x00")
        if len(parts) < 5:
            continue
        sha, code, principal, key, email = parts[:5]
        status = {"G": "good", "N": "none", "B": "bad"}.get(code, "unknown" if key else "bad")
        if code != "N" and not key.startswith("SHA256:"):
            # GPG (or X.509): git judged it by the local keyring, not the allowed-signers file
            status, principal = "unknown", ""
        found[sha] = SignatureInfo(status, principal or None, key or None, email)
    return found


def tag_signature(root: Path, tag_sha: str, allowed_signers: Path) -> SignatureInfo:
    """The signature of an annotated tag object (`git verify-tag`, whose findings go to stderr)."""
    raw = run(["cat-file", "tag", tag_sha], root)
    tagger = next((ln for ln in raw.splitlines() if ln.startswith("tagger ")), "")
    email = tagger.split("<", 1)[1].split(">", 1)[0] if "<" in tagger else None
    if "-----BEGIN SSH SIGNATURE-----" not in raw and "-----BEGIN " in raw:
        # GPG (or X.509): not verifiable against the allowed-signers file, whatever the local keyring says
        return SignatureInfo("unknown", None, "(a GPG or X.509 key)", email)
    proc = subprocess.run(["git", "-c", f"gpg.ssh.allowedSignersFile={allowed_signers}", "verify-tag", tag_sha],
                          cwd=str(root), capture_output=True, text=True)
    said = proc.stderr + proc.stdout
    if "no signature found" in said:
        return SignatureInfo("none", email=email)
    key = None
    for line in said.splitlines():
        if line.startswith('Good "git" signature'):
            key = line.rsplit(" ", 1)[-1]
            if " for " in line and proc.returncode == 0:
                principal = line.split(" for ", 1)[1].split(" with ", 1)[0]
                return SignatureInfo("good", principal, key, email)
    return SignatureInfo("unknown" if key else "bad", None, key, email)
