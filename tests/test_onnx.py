"""Issue 12 item 4: an ONNX model registers, loads and predicts, with its bytes verified first.

A real scikit-learn model converted with skl2onnx, registered with `reg register`, scored by `reg predict`
and `registry.load` through onnxruntime, and compared with scikit-learn's own predictions. onnxruntime and
skl2onnx come with the `onnx` extra, which the `test` extra pulls, so these run (never skip) under `make test`."""
from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
import yaml

import registry as reglib
from registry.loading import IntegrityError

from .conftest import snapshot

FEATURES = ["tenure", "monthly", "calls"]


def _data(n: int, seed: int) -> tuple[pd.DataFrame, np.ndarray]:
    rng = np.random.default_rng(seed)
    df = pd.DataFrame({"tenure": rng.uniform(0, 72, n), "monthly": rng.uniform(20, 120, n),
                       "calls": rng.poisson(1.0, n).astype("float64")})
    logit = -0.05 * df["tenure"] + 0.02 * df["monthly"] + 0.6 * df["calls"] - 1.0
    return df, (rng.random(n) < 1 / (1 + np.exp(-logit))).astype("int64").to_numpy()


def _convert(model, path) -> None:
    from skl2onnx import to_onnx

    onx = to_onnx(model, np.zeros((1, len(FEATURES)), dtype=np.float32), target_opset=17)
    path.write_bytes(onx.SerializeToString())


@pytest.fixture
def onnx_dir(tmp_path):
    from sklearn.linear_model import LogisticRegression

    df, y = _data(400, seed=1)
    model = LogisticRegression(max_iter=500).fit(df[FEATURES].to_numpy(dtype=np.float32), y)
    folder = tmp_path / "out" / "model"
    folder.mkdir(parents=True)
    _convert(model, folder / "model.onnx")
    train = tmp_path / "out" / "train.csv"
    df.assign(churned=y).to_csv(train, index=False)
    return folder, model, train


@pytest.fixture
def onnx_registry(registry, reg, onnx_dir):
    folder, _, train = onnx_dir
    result = reg(registry, "register", "churn", str(folder), "--signature-data", str(train),
                 "--signature-target", "churned")
    assert result.exit_code == 0, result.output
    return registry


def test_onnx_registers_as_onnx_with_its_signature(onnx_registry):
    m = yaml.safe_load((onnx_registry / "models/churn/1/manifest.yaml").read_text())
    assert m["artifact"]["format"] == "onnx"
    assert [c["name"] for c in m["signature"]["inputs"]] == FEATURES


def test_registry_load_predicts_like_scikit_learn(onnx_registry, onnx_dir, reg):
    _, model, _ = onnx_dir
    assert reg(onnx_registry, "promote", "churn", "1", "staging").exit_code == 0
    loaded = reglib.load("churn/staging", path=onnx_registry)
    assert (loaded.name, loaded.version, loaded.format) == ("churn", 1, "onnx")
    df, _ = _data(25, seed=7)
    probs = loaded.predict(df[FEATURES])
    assert probs.shape == (25,)
    expected = model.predict_proba(df[FEATURES].to_numpy(dtype=np.float32))[:, 1]
    np.testing.assert_allclose(probs, expected, atol=1e-5)


def test_reg_predict_writes_onnx_predictions(onnx_registry, onnx_dir, reg, tmp_path):
    _, model, _ = onnx_dir
    df, _ = _data(10, seed=11)
    df = df.assign(customer="c")  # a column the model does not use stays in the output, untouched
    src = tmp_path / "in.csv"
    df.to_csv(src, index=False)
    out = tmp_path / "pred.csv"
    result = reg(onnx_registry, "predict", "churn/1", "--input", str(src), "--output", str(out))
    assert result.exit_code == 0, result.output
    assert result.stdout.startswith("Wrote 10 predictions")
    written = pd.read_csv(out)
    assert (written["customer"] == "c").all() and list(written[FEATURES].round(6).to_numpy().ravel()) == \
        list(df[FEATURES].round(6).to_numpy().ravel())
    column = [c for c in written.columns if c not in df.columns and c not in ("model", "model_version")]
    assert len(column) == 1
    expected = model.predict_proba(df[FEATURES].to_numpy(dtype=np.float32))[:, 1]
    np.testing.assert_allclose(written[column[0]].to_numpy(), expected, atol=1e-5)
    assert (written["model_version"] == 1).all()


def test_onnx_regressor_predicts_values(registry, reg, tmp_path):
    from sklearn.linear_model import LinearRegression

    df, _ = _data(200, seed=3)
    target = 3 * df["tenure"] - 2 * df["monthly"] + 5
    model = LinearRegression().fit(df[FEATURES].to_numpy(dtype=np.float32), target)
    folder = tmp_path / "reg" / "model"
    folder.mkdir(parents=True)
    _convert(model, folder / "model.onnx")
    assert reg(registry, "register", "ltv", str(folder)).exit_code == 0
    loaded = reglib.load("ltv", path=registry)
    np.testing.assert_allclose(loaded.predict(df[FEATURES].head(5)),
                               model.predict(df[FEATURES].head(5).to_numpy(dtype=np.float32)), rtol=1e-4)


def test_a_changed_onnx_file_is_refused_before_onnxruntime_reads_it(onnx_registry, monkeypatch):
    target = onnx_registry / "models/churn/1/model/model.onnx"
    data = bytearray(target.read_bytes())
    data[-1] ^= 0xFF  # one flipped byte: still the same size
    target.write_bytes(bytes(data))
    import onnxruntime

    def never(*args, **kwargs):
        raise AssertionError("onnxruntime was handed bytes that were not verified")

    monkeypatch.setattr(onnxruntime, "InferenceSession", never)
    before = snapshot(onnx_registry)
    with pytest.raises(IntegrityError, match="does not match its manifest"):
        reglib.load("churn/1", path=onnx_registry)
    assert snapshot(onnx_registry) == before
