"""Issue 12 item 2: the sales forecast (seed 000) under real DVC: synthetic daily store sales, a LightGBM +
HistGradientBoosting ensemble evaluated by RMSPE on a time-based holdout, registered with --from-dvc
(format `ensemble`), loaded and predicted by reg exactly as the pipeline's own evaluate stage scored it,
promoted on the model card's `rmspe: "< 0.10"` gate and predicted by stage to CSV.

The pipeline runs once per module in a template workspace: the checkout's dvc.yaml, params.yaml,
pipelines/sales and models/ (its registry settings and model cards), with DVC."""
from __future__ import annotations

import hashlib
import json
import shutil
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import yaml

import registry as reglib

from .conftest import git, snapshot
from .pipelines import dvc, trained_template

SALES = "pipelines/sales"


@pytest.fixture(scope="module")
def template(tmp_path_factory) -> Path:
    return trained_template(tmp_path_factory, "sales", ("dvc.yaml", "params.yaml", SALES, "models"), "sales-evaluate")


def _evaluation(root: Path) -> dict:
    return json.loads((root / SALES / "evaluation.json").read_text())


def _params(root: Path) -> dict:
    return yaml.safe_load((root / "params.yaml").read_text())["sales"]


def _rmspe(y, pred) -> float:
    y, pred = np.asarray(y, dtype=float), np.asarray(pred, dtype=float)
    keep = y != 0
    return float(np.sqrt(np.mean(((y[keep] - pred[keep]) / y[keep]) ** 2)))


def _register(reg, root: Path) -> None:
    result = reg(root, "register", "sales", "--from-dvc", "sales-train")
    assert result.exit_code == 0, result.output


# -- the pipeline ----------------------------------------------------------------------------------

def test_synthetic_sales_have_stores_weekly_seasonality_promotions_holidays(template):
    p = _params(template)["prepare"]
    frame = pd.concat([pd.read_csv(template / SALES / f"data/{n}.csv") for n in ("train", "holdout")])
    assert frame["store"].nunique() == p["stores"] and frame["date"].nunique() == p["days"]
    open_days = frame[frame["open"] == 1]
    assert (frame.loc[frame["open"] == 0, "sales"] == 0).all() and (open_days["sales"] > 0).all()
    assert (frame.loc[frame["state_holiday"] == 1, "open"] == 0).all()  # closed on public holidays
    by_day = open_days.groupby("day_of_week")["sales"].mean()
    assert by_day[0] > by_day[2] > by_day[5]  # Mondays busiest, Saturdays quieter
    assert open_days.groupby("promo")["sales"].mean()[1] > 1.1 * open_days.groupby("promo")["sales"].mean()[0]
    assert frame["school_holiday"].sum() > 0


def test_the_holdout_is_the_last_weeks(template):
    train = pd.read_csv(template / SALES / "data/train.csv")
    holdout = pd.read_csv(template / SALES / "data/holdout.csv")
    assert train["date"].max() < holdout["date"].min()
    assert holdout["date"].nunique() == _params(template)["prepare"]["holdout_days"]


def test_fixed_seed_makes_the_same_data(template, tmp_path):
    again = tmp_path / "again"
    shutil.copytree(template, again, symlinks=True)
    dvc(again, "repro", "-f", "-s", "sales-prepare")
    for name in ("train.csv", "holdout.csv"):
        assert (again / SALES / "data" / name).read_bytes() == (template / SALES / "data" / name).read_bytes()


def test_the_model_folder_is_an_ensemble_of_two_model_kinds(template):
    model = template / SALES / "model"
    assert sorted(p.name for p in model.iterdir()) == [
        "ensemble.json", "hist_gradient_boosting.skops", "lightgbm.txt", "signature.json"]
    spec = json.loads((model / "ensemble.json").read_text())
    weights = _params(template)["train"]["weights"]
    assert [(m["format"], m["file"], m["weight"]) for m in spec["members"]] == [
        ("lightgbm", "lightgbm.txt", weights["lightgbm"]),
        ("skops", "hist_gradient_boosting.skops", weights["hist_gradient_boosting"])]
    assert spec["target_transform"] == "log1p" and spec["output_min"] == 0
    assert (model / "lightgbm.txt").read_text().startswith("tree\n")
    import skops.io as sio

    untrusted = sio.get_untrusted_types(file=model / spec["members"][1]["file"])
    assert all(t.startswith(("numpy.", "sklearn.")) for t in untrusted)
    sig = json.loads((model / "signature.json").read_text())
    assert sig["outputs"] == [{"name": "predicted_sales", "type": "float64"}]
    assert "sales" not in {c["name"] for c in sig["inputs"]} and "date" not in {c["name"] for c in sig["inputs"]}
    evaluation = _evaluation(template)
    assert evaluation["rmspe"] < 0.10
    assert {"rmspe_lightgbm", "rmspe_hist_gradient_boosting", "rmse", "mae", "r2"} <= set(evaluation)
    assert "didn't change" in dvc(template, "repro", "sales-evaluate")


# -- register, load, predict -----------------------------------------------------------------------

def test_register_from_dvc_then_load_predicts_what_evaluate_scored(workspace, reg):
    _register(reg, workspace)
    m = yaml.safe_load((workspace / "models/sales/1/manifest.yaml").read_text())
    evaluation = _evaluation(workspace)
    assert m["artifact"]["format"] == "ensemble"
    assert m["metrics"]["rmspe"] == evaluation["rmspe"] and list(m["metrics"])[0] == "rmspe"
    assert m["lineage"]["params"]["sales"]["train"]["weights"] == _params(workspace)["train"]["weights"]
    assert set(m["lineage"]["data"]) == {f"{SALES}/data/train.csv", f"{SALES}/data/holdout.csv"}

    model = reglib.load("sales/1", path=workspace)
    assert (model.format, model.version) == ("ensemble", 1)
    assert model.model.weights == _params(workspace)["train"]["weights"]
    holdout = pd.read_csv(workspace / SALES / "data/holdout.csv")
    pred = model.predict(holdout)
    assert pred.shape == (len(holdout),) and (pred >= 0).all()  # a closed day is 0, not a hair under it
    # reg's loader and the pipeline's evaluate stage agree on every row's forecast
    assert round(_rmspe(holdout["sales"], pred), 4) == evaluation["rmspe"]


def test_promote_on_the_rmspe_gate_then_predict_by_stage_to_csv(workspace, reg, tmp_path):
    _register(reg, workspace)
    result = reg(workspace, "promote", "sales", "1", "staging")
    assert result.exit_code == 0, result.output
    holdout = pd.read_csv(workspace / SALES / "data/holdout.csv")
    out = tmp_path / "forecast.csv"
    result = reg(workspace, "predict", "sales/staging", "--input", f"{SALES}/data/holdout.csv", "--output", str(out))
    assert result.exit_code == 0, result.output
    assert result.stdout.startswith(f"Wrote {len(holdout)} predictions (predicted_sales) from sales v1 to ")
    written = pd.read_csv(out)
    pd.testing.assert_frame_equal(written[holdout.columns], holdout)  # the input's own sales column untouched
    assert round(_rmspe(written["sales"], written["predicted_sales"]), 4) == _evaluation(workspace)["rmspe"]
    assert (written["model"] == "sales").all() and (written["model_version"] == 1).all()


def test_a_version_that_misses_the_rmspe_gate_is_not_promoted(workspace, reg):
    params = workspace / "params.yaml"
    params.write_text(params.read_text().replace("n_estimators: 600", "n_estimators: 3")
                      .replace("max_iter: 400", "max_iter: 3"))
    dvc(workspace, "repro", "sales-evaluate")
    git(workspace, "commit", "-qam", "hardly trained")
    _register(reg, workspace)
    assert _evaluation(workspace)["rmspe"] >= 0.10
    before = snapshot(workspace)
    result = reg(workspace, "promote", "sales", "1", "staging")
    assert result.exit_code != 0
    assert "rmspe < 0.10" in result.output
    assert snapshot(workspace) == before


def test_validate_scores_rmspe_and_promotes_into_staging(workspace, reg):
    """`reg validate` with the checkout's card: validation {task: regression, ..., metrics: [rmspe, ...]}."""
    _register(reg, workspace)
    result = reg(workspace, "validate", "sales", "1")
    assert result.exit_code == 0, result.output
    assert result.stdout.splitlines()[-1].startswith("Promoted sales v1 to staging (commit ")
    m = yaml.safe_load((workspace / "models/sales/1/manifest.yaml").read_text())
    [record] = m["validations"]
    assert record["metrics"]["rmspe"] == pytest.approx(_evaluation(workspace)["rmspe"], abs=1e-4)
    assert record["data_md5"] == hashlib.md5((workspace / SALES / "data/holdout.csv").read_bytes()).hexdigest()
    assert m["stage"] == "staging"
