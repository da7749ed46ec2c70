"""MLflow's filter and order-by grammar over a real registry: `reg list/show --filter`, `Registry.search_*`."""
from __future__ import annotations

import json

import pytest

from registry import Registry

from .conftest import snapshot


@pytest.fixture
def searchable(registry, reg, artifact, tmp_path):
    """churn v1-v3 (team growth) and sales v1 (team retail), with metrics, tags and one validation tag."""
    def metrics(name, **values):
        path = tmp_path / f"{name}.json"
        path.write_text(json.dumps(values))
        return str(path)

    for i, auc in enumerate([0.81, 0.93, 0.88], start=1):
        assert reg(registry, "register", "churn", str(artifact), "--metrics", metrics(f"c{i}", roc_auc=auc, f1=0.5 + i / 10),
                   "--tag", f"run=r{i}").exit_code == 0
    assert reg(registry, "register", "sales", str(artifact), "--metrics", metrics("s1", rmspe=0.08)).exit_code == 0
    assert reg(registry, "annotate", "churn/2", "--tag", "validation=passed").exit_code == 0
    assert reg(registry, "annotate", "churn/3", "--tag", "validation=passed").exit_code == 0
    assert reg(registry, "annotate", "churn", "--tag", "team=growth").exit_code == 0
    assert reg(registry, "annotate", "sales", "--tag", "team=retail").exit_code == 0
    return registry


def test_list_filter_by_name_pattern_and_model_tag(searchable, reg):
    out = reg(searchable, "list", "--filter", "name LIKE 'ch%' and tags.team = 'growth'", "--json")
    assert out.exit_code == 0, out.output
    assert [m["name"] for m in json.loads(out.stdout)] == ["churn"]
    out = reg(searchable, "list", "--filter", "name ILIKE 'SAL%'")
    assert "sales" in out.stdout and "churn" not in out.stdout
    out = reg(searchable, "list", "--filter", "tags.team = 'nobody'")
    assert out.exit_code == 0 and "No model matches" in out.stdout


def test_show_filter_on_version_tags_and_metrics_with_order(searchable, reg):
    out = reg(searchable, "show", "churn", "--filter", "tags.validation = 'passed' and metrics.roc_auc > 0.9", "--json")
    assert [v["version"] for v in json.loads(out.stdout)] == [2]
    out = reg(searchable, "show", "churn", "--filter", "tags.validation = 'passed'",
              "--order-by", "metrics.roc_auc DESC", "--json")
    assert [v["version"] for v in json.loads(out.stdout)] == [2, 3]
    text = reg(searchable, "show", "churn", "--order-by", "metrics.roc_auc ASC").stdout
    assert text.index("v1 ") < text.index("v3 ") < text.index("v2 ")


def test_search_versions_api_across_models(searchable):
    r = Registry(searchable)
    assert [(v.model, v.version) for v in r.search_versions("version_number = 1")] == [("churn", 1), ("sales", 1)]
    assert [v.version for v in r.search_versions("name = 'churn' and tags.run LIKE 'r%' and tags.run != 'r2'")] == [3, 1]
    assert [v.version for v in r.search_versions("name='churn'", ["metrics.f1 DESC"])] == [3, 2, 1]
    assert [v.model for v in r.search_versions("metrics.rmspe < 0.1")] == ["sales"]
    assert r.search_versions("tags.validation IS NULL and name = 'churn'")[0].version == 1
    assert [m.name for m in r.search_models("tags.team != 'growth'")] == ["sales"]


@pytest.mark.parametrize("bad, where", [
    ("name = 'churn' OR name = 'sales'", "'OR'"),
    ("metrics.roc_auc > 'high'", "'>'"),
    ("colour = 'red'", "'colour'"),
    ("name LIKE", "end"),
    ("tags.team < 'x'", "'<'"),
])
def test_malformed_filter_is_one_line_naming_the_token(searchable, reg, bad, where):
    before = snapshot(searchable)
    out = reg(searchable, "show", "churn", "--filter", bad)
    assert out.exit_code == 1
    lines = out.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("error: bad filter") and where in lines[0], out.stderr
    assert snapshot(searchable) == before


def test_stage_filters_take_mlflows_capitalised_stage_names(searchable, reg):
    """Stages are lower-case on disk and case-insensitive on input, so MLflow's `current_stage = 'Production'`
    must find the production version (it used to match nothing, with exit 0)."""
    assert reg(searchable, "promote", "churn", "2", "production").exit_code == 0
    r = Registry(searchable)
    for text in ("current_stage = 'Production'", "stage = 'PRODUCTION'", "current_stage IN ('Production', 'Staging')",
                 "current_stage LIKE 'Prod%'"):
        assert [(v.model, v.version) for v in r.search_versions(text)] == [("churn", 2)], text
    assert [v.version for v in r.search_versions("name = 'churn' and current_stage = 'None'")] == [3, 1]
    assert [v.version for v in r.search_versions("name = 'churn' and current_stage != 'Production'")] == [3, 1]
    out = reg(searchable, "show", "churn", "--filter", "current_stage = 'Production'", "--json")
    assert [v["version"] for v in json.loads(out.stdout)] == [2]
