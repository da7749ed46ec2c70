"""registry.load: verify the artifact's bytes against the manifest, then load it by format."""
from __future__ import annotations

import json
import pickle
import sys

import numpy as np
import pytest

import registry as reglib
from registry import Registry
from registry.errors import RegistryError
from registry.loading import FormatError, IntegrityError, digest, load_dir

from . import churnmodel
from .conftest import git


@pytest.fixture(scope="session")
def churn_dir(tmp_path_factory):
    return churnmodel.build(tmp_path_factory.mktemp("churn") / "model")


@pytest.fixture
def churn_registry(registry, reg, churn_dir):
    result = reg(registry, "register", "churn", str(churn_dir))
    assert result.exit_code == 0, result.output
    return registry


def test_digest_matches_dvc(churn_dir, tmp_path):
    from dvc_data.hashfile.build import build
    from dvc_data.hashfile.db import HashFileDB
    from dvc_objects.fs.local import LocalFileSystem

    (churn_dir.parent / "nested").mkdir(exist_ok=True)
    folder = tmp_path / "m"
    import shutil

    shutil.copytree(churn_dir, folder)
    (folder / "sub" / "deeper").mkdir(parents=True)
    (folder / "sub" / "deeper" / "x.bin").write_bytes(b"\x00\x01" * 1000)
    (folder / "sub" / "a b.txt").write_text("spaces and ünïcode")
    fs = LocalFileSystem()
    odb = HashFileDB(fs, str(tmp_path / "odb"))
    _, meta, obj = build(odb, str(folder), fs, "md5")
    md5, size, nfiles, _ = digest(folder)
    assert md5 == obj.hash_info.value
    assert (size, nfiles) == (meta.size, meta.nfiles)


def test_load_by_stage_predicts_like_the_training_code(churn_registry, reg, churn_dir):
    assert reg(churn_registry, "promote", "churn", "1", "production").exit_code == 0
    model = reglib.load("churn/production", path=churn_registry)
    assert (model.name, model.version, model.format) == ("churn", 1, "lightgbm")
    assert model.preprocess is not None and model.manifest.stage == "production"
    df, _ = churnmodel.frame(n=20, seed=3)
    probs = model.predict(df)
    assert probs.shape == (20,) and ((probs >= 0) & (probs <= 1)).all()
    np.testing.assert_allclose(probs, churnmodel.reference_predictions(churn_dir, df))
    # The same through the Registry facade and an MLflow-style ref.
    again = Registry(churn_registry).load("models:/churn/Production")
    np.testing.assert_allclose(again.predict(df), probs)


def test_read_path_stays_light():
    import subprocess

    code = ("import sys, registry; bad = [m for m in ('dvc', 'lightgbm', 'sklearn', 'skops', 'pandas') "
            "if m in sys.modules]; print(bad)")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert out.strip() == "[]"


@pytest.mark.parametrize("damage", ["tamper", "truncate", "extra", "missing"])
def test_changed_artifact_is_refused_before_loading(churn_registry, damage):
    folder = churn_registry / "models/churn/1/model"
    target = folder / "model.txt"
    if damage == "tamper":
        text = target.read_text()
        target.write_text(text.replace("learning_rate", "learning_rate", 1)[:-2] + "9\n")
    elif damage == "truncate":
        target.write_bytes(target.read_bytes()[:100])
    elif damage == "extra":
        (folder / "evil.pkl").write_bytes(b"x")
    else:
        (folder / "preprocess.skops").unlink()
    with pytest.raises(IntegrityError, match="churn v1 .*does not match its manifest.*refusing to load"):
        reglib.load("churn/1", path=churn_registry)


def test_skops_file_with_untrusted_types_is_refused(registry, reg, tmp_path):
    import skops.io as sio
    from sklearn.preprocessing import FunctionTransformer

    folder = tmp_path / "fn" / "model"
    folder.mkdir(parents=True)
    sio.dump(FunctionTransformer(func=eval), folder / "model.skops")
    assert reg(registry, "register", "fn", str(folder)).exit_code == 0
    with pytest.raises(FormatError, match="not trusted: builtins.eval"):
        reglib.load("fn", path=registry)


def test_skops_classifier(registry, reg, tmp_path):
    import skops.io as sio
    from sklearn.linear_model import LogisticRegression

    df, y = churnmodel.frame(n=60)
    clf = LogisticRegression().fit(df[["tenure", "monthly_charges"]], y)
    folder = tmp_path / "lr" / "model"
    folder.mkdir(parents=True)
    sio.dump(clf, folder / "model.skops")
    assert reg(registry, "register", "lr", str(folder)).exit_code == 0
    model = reglib.load("lr", path=registry)
    assert model.format == "skops"
    np.testing.assert_allclose(model.predict(df[["tenure", "monthly_charges"]]),
                               clf.predict_proba(df[["tenure", "monthly_charges"]])[:, 1])


def test_pickle_is_refused_unless_trusted(registry, reg, tmp_path):
    from sklearn.linear_model import LinearRegression

    folder = tmp_path / "pk" / "model"
    folder.mkdir(parents=True)
    lr = LinearRegression().fit([[0.0], [1.0], [2.0]], [1.0, 3.0, 5.0])
    (folder / "model.pkl").write_bytes(pickle.dumps(lr))
    assert reg(registry, "register", "pk", str(folder)).exit_code == 0
    assert reglib.Registry(registry).resolve("pk").artifact["format"] == "pickle"
    with pytest.raises(FormatError, match="pickle.*refused.*trust_pickle=True"):
        reglib.load("pk", path=registry)
    model = reglib.load("pk", path=registry, trust_pickle=True)
    np.testing.assert_allclose(model.predict(np.array([[3.0]])), [7.0])
    # The command line names its own option, not the Python keyword.
    (tmp_path / "x.csv").write_text("x\n3\n")
    refused = reg(registry, "predict", "pk", "-i", str(tmp_path / "x.csv"), "-o", str(tmp_path / "p.csv"))
    assert refused.exit_code == 1 and "--trust-pickle" in refused.stderr, refused.output
    assert not (tmp_path / "p.csv").exists()


def test_onnx_without_onnxruntime_is_a_clear_error(registry, reg, tmp_path):
    folder = tmp_path / "ox" / "model"
    folder.mkdir(parents=True)
    (folder / "model.onnx").write_bytes(b"\x08\x07not a real onnx graph")
    assert reg(registry, "register", "ox", str(folder)).exit_code == 0
    try:
        import onnxruntime  # noqa: F401
    except ImportError:
        with pytest.raises(FormatError, match="onnxruntime is not installed: pip install onnxruntime"):
            reglib.load("ox", path=registry)
    else:
        with pytest.raises(FormatError, match="not a loadable ONNX model"):
            reglib.load("ox", path=registry)


def test_unknown_format_and_deleted_version(registry, reg, tmp_path, churn_dir):
    folder = tmp_path / "raw" / "model"
    folder.mkdir(parents=True)
    (folder / "weights.bin").write_bytes(b"\x00" * 10)
    assert reg(registry, "register", "raw", str(folder)).exit_code == 0
    with pytest.raises(FormatError, match="format 'unknown'"):
        reglib.load("raw", path=registry)
    assert reg(registry, "register", "churn", str(churn_dir)).exit_code == 0
    assert reg(registry, "register", "churn", str(churn_dir)).exit_code == 0
    assert reg(registry, "delete", "churn", "1", "--reason", "bad data").exit_code == 0
    with pytest.raises(RegistryError, match="churn v1 was deleted"):
        reglib.load("churn/1", path=registry)


def test_missing_artifact_is_pulled_then_loaded(churn_registry):
    import shutil

    shutil.rmtree(churn_registry / "models/churn/1/model")
    with pytest.raises(RegistryError, match="run `reg pull churn/1`"):
        reglib.load("churn/1", path=churn_registry, pull=False)
    model = reglib.load("churn/1", path=churn_registry)
    assert model.version == 1 and (churn_registry / "models/churn/1/model/model.txt").is_file()
    assert git(churn_registry, "status", "--porcelain") == ""


def test_a_damaged_pull_to_folder_names_the_pull_that_rewrites_it(churn_registry, reg, tmp_path):
    dest = tmp_path / "svc"
    assert reg(churn_registry, "pull", "churn/1", "--to", str(dest)).exit_code == 0
    with open(dest / "model" / "model.txt", "a") as fh:
        fh.write("\n")
    with pytest.raises(IntegrityError, match=f"Restore it with `reg pull churn/1 --to {dest}`"):
        load_dir(dest)
    (dest / "manifest.yaml").write_text("model: [\n")
    with pytest.raises(IntegrityError, match="rewrite its folder with `reg pull REF --to") as info:
        load_dir(dest)
    assert "git checkout" not in str(info.value)
