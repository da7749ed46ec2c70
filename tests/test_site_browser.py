"""Issue 15 in real headless Chromium: the pages `reg site` writes for a registry built with real reg
operations load from file:// with no console error and no network request, show the versions, stages,
aliases and metric values `reg` reports, draw their charts, link only to pages that exist, compare any
two versions as `reg compare` does, and page a model of 1,000 versions. Screenshots of each page kind go
to the test's folder, or to $REG_SITE_SCREENSHOTS (`make screenshots` writes docs/screenshots/)."""
from __future__ import annotations

import json
import os
import subprocess
import urllib.parse
from pathlib import Path

import pytest
from .browser import visit
from .conftest import run_reg
from .siteregistry import CHURN_DATA, HOSTILE, build_once

pytestmark = pytest.mark.slow


def _reg(root: Path, *args: str) -> str:
    result = run_reg(root, *args)
    assert result.exit_code == 0, result.output
    return result.stdout


@pytest.fixture(scope="module")
def published(tmp_path_factory) -> Path:
    return build_once(tmp_path_factory, validated=True)


@pytest.fixture(scope="module")
def site(published, tmp_path_factory) -> Path:
    out = tmp_path_factory.mktemp("site") / "public"
    _reg(published, "site", str(out))
    return out


def url(site: Path, rel: str) -> str:
    return (site / rel).as_uri() if "#" not in rel and "?" not in rel else (site.as_uri() + "/" + rel)


def _text(page, selector: str) -> list[str]:
    return page.eval_on_selector_all(selector, "els => els.map(e => e.innerText.trim())")


def _rows(page, selector: str) -> list[list[str]]:
    return page.eval_on_selector_all(
        selector, "rows => rows.map(r => Array.from(r.cells).map(c => c.innerText.trim()))")


def _visible(page, selector: str) -> bool:
    return page.eval_on_selector(selector, "e => !!(e.offsetWidth || e.offsetHeight || e.getClientRects().length)")


def test_every_page_loads_clean_and_every_link_resolves(chromium, site):
    pages = sorted(site.rglob("*.html"))
    assert len(pages) == 11  # the registry; churn: model, compare, v1-v4; sales: model, compare, v1-v2
    for path in pages:
        v = visit(chromium, path.as_uri())
        assert v.problems == [], f"{path.relative_to(site)}: {v.problems}"
        assert v.page.inner_text("h1").strip()
        for href in v.page.eval_on_selector_all("a[href]", "els => els.map(e => e.href)"):
            parsed = urllib.parse.urlparse(href)
            if parsed.scheme == "https":
                assert href.startswith("https://github.com/acme/models/") and "s3cr3t" not in href, href
                continue
            assert parsed.scheme == "file", href
            target = Path(urllib.parse.unquote(parsed.path))
            assert target.is_file() and site in target.parents, f"{path.relative_to(site)} links to {href}"
        v.page.close()


def test_registry_page_lists_every_model_with_its_holders(chromium, site, published):
    v = visit(chromium, url(site, "index.html"))
    listed = json.loads(_reg(published, "list", "--json"))
    header = _text(v.page, "#models thead th")
    assert header == ["model", "description", "latest", "versions", "staging", "production", "aliases", "owners",
                      "last change"]
    rows = {r[0]: dict(zip(header, r)) for r in _rows(v.page, "#models tbody tr")}
    assert sorted(rows) == [m["name"] for m in listed] == ["churn", "sales"]
    for m in listed:
        row = rows[m["name"]]
        assert row["latest"] == f"v{m['latest']}" and row["versions"] == str(m["versions"])
        assert row["production"] == (f"v{m['production']}" if m["production"] else "-")
        assert row["staging"] == (f"v{m['staging']}" if m["staging"] else "-")
        assert row["aliases"] == (" ".join(f"@{a}=v{n}" for a, n in sorted(m["aliases"].items())) or "-")
        assert row["owners"] == "ada@example.com"
    assert rows["churn"]["production"] == "v2" and rows["churn"]["staging"] == "v4"
    assert rows["churn"]["aliases"] == "@challenger=v2 @champion=v3"
    assert rows["churn"]["description"] == "Predicts which customers cancel next month"
    assert rows["sales"]["description"] == "Weekly sales per store"
    assert "Ada Lovelace: annotate" in rows["sales"]["last change"]
    assert v.problems == []


def test_model_page_shows_versions_stages_aliases_metrics_chart_and_timeline(chromium, site, published):
    v = visit(chromium, url(site, "models/churn/index.html"))
    page = v.page
    shown = json.loads(_reg(published, "show", "churn", "--deleted", "--json"))
    header = _text(page, "#versions thead th")
    assert header == ["version", "stage", "aliases", "roc_auc", "f1", "log_loss", "created at", "created by",
                      "description"]
    rows = [dict(zip(header, r)) for r in _rows(page, "#versions tbody tr")]
    assert [r["version"] for r in rows] == [f"v{m['version']}" for m in reversed(shown)] == ["v4", "v3", "v2", "v1"]
    for row, m in zip(rows, reversed(shown)):
        assert row["stage"] == ("deleted" if m.get("deleted") else m["stage"])
        assert row["aliases"].split() == [f"@{a}" for a in m["aliases"]]
        for k in ("roc_auc", "f1", "log_loss"):
            assert row[k] == str(m["metrics"][k])
        assert row["created at"] == m["created_at"] and row["description"] == m["description"]
    assert [r["stage"] for r in rows] == ["staging", "none", "production", "deleted"]
    # one chart per metric, drawn and sized; the first shown, the others a click away
    for i in range(3):
        box = page.eval_on_selector(f"#chart-{i} svg", "e => { const r = e.getBoundingClientRect(); "
                                                       "return [r.width, r.height]; }")
        if i == 0:
            assert box[0] > 300 and box[1] > 100
        else:
            assert not _visible(page, f"#chart-{i}")
    history = json.loads(_reg(published, "history", "churn", "--json"))
    entered = {(e["version"], e["to_stage"]) for e in history
               if e["action"] in ("promote", "rollback") and e["to_stage"] in ("staging", "production")
               and e["version"] != 1}  # v1 is deleted: not on the chart
    assert entered == {(2, "staging"), (2, "production"), (4, "staging")}
    assert page.eval_on_selector_all("#chart-0 circle.mark", "els => els.length") == len(entered)
    assert page.eval_on_selector("#chart-0 svg", "e => e.getAttribute('data-points')") == "3"
    page.check("input[data-chart='chart-1']")
    page.uncheck("input[data-chart='chart-0']")
    assert _visible(page, "#chart-1") and not _visible(page, "#chart-0")
    assert page.eval_on_selector("#chart-1 svg", "e => e.getBoundingClientRect().height") > 100
    assert "f1 of 3 versions" in page.eval_on_selector("#chart-1 desc", "e => e.textContent")
    # the timeline is `reg history churn`
    timeline = _rows(page, "#events tbody tr")
    assert len(timeline) == len(history)
    assert [(r[0], r[2], r[3]) for r in timeline] == [(e["time"], e["action"], f"v{e['version']}" if e["version"]
                                                       else "model") for e in history]
    promoted = next(r for r in timeline if r[2] == "promote" and r[5] == "better roc_auc")
    assert promoted[3] == "v2" and promoted[4] == "staging → production" and promoted[7] == "churn#production#3"
    assert v.problems == []


def test_text_from_manifests_is_shown_never_run(chromium, site):
    for rel in ("models/sales/index.html", "models/sales/v2.html"):
        v = visit(chromium, url(site, rel))
        assert HOSTILE in v.page.inner_text("main"), rel
        assert v.page.eval_on_selector_all("main img, main script", "els => els.length") == 0
        assert v.problems == [], rel  # no alert() dialog, no request for "x"


def test_version_page_makes_the_manifest_readable(chromium, site, published):
    v = visit(chromium, url(site, "models/churn/v4.html"))
    page = v.page
    m = json.loads(_reg(published, "show", "churn/4", "--json"))
    assert page.inner_text("h1").split() == ["churn", "v4", "staging"]
    body = page.inner_text("main")
    assert "LightGBM on the new features" in body
    metrics = dict(_rows(page, "#metrics + table tr"))
    assert metrics == {k: str(x) for k, x in m["metrics"].items()}
    assert ["data/churn.csv", CHURN_DATA[4]] in _rows(page, "table tr")
    kv = {r[0]: r[1] for r in _rows(page, "table.kv tr") if len(r) == 2}
    assert kv["learning_rate"] == "0.1" and kv["num_leaves"] == "15"
    assert kv["python"] == m["lineage"]["environment"]["python"]
    assert kv["git commit"] == m["lineage"]["git_sha"][:8]
    assert kv["md5"] == m["artifact"]["md5"] and kv["format"] == "lightgbm"
    inputs = [r[0] for r in _rows(page, "#signature ~ table tbody tr")][:3]
    assert inputs == ["tenure", "monthly_charges", "contract"]
    [record] = m["validations"]
    assert f"{record['at']} on {record['data']}" in body
    assert "staging gate: passed" in body
    checks = _text(page, "#validations ~ ul li")
    assert checks == [c.replace("ok ", "ok ", 1) for c in record["gate"]["checks"]] and checks[0].startswith("ok")
    history = _rows(page, "#events tbody tr")
    assert [r[2] for r in history] == ["promote", "register"]
    assert history[0][3] == "none → staging" and history[0][4].startswith("validated: ")
    tag = page.get_attribute("a[href*='releases/tag/churn%40v4']", "href")
    assert tag == "https://github.com/acme/models/releases/tag/churn%40v4"
    assert v.problems == []
    deleted = visit(chromium, url(site, "models/churn/v1.html"))
    banner = deleted.page.inner_text(".banner")
    assert banner.startswith("Deleted") and "trained on leaked data" in banner
    assert deleted.problems == []


def _compare(page) -> dict:
    out = {"title": page.inner_text("#compare-result h2")}
    for key in ("metrics", "params", "data"):
        out[key] = _rows(page, f"#cmp-{key} tbody tr") if page.query_selector(f"#cmp-{key}") else []
    return out


def test_compare_shows_the_differences_reg_compare_finds(chromium, site, published):
    # without a pair the page shows production against the latest, rendered at build time ...
    built = visit(chromium, url(site, "models/churn/compare.html"))
    # ... and the page's script renders any pair from the data in the page, the same way
    scripted = visit(chromium, url(site, "models/churn/compare.html#a=2&b=4"))
    assert built.page.inner_text("#compare-result") == scripted.page.inner_text("#compare-result")
    for a, b in ((3, 4), (2, 3), (4, 1)):
        said = json.loads(_reg(published, "compare", "churn", str(a), str(b), "--json"))
        page = scripted.page
        page.select_option("#cmp-a", str(a))
        page.select_option("#cmp-b", str(b))
        assert page.evaluate("location.hash") == f"#a={a}&b={b}"
        # the hashchange that re-renders is a task of its own: wait for the pair's heading
        page.wait_for_function(f"(h => h.startsWith('v{a} (') && h.includes(' vs v{b} ('))"
                               "(document.querySelector('#compare-result h2').innerText)")
        shown = _compare(page)
        stage = lambda side: "deleted" if said[side]["deleted"] else said[side]["stage"]  # noqa: E731
        assert shown["title"] == f"v{a} ({stage('a')}) vs v{b} ({stage('b')})"
        assert shown["metrics"] == [[m["name"], str(m["a"]), str(m["b"]),
                                     "0" if m["diff"] == 0 else f"{m['diff']:+.4g}"] for m in said["metrics"]]
        assert shown["params"] == [[p["name"], str(p["a"]), str(p["b"])] for p in said["params_changed"]]
        assert shown["data"] == [[d["path"], d["a"][:12], d["b"][:12]] for d in said["data_changed"]]
    assert _compare(scripted.page)["params"] == [["learning_rate", "0.1", "0.05"], ["num_leaves", "15", "31"]]
    assert scripted.problems == [] and built.problems == []
    # the model page's form opens the compare page on the pair picked
    model = visit(chromium, url(site, "models/churn/index.html"))
    model.page.select_option("form.compare select[name=a]", "3")
    model.page.select_option("form.compare select[name=b]", "2")
    model.page.click("form.compare button")
    model.page.wait_for_url("**/compare.html?a=3&b=2")
    model.page.wait_for_function("document.querySelector('#compare-result h2').innerText.startsWith('v3')")
    assert _compare(model.page)["title"] == "v3 (none) vs v2 (production)"
    assert model.problems == []


def test_a_model_of_1000_versions_is_paged_and_charted(chromium, tmp_path):
    from benchmarks import synth

    root = synth.build(tmp_path / "big", 1000)
    out = tmp_path / "site"
    _reg(root, "site", str(out))
    v = visit(chromium, url(out, "models/churn/index.html"))
    page = v.page

    def visible_versions() -> list[str]:
        return page.eval_on_selector_all("#versions tbody tr", "rs => rs.filter(r => !r.hidden).map(r => "
                                                               "r.cells[0].innerText)")

    assert visible_versions() == [f"v{n}" for n in range(1000, 950, -1)]
    status = page.locator(".pager span").first
    assert status.inner_text() == "1–50 of 1000 versions, page 1 of 20"
    page.locator(".pager").first.get_by_role("button", name="Next").click()
    assert visible_versions()[0] == "v950" and status.inner_text().startswith("51–100 of 1000")
    page.locator(".pager input").first.fill("v123")
    assert visible_versions() == ["v123"] and "(filtered from 1000)" in status.inner_text()
    svg = page.eval_on_selector("#chart-0 svg", "e => [e.getBoundingClientRect().width, e.getAttribute('data-points'),"
                                                " e.querySelectorAll('circle').length]")
    assert svg[0] > 300 and svg[1] == "1000" and svg[2] < 10  # the line, the marked versions, the legend
    assert v.problems == []
    version = visit(chromium, url(out, "models/churn/v1000.html"))
    assert "compare with production (v500)" in version.page.inner_text("main") and version.problems == []


def _shoot(page, name: str, tmp_path: Path) -> Path:
    where = Path(os.environ.get("REG_SITE_SCREENSHOTS") or tmp_path)
    where.mkdir(parents=True, exist_ok=True)
    path = where / f"{name}.png"
    page.screenshot(path=str(path))
    try:  # a palette PNG is a third of the size, which matters for files committed for the README
        from PIL import Image

        with Image.open(path) as im:
            im.convert("RGB").quantize(colors=128).save(path, optimize=True)
    except ImportError:
        pass
    return path


def test_screenshot_of_each_page_kind(chromium, site, tmp_path):
    shots = {"registry": "index.html", "model": "models/churn/index.html", "version": "models/churn/v4.html",
             "compare": "models/churn/compare.html#a=3&b=4"}
    for name, rel in shots.items():
        v = visit(chromium, url(site, rel))
        if name == "model":
            v.page.check("input[data-chart='chart-2']")
        path = _shoot(v.page, name, tmp_path)
        data = path.read_bytes()
        assert data[:8] == b"\x89PNG\r\n\x1a\n" and int.from_bytes(data[16:20], "big") == 1200
        assert v.problems == []


def test_odd_hand_edited_manifests_still_make_clean_pages(chromium, registry, reg, tmp_path, artifact):
    for n in (1, 2):
        assert reg(registry, "register", "churn", str(artifact)).exit_code == 0
    path = registry / "models/churn/2/manifest.yaml"
    text = path.read_text().replace("metrics: {}\n", "")
    many = "".join(f"  m{i:02}: {i / 100}\n" for i in range(40))
    path.write_text(text + "metrics:\n  roc_auc: .nan\n  f1: .inf\n  note: not a number\n" + many
                    + "signature: just text\nvalidations: [an old note]\n")
    manifest = path.read_text()
    manifest = manifest.replace("lineage:\n", "lineage:\n  params: [1, 2]\n  data: not a mapping\n", 1)
    path.write_text(manifest)
    subprocess.run(["git", "commit", "-qam", "hand edit"], cwd=registry, check=True)
    out = tmp_path / "site"
    assert reg(registry, "site", str(out)).exit_code == 0
    for rel in ("index.html", "models/churn/index.html", "models/churn/v1.html", "models/churn/v2.html",
                "models/churn/compare.html", "models/churn/compare.html#a=2&b=1"):
        v = visit(chromium, url(out, rel))
        assert v.problems == [], (rel, v.problems)
    model = visit(chromium, url(out, "models/churn/index.html")).page
    assert model.eval_on_selector_all("figure.chart", "els => els.length") == 24
    assert "16 more metrics are on the version pages" in model.inner_text("main")
    assert len(_text(model, "#versions thead th")) == 3 + 10 + 3
