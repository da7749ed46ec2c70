"""Real headless Chromium for the site tests: Debian's `chromium` driven by Playwright's Python package
(which never downloads a browser of its own here: it is given the system's executable). Imported by
conftest.py.

Where Chromium or Playwright is missing the browser tests skip, saying how to install them; in CI (`CI`
set) they fail instead, so a green CI run always includes them. `.ci/run` installs Chromium.
"""
from __future__ import annotations

import os
import shutil
from dataclasses import dataclass, field

import pytest

ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
        "--disable-component-update", "--disable-sync", "--no-first-run"]
INSTALL = "apt-get update && apt-get install -y chromium"


def executable() -> str | None:
    for candidate in (os.environ.get("REG_CHROMIUM"), "/usr/bin/chromium", shutil.which("chromium"),
                      shutil.which("chromium-browser")):
        if candidate and os.access(candidate, os.X_OK):
            return candidate
    return None


def _unavailable(why: str):
    if os.environ.get("CI"):
        pytest.fail(f"headless Chromium is required in CI: {why}", pytrace=False)
    pytest.skip(f"headless Chromium unavailable: {why}")


@pytest.fixture(scope="session")
def chromium(tmp_path_factory):
    """A browser context on a fresh profile, shared by a worker's browser tests."""
    path = executable()
    if path is None:
        _unavailable(f"no chromium executable (install it: {INSTALL})")
    try:
        from playwright.sync_api import sync_playwright
    except ImportError as exc:
        _unavailable(f"the playwright package is missing ({exc}); pip install -e '.[test]'")
    with sync_playwright() as p:
        try:
            context = p.chromium.launch_persistent_context(
                str(tmp_path_factory.mktemp("chromium-profile")), executable_path=path, headless=True, args=ARGS,
                viewport={"width": 1200, "height": 860}, device_scale_factor=1, locale="en-US", timezone_id="UTC")
        except Exception as exc:  # a broken install must not look like a passing suite outside CI either
            _unavailable(f"{path} did not start: {exc}")
        try:
            yield context
        finally:
            context.close()


@dataclass
class Visit:
    page: object
    problems: list[str] = field(default_factory=list)  # console errors, script errors, failed or remote requests


def visit(context, url: str) -> Visit:
    """Open `url` in a new tab and record anything a user would call broken."""
    page = context.new_page()
    v = Visit(page)
    page.on("console", lambda m: v.problems.append(f"console {m.type}: {m.text}") if m.type in ("error", "warning")
            else None)
    page.on("pageerror", lambda e: v.problems.append(f"script error: {e}"))
    page.on("dialog", lambda d: (v.problems.append(f"dialog: {d.message}"), d.dismiss()))
    page.on("requestfailed", lambda r: v.problems.append(f"request failed: {r.url} {r.failure}"))
    page.on("request", lambda r: None if r.url.startswith(("file://", "data:")) else
            v.problems.append(f"network request: {r.url}"))
    page.goto(url)
    page.wait_for_load_state("load")
    return v
