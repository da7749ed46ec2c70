"""Issue 15, without a browser: `reg site OUT [--rev REV]` writes one self-contained page per model,
version and comparison; text from manifests is escaped; forge links never carry credentials; OUT is
refused when it is not the site's to replace. The pages in a real browser: test_site_browser.py."""
from __future__ import annotations

import html
import json
import os
import re
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from registry import forge
from registry.site import chart

from .conftest import git, snapshot
from .servers import make_clone
from .siteregistry import CHURN_DATA, HOSTILE, build_once


@pytest.fixture(scope="module")
def published(tmp_path_factory) -> Path:
    """Read by every test here, changed by none."""
    return build_once(tmp_path_factory)


def _site(reg, root: Path, out: Path, *args: str) -> str:
    result = reg(root, "site", str(out), *args)
    assert result.exit_code == 0, result.output
    return result.stdout


def test_one_page_per_model_version_and_comparison(published, reg, tmp_path):
    out = tmp_path / "site"
    head = git(published, "rev-parse", "HEAD").strip()
    said = _site(reg, published, out)
    assert said.strip() == (f"Wrote 10 pages for 2 models (5 versions) from commit {head[:8]} to {out}; "
                            f"open {out / 'index.html'}")
    pages = sorted(p.relative_to(out).as_posix() for p in out.rglob("*.html"))
    assert pages == ["index.html", "models/churn/compare.html", "models/churn/index.html", "models/churn/v1.html",
                     "models/churn/v2.html", "models/churn/v3.html", "models/sales/compare.html",
                     "models/sales/index.html", "models/sales/v1.html", "models/sales/v2.html"]
    assert (out / ".nojekyll").exists()
    assert json.loads((out / ".reg-site").read_text())["commit"] == head
    assert git(published, "status", "--porcelain") == ""  # building reads; it changes nothing


def test_pages_load_nothing_from_the_network(published, reg, tmp_path):
    out = tmp_path / "site"
    _site(reg, published, out)
    for page in out.rglob("*.html"):
        text = page.read_text()
        assert "Content-Security-Policy" in text and "default-src 'none'" in html.unescape(text), page
        assert not re.search(r"<(script|img|link|iframe)[^>]*\ssrc=", text), page
        assert not re.search(r'<link[^>]*rel="stylesheet"', text), page
        assert "@import" not in text and "url(" not in text, page
        # the only absolute links go to the forge, and open there (never loaded by the page)
        for href in re.findall(r'href="([^"]+)"', text):
            assert not href.startswith(("//", "http://")), (page, href)
            if href.startswith("https://"):
                assert href.startswith("https://github.com/acme/models/"), (page, href)


def test_manifest_text_is_escaped_everywhere(published, reg, tmp_path):
    out = tmp_path / "site"
    _site(reg, published, out)
    for page in (out / "index.html", out / "models/sales/index.html", out / "models/sales/v2.html",
                 out / "models/sales/compare.html"):
        text = page.read_text()
        assert '<script>alert("x")' not in text and "<img src=x" not in text, page
        assert text.count("<script") == text.count("</script>") == (2 if page.name == "compare.html" else 1)
    assert "&lt;script&gt;alert(&quot;x&quot;)&lt;/script&gt;" in (out / "models/sales/v2.html").read_text()
    assert HOSTILE not in (out / "models/sales/index.html").read_text()


def test_forge_links_name_commits_and_tags_without_the_token(published, reg, tmp_path):
    out = tmp_path / "site"
    _site(reg, published, out)
    every = "".join(p.read_text() for p in out.rglob("*.html"))
    assert "s3cr3t" not in every and "deploy@" not in every
    v2 = (out / "models/churn/v2.html").read_text()
    promoted = git(published, "rev-list", "-1", "churn#production#3").strip()  # the 3rd stage change of churn
    assert f'href="https://github.com/acme/models/commit/{promoted}"' in v2
    assert 'href="https://github.com/acme/models/releases/tag/churn%23production%233"' in v2
    assert 'href="https://github.com/acme/models/releases/tag/churn%40v2"' in v2
    head = git(published, "rev-parse", "HEAD").strip()
    assert f'href="https://github.com/acme/models/blob/{head}/models/churn/2/manifest.yaml"' in v2


@pytest.mark.parametrize("url, base", [
    ("https://github.com/acme/models.git", "https://github.com/acme/models"),
    ("https://x-access-token:ghp_secret@github.com/acme/models", "https://github.com/acme/models"),
    ("git@github.com:acme/models.git", "https://github.com/acme/models"),
    ("ssh://git@github.com:22/acme/models.git", "https://github.com/acme/models"),
    ("git@gitlab.example.com:ml/platform/models.git", "https://gitlab.example.com/ml/platform/models"),
    ("https://oauth2:glpat-secret@gitlab.com/ml/models.git/", "https://gitlab.com/ml/models"),
])
def test_forge_from_remote_url(url, base):
    f = forge.parse(url)
    assert f is not None and f.base == base
    if "gitlab" in base:
        assert f.commit("abc") == f"{base}/-/commit/abc" and f.tag("churn#production#3") == \
            f"{base}/-/tags/churn%23production%233"
    else:
        assert f.commit("abc") == f"{base}/commit/abc"


@pytest.mark.parametrize("url", ["/srv/git/models.git", "file:///srv/models.git", "https://bitbucket.org/a/b.git",
                                 "https://github.com/acme/models\"><script>", "", None])
def test_no_forge_links_for_other_remotes(url):
    assert forge.parse(url) is None


def test_no_forge_remote_means_plain_commit_ids(registry, reg, tmp_path, artifact, metrics_file):
    assert reg(registry, "register", "churn", str(artifact), "--metrics", str(metrics_file)).exit_code == 0
    out = tmp_path / "site"
    _site(reg, registry, out)
    page = (out / "models/churn/v1.html").read_text()
    assert "https://" not in page
    head = git(registry, "rev-parse", "HEAD").strip()
    assert head[:8] in page and "uncommitted registry changes" not in page
    # the working tree is what is published, and the footer says when it is not the commit
    manifest = registry / "models/churn/1/manifest.yaml"
    manifest.write_text(manifest.read_text().replace("description: ''", "description: edited by hand"))
    _site(reg, registry, out)
    page = (out / "models/churn/v1.html").read_text()
    assert "edited by hand" in page and f"{head[:8]}</span> (" in page and "plus uncommitted registry changes" in page


def test_rev_builds_the_registry_as_it_was(published, reg, tmp_path):
    out = tmp_path / "site"
    at = git(published, "rev-list", "-1", "churn#production#1").strip()  # v1 just went to production
    said = _site(reg, published, out, "--rev", "churn#production#1")
    assert f"from commit {at[:8]}" in said
    assert sorted(p.name for p in (out / "models/churn").glob("v*.html")) == ["v1.html", "v2.html"]
    assert not (out / "models/sales").exists()
    model = (out / "models/churn/index.html").read_text()
    assert re.search(r'data-version="1" data-stage="production"', model)
    assert "trained on leaked data" not in model  # the deletion came later
    # building HEAD into the same folder replaces the old site whole
    _site(reg, published, out)
    assert (out / "models/churn/v3.html").exists() and (out / "models/sales/index.html").exists()
    assert not list(tmp_path.glob(".site.reg-site*"))


def test_compare_page_shows_what_reg_compare_says(published, reg, tmp_path):
    out = tmp_path / "site"
    _site(reg, published, out)
    page = (out / "models/churn/compare.html").read_text()
    said = json.loads(reg(published, "compare", "churn", "2", "3", "--json").stdout)
    # the page's default pair: the production version against the latest
    assert "<h2>v2 (production) vs v3 (none)</h2>" in page
    for m in said["metrics"]:
        assert (f'<td>{m["name"]}</td><td class="n">{m["a"]}</td><td class="n">{m["b"]}</td>'
                f'<td class="n">{m["diff"]:+.4g}</td>') in page, m
    assert [p["name"] for p in said["params_changed"]] == ["learning_rate"]
    assert "<td>learning_rate</td><td>0.05</td><td>0.1</td>" in page
    assert f'<td title="{CHURN_DATA[2]}">{CHURN_DATA[2][:12]}</td><td title="{CHURN_DATA[3]}">' in page
    data = json.loads(re.search(r'<script type="application/json" id="compare-data">(.*?)</script>', page).group(1))
    assert [v["v"] for v in data["versions"]] == [1, 2, 3] and data["default"] == [2, 3]
    assert data["versions"][0]["deleted"] is True


@pytest.mark.parametrize("make, message", [
    (lambda p, out: (out.mkdir(), (out / "notes.txt").write_text("mine")),
     "is not empty and was not written by `reg site`"),
    (lambda p, out: out.write_text("a file"), "exists and is not a folder"),
])
def test_out_that_is_not_the_sites_is_refused_untouched(published, reg, tmp_path, make, message):
    out = tmp_path / "occupied"
    make(published, out)
    before = snapshot(published), sorted(p.name for p in tmp_path.iterdir())
    result = reg(published, "site", str(out))
    assert result.exit_code == 1 and result.stderr.count("\n") == 1 and message in result.stderr
    assert (snapshot(published), sorted(p.name for p in tmp_path.iterdir())) == before
    assert (out / "notes.txt").read_text() == "mine" if out.is_dir() else out.read_text() == "a file"


def test_site_inside_models_or_over_the_checkout_is_refused(published, reg):
    before = snapshot(published)
    inside = reg(published, "site", str(published / "models/site"))
    assert inside.exit_code == 1 and "inside the registry's models/ folder" in inside.stderr
    over = reg(published, "site", str(published))
    assert over.exit_code == 1 and "is not empty and was not written by `reg site`" in over.stderr
    assert snapshot(published) == before and not (published / "models/site").exists()


def test_not_a_registry_or_unknown_revision(repo, reg, tmp_path):
    result = reg(repo, "site", str(tmp_path / "site"))
    assert result.exit_code == 1 and "not a registry yet: run `reg init`" in result.stderr
    assert not (tmp_path / "site").exists()


def test_unknown_revision_is_one_line(published, reg, tmp_path):
    result = reg(published, "site", str(tmp_path / "site"), "--rev", "no-such-branch")
    assert result.exit_code == 1 and "unknown revision 'no-such-branch'" in result.stderr
    assert not (tmp_path / "site").exists()


def test_read_path_does_not_import_the_site_package(published):
    code = ("import sys\nfrom cli.main import app\n"
            "try:\n    app(['-C', sys.argv[1], 'list'], prog_name='reg')\nexcept SystemExit:\n    pass\n"
            "print('registry.site' in sys.modules, 'registry.forge' in sys.modules)")
    out = subprocess.run([sys.executable, "-c", code, str(published)], capture_output=True, text=True, check=True)
    assert out.stdout.strip().splitlines()[-1] == "False False"


TEMPLATES = Path(__file__).resolve().parent.parent / "templates" / "ci"


def test_ci_templates_build_and_publish_the_site_on_the_default_branch(published, tmp_path):
    gh = yaml.safe_load((TEMPLATES / "registry-site.yml").read_text())
    assert "push" in gh[True]  # YAML 1.1 reads the key `on` as true
    build = gh["jobs"]["build"]
    assert build["if"] == "github.ref_name == github.event.repository.default_branch"
    assert build["steps"][0]["with"]["fetch-depth"] == 0
    script = next(s["run"] for s in build["steps"] if s.get("name") == "Build the site")
    upload = next(s for s in build["steps"] if s.get("uses", "").startswith("actions/upload-pages-artifact"))
    assert gh["jobs"]["deploy"]["needs"] == "build"
    assert gh["jobs"]["deploy"]["steps"][0]["uses"].startswith("actions/deploy-pages")
    gl = yaml.safe_load((TEMPLATES / "registry-site.gitlab-ci.yml").read_text())["pages"]
    assert gl["rules"] == [{"if": "$CI_COMMIT_BRANCH == $CI_DEFAULT_BRANCH"}] and gl["variables"]["GIT_DEPTH"] == "0"
    # the build commands as CI runs them: in a fresh full clone, with a `reg` on PATH
    shim = tmp_path / "bin"
    shim.mkdir()
    (shim / "reg").write_text(f'#!/bin/sh\nexec "{sys.executable}" -m cli "$@"\n')
    (shim / "reg").chmod(0o755)
    env = {**os.environ, "PATH": f"{shim}{os.pathsep}{os.environ['PATH']}"}
    for name, commands, out in (("github", script, upload["with"]["path"]),
                                ("gitlab", "\n".join(c for c in gl["script"] if not c.startswith("pip ")),
                                 gl["artifacts"]["paths"][0])):
        clone = make_clone(published, tmp_path / name)
        subprocess.run(["bash", "-euo", "pipefail", "-c", commands], cwd=clone, env=env, check=True,
                       capture_output=True)
        assert (clone / out / "index.html").is_file() and (clone / out / "models/churn/v3.html").is_file(), name


# -- the chart -------------------------------------------------------------------------------------

def _points(n: int) -> list[tuple[int, float, str]]:
    return [(v, 0.8 + v / 1000, "archived") for v in range(1, n + 1)]


def test_chart_is_an_accessible_svg_with_the_stage_changes_marked():
    marks = [chart.Mark(3, "production", "v3 to production"), chart.Mark(5, "staging", "v5 to staging")]
    svg = chart.trend("roc_auc", _points(8), marks, chart_id="c", stages=["none", "staging", "production",
                                                                          "archived"])
    assert svg.startswith("<svg") and 'role="img"' in svg and 'aria-labelledby="c-t c-d"' in svg
    assert '<title id="c-t">roc_auc by version</title>' in svg
    desc = re.search(r'<desc id="c-d">(.*?)</desc>', svg).group(1)
    assert desc == ("roc_auc of 8 versions (v1 to v8): 0.801 at v1, 0.808 at v8; highest 0.808 at v8, lowest 0.801 "
                    "at v1. Stage changes marked: v3 to production, v5 to staging. Each value is in the versions "
                    "table.")
    assert svg.count('<circle class="mark"') == 2 and svg.count('<line class="mark"') == 2
    assert svg.count("<circle ") - 2 - 2 == 8  # a dot per version, two rings, two legend rings
    assert "#1a7f37" in svg and "#9a6700" in svg  # production green, staging amber


def test_chart_of_many_versions_draws_the_line_and_the_marks_only():
    svg = chart.trend("f1", _points(1000), [chart.Mark(500, "production", "v500")], chart_id="c",
                      stages=["none", "staging", "production", "archived"])
    assert svg.count("<circle ") == 2 and len(re.search(r'<polyline points="([^"]+)"', svg).group(1).split()) == 1000
    assert len(svg) < 40_000
    labels = re.findall(r">v(\d+)</text>", svg)
    assert labels[0] == "1" and labels[-1] == "1000" and len(labels) <= 10


def test_ticks_are_round_numbers():
    assert chart.nice_ticks(0.8, 0.9) == [0.8, 0.82, 0.84, 0.86, 0.88, 0.9]
    assert chart.nice_ticks(5, 5) == [5]
    assert chart.version_ticks(1, 1000)[:3] == [1, 200, 400] and chart.version_ticks(1, 1000)[-1] == 1000
    assert chart.version_ticks(7, 7) == [7]
