"""`make bench`'s reg half at a tiny size: the harness runs every reg command against a synthetic registry
and writes a table with a row per operation. Times are not asserted (see DESIGN.md: never timed tests)."""
from __future__ import annotations

import subprocess

import pytest

from benchmarks import synth
from benchmarks.__main__ import main
from benchmarks.reg_bench import registry_fixture

OPERATIONS = [
    "`reg --help`",
    "`reg show churn/production`",
    '`Registry(path).resolve("churn/production")`',
    "`reg list`",
    "`reg show churn`",
    "`reg history churn`",
    "`reg promote churn N production`",
    "`reg register churn ./model`",
    "`reg site OUT`",
]


def test_reg_half_writes_a_row_per_operation(tmp_path, capsys):
    out = tmp_path / "results.md"
    assert main(["--sizes", "20", "--reps", "1", "--no-peers", "--no-serving", "--quiet", "--cache",
                 str(tmp_path / "cache"), "--out", str(out)]) == 0
    text = out.read_text()
    assert capsys.readouterr().out == text + "\n"  # the same table on stdout
    rows = [ln for ln in text.splitlines() if ln.startswith("| reg |")]
    ops = [r.split(" | ")[1] for r in rows]
    for op in OPERATIONS:
        assert op in ops, f"no row for {op} in:\n{text}"
    assert ops.count("`reg list`") == 2  # cold parse cache, then warm
    for r in rows:
        cells = [c.strip() for c in r.strip("|").split("|")]
        assert cells[2] == "20"
        if "skipped" not in r:
            assert cells[4] not in ("", "-", "skipped"), r
    assert not (tmp_path / "cache" / "work").exists()  # copies for promote/register are cleaned up


def test_synthetic_registry_looks_like_reg_made_it(tmp_path, reg):
    root = synth.build(tmp_path / "r", 12)
    assert subprocess.run(["git", "status", "--porcelain"], cwd=root, capture_output=True, text=True).stdout == ""
    tags = subprocess.run(["git", "tag", "-l"], cwd=root, capture_output=True, text=True).stdout.split()
    assert "churn@v12" in tags and "churn#production#2" in tags and "churn#staging#1" in tags
    result = reg(root, "show", "churn/production")
    assert result.exit_code == 0 and "churn v6 (production)" in result.stdout
    listed = reg(root, "list")
    assert "v12" in listed.stdout and "v11" in listed.stdout  # latest, staging


def test_fixtures_are_cached_between_runs(tmp_path):
    first, built = registry_fixture(tmp_path, 5)
    again, built_again = registry_fixture(tmp_path, 5)
    assert built and not built_again and first == again


@pytest.mark.slow
def test_serving_rows_time_a_pushed_promotion_to_served_and_count_failed_reads(tmp_path):
    from benchmarks import serving_bench

    rows = serving_bench.rows(tmp_path, 1, lambda msg: None)
    assert [r.operation.split(": ", 1)[1].split()[0] for r in rows] == ["reg", "POST"]
    for r in rows:
        assert len(r.sample.seconds) == 1 and 0 < r.sample.median < 60
        assert "that failed during the 2 swaps: 0 of " in r.note, r.note
