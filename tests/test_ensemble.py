"""The `ensemble` artifact format (issue 12 item 2): ensemble.json names member files of this very folder,
their format (lightgbm or skops) and weight; reg verifies every byte, then blends the members' predictions.
ensemble.json is hostile input like every artifact file: a bad one is one clear error, never a pickle, a
path outside the folder or a silently different model."""
from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

import registry as reglib
from registry.loading import FormatError

from .conftest import snapshot

FEATURES = ["x1", "x2"]


def _data(n: int = 200, seed: int = 0) -> tuple[pd.DataFrame, np.ndarray]:
    rng = np.random.default_rng(seed)
    df = pd.DataFrame({"x1": rng.uniform(0, 10, n), "x2": rng.uniform(0, 5, n)})
    return df, np.log1p(100 + 20 * df["x1"].to_numpy() + 5 * df["x2"].to_numpy())


def _ensemble(folder: Path, spec_edit=None) -> tuple[Path, object, object]:
    import lightgbm as lgb
    import skops.io as sio
    from sklearn.linear_model import LinearRegression

    df, y = _data()
    booster = lgb.train({"objective": "regression", "verbose": -1, "num_threads": 1, "min_data_in_leaf": 5},
                        lgb.Dataset(df, label=y), num_boost_round=20)
    linear = LinearRegression().fit(df, y)
    folder.mkdir(parents=True)
    booster.save_model(str(folder / "gbm.txt"))
    sio.dump(linear, folder / "linear.skops")
    spec = {"schema": 1, "combine": "weighted_mean", "target_transform": "log1p", "features": FEATURES,
            "members": [{"name": "gbm", "format": "lightgbm", "file": "gbm.txt", "weight": 0.25},
                        {"name": "linear", "format": "skops", "file": "linear.skops", "weight": 0.75}]}
    if spec_edit:
        spec_edit(spec)
    (folder / "ensemble.json").write_text(json.dumps(spec) if isinstance(spec, dict) else spec)
    return folder, booster, linear


def test_an_ensemble_registers_loads_and_blends_by_weight(registry, reg, tmp_path):
    folder, booster, linear = _ensemble(tmp_path / "out" / "model")
    result = reg(registry, "register", "demand", str(folder))
    assert result.exit_code == 0, result.output
    model = reglib.load("demand/1", path=registry)
    assert model.format == "ensemble" and model.model.weights == {"gbm": 0.25, "linear": 0.75}
    df, _ = _data(15, seed=4)
    df = df[["x2", "x1"]].assign(extra="ignored")  # columns are taken by name, in ensemble.json's order
    expected = np.expm1(0.25 * booster.predict(df[FEATURES]) + 0.75 * linear.predict(df[FEATURES]))
    np.testing.assert_allclose(model.predict(df), expected, rtol=1e-9)


def test_output_min_floors_the_forecast(registry, reg, tmp_path):
    def floor(spec):
        spec.update(target_transform="none", output_min=5.2)
    folder, booster, linear = _ensemble(tmp_path / "out" / "model", floor)
    assert reg(registry, "register", "demand", str(folder)).exit_code == 0
    df, _ = _data(30, seed=5)
    raw = 0.25 * booster.predict(df) + 0.75 * linear.predict(df)
    assert (raw < 5.2).any() and (raw > 5.2).any()  # log1p(100 + ...) spans 5.2: some rows floored, some not
    np.testing.assert_allclose(reglib.load("demand/1", path=registry).predict(df), np.maximum(raw, 5.2))


def _bad_spec(**change):
    def edit(spec):
        for key, value in change.items():
            if key.startswith("member_"):
                spec["members"][0][key[len("member_"):]] = value
            else:
                spec[key] = value
    return edit


@pytest.mark.parametrize("edit, message", [
    (_bad_spec(member_file="../../../../etc/passwd"), "names file '../../../../etc/passwd', which is not a model file"),
    (_bad_spec(member_file="ensemble.json"), "names file 'ensemble.json', which is not a model file"),
    (_bad_spec(member_format="pickle"), "has format 'pickle'; members may be lightgbm or skops"),
    (_bad_spec(member_weight=-1), "has weight -1; a weight is a number >= 0"),
    (_bad_spec(member_weight="heavy"), "has weight 'heavy'; a weight is a number >= 0"),
    (_bad_spec(members=[]), "'members' lists 1 to 32"),
    (_bad_spec(target_transform="exp"), "has target_transform 'exp'; use one of none, log1p"),
    (_bad_spec(output_min="zero"), "has output_min 'zero'; it is a number"),
    (lambda spec: [m.update(weight=0) for m in spec["members"]], "has weights that add up to 0"),
])
def test_a_bad_ensemble_json_is_one_clear_error(registry, reg, tmp_path, edit, message):
    folder, _, _ = _ensemble(tmp_path / "out" / "model", edit)
    assert reg(registry, "register", "demand", str(folder)).exit_code == 0
    with pytest.raises(FormatError) as err:
        reglib.load("demand/1", path=registry)
    assert message in str(err.value) and "\n" not in str(err.value)
    assert str(err.value).startswith("demand v1: ensemble.json ")

    data = tmp_path / "in.csv"
    _data(3)[0].to_csv(data, index=False)
    before = snapshot(registry)
    result = reg(registry, "predict", "demand/1", "--input", str(data), "--output", str(tmp_path / "p.csv"))
    assert result.exit_code == 1 and message in result.stderr and result.stderr.count("\n") == 1
    assert not (tmp_path / "p.csv").exists() and snapshot(registry) == before


def test_an_ensemble_json_that_is_not_json(registry, reg, tmp_path):
    folder, _, _ = _ensemble(tmp_path / "out" / "model")
    (folder / "ensemble.json").write_text("{members: [")
    assert reg(registry, "register", "demand", str(folder)).exit_code == 0
    with pytest.raises(FormatError, match=r"^demand v1: ensemble.json is not valid JSON"):
        reglib.load("demand/1", path=registry)


def test_a_skops_member_that_calls_a_function_is_refused(registry, reg, tmp_path):
    import os

    import skops.io as sio
    from sklearn.preprocessing import FunctionTransformer

    folder, _, _ = _ensemble(tmp_path / "out" / "model")
    sio.dump(FunctionTransformer(func=os.system), folder / "linear.skops")  # loading trusts classes, not functions
    assert reg(registry, "register", "demand", str(folder)).exit_code == 0
    with pytest.raises(FormatError, match="linear.skops contains types that are not trusted: posix.system"):
        reglib.load("demand/1", path=registry)
