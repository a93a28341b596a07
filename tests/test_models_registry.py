"""Model registry: versions never overwritten, champion pointer, promotion rule, round trip."""
import json
import os

import numpy as np
import pytest

from models.registry import ModelRegistry, RegistryError
from models.synthetic import make_credit_data
from models.train import train_model


@pytest.fixture(scope="module")
def data():
    return make_credit_data(4000, 20, n_informative=8, seed=21)


@pytest.fixture(scope="module")
def results(data):
    gbm = train_model(data, "bad", time_column="month", model_type="lightgbm", label="a_card", oracle_column="true_prob")
    sc = train_model(data, "bad", time_column="month", model_type="scorecard", label="a_card", oracle_column="true_prob")
    return gbm, sc


def test_versions_are_sequential_and_complete(tmp_path, results, data):
    gbm, sc = results
    reg = ModelRegistry(tmp_path)
    assert reg.list_versions("a_card") == []
    assert reg.register(gbm) == "v0001"
    assert reg.register(sc) == "v0002"
    assert reg.register(gbm, label="b_card") == "v0001"
    assert reg.list_versions("a_card") == ["v0001", "v0002"]
    assert reg.labels() == ["a_card", "b_card"]
    v1 = tmp_path / "a_card" / "v0001"
    names = set(os.listdir(v1))
    assert {"model.txt", "features.json", "metrics.json", "roc.png", "ks.png", "deciles.png", "calibration.png",
            "deciles.csv", "calibration.csv", "selection.csv"} <= names
    assert "model.joblib" in os.listdir(tmp_path / "a_card" / "v0002")
    m = json.loads((v1 / "metrics.json").read_text())
    for key in ("label", "model_type", "auc_oot", "ks_oot", "gini_oot", "oracle_auc", "created_at", "version",
                "n_train", "n_valid", "n_oot", "fingerprints", "split"):
        assert key in m, key
    assert m["label"] == "a_card" and m["model_type"] == "lightgbm" and m["version"] == "v0001"
    assert len(m["fingerprints"]["keys_sha256"]) == 64
    assert m["split"]["train_end"] < m["split"]["oot_start"]
    assert json.loads((v1 / "features.json").read_text()) == gbm.features
    # no temporary folders left behind
    assert not [p for p in os.listdir(tmp_path / "a_card") if p.startswith(".tmp")]


def test_never_overwrites_an_existing_version(tmp_path, results):
    gbm, _ = results
    reg = ModelRegistry(tmp_path)
    reg.register(gbm)
    before = (tmp_path / "a_card" / "v0001" / "metrics.json").read_text()
    # another writer already took v0002 (a complete, non-empty folder): we must get v0003
    squatter = tmp_path / "a_card" / "v0002"
    squatter.mkdir()
    (squatter / "metrics.json").write_text(json.dumps({"model_type": "lightgbm", "auc_oot": 0.5}))
    assert reg.register(gbm) == "v0003"
    assert (tmp_path / "a_card" / "v0001" / "metrics.json").read_text() == before
    assert json.loads((squatter / "metrics.json").read_text())["auc_oot"] == 0.5
    # a deleted latest version's number is not reused
    import shutil

    shutil.rmtree(tmp_path / "a_card" / "v0003")
    assert reg.register(gbm) == "v0004"


def test_failed_register_leaves_nothing(tmp_path, results, monkeypatch):
    gbm, _ = results
    reg = ModelRegistry(tmp_path)

    def boom(folder):
        raise OSError("disk full")

    monkeypatch.setattr(gbm.model, "save", boom)
    with pytest.raises(OSError):
        reg.register(gbm)
    monkeypatch.undo()
    assert reg.list_versions("a_card") == []
    assert [p for p in os.listdir(tmp_path / "a_card") if not p.startswith("registry_log")] == []


def test_champion_pointer_and_promotion(tmp_path, results, data):
    gbm, sc = results
    reg = ModelRegistry(tmp_path)
    v1 = reg.register(gbm)
    with pytest.raises(RegistryError, match="no champion"):
        reg.load("a_card")
    d = reg.promote_if_better("a_card", v1)
    assert d["promoted"] and reg.champion("a_card") == v1
    v2 = reg.register(sc)
    auc1, auc2 = reg.metrics("a_card", v1)["auc_oot"], reg.metrics("a_card", v2)["auc_oot"]
    # an impossible margin never promotes; a very negative one always does
    d = reg.promote_if_better("a_card", v2, margin=1.0)
    assert not d["promoted"] and reg.champion("a_card") == v1
    assert d["challenger_value"] == pytest.approx(auc2) and d["champion_value"] == pytest.approx(auc1)
    d = reg.promote_if_better("a_card", v2, margin=-1.0)
    assert d["promoted"] and reg.champion("a_card") == v2
    champ = json.loads((tmp_path / "a_card" / "champion.json").read_text())
    assert champ["version"] == v2 and champ["previous"] == v1
    reg.set_champion("a_card", v1, reason="rollback")
    assert reg.champion("a_card") == v1
    table = reg.versions_table("a_card")
    assert list(table["champion"]) == [True, False]
    events = [e["event"] for e in ModelRegistry(tmp_path).log("a_card")]
    assert events.count("register") == 2 and events.count("champion") == 3


def test_load_round_trip(tmp_path, results, data):
    gbm, sc = results
    reg = ModelRegistry(tmp_path)
    v1, v2 = reg.register(gbm), reg.register(sc)
    reg.set_champion("a_card", v2)
    champ = reg.load("a_card")
    assert champ.version == v2 and champ.model_type == "scorecard" and champ.model_name == "a_card_scorecard"
    np.testing.assert_allclose(champ.predict_proba(data), sc.predict_proba(data), atol=1e-12)
    first = reg.load("a_card", v1)
    np.testing.assert_allclose(first.predict_proba(data), gbm.predict_proba(data), atol=1e-12)
    assert reg.load("a_card", "latest").version == v2
    with pytest.raises(RegistryError, match="no version 'v0009'"):
        reg.load("a_card", "v0009")
    with pytest.raises(RegistryError, match="invalid label"):
        reg.list_versions("../etc")


def test_a_cv_figure_on_other_folds_is_not_compared(tmp_path, results):
    """A champion cross-validated on row folds (customers split across folds, higher than it should read) does
    not block a challenger whose CV kept customers whole; the same fold scheme is compared as usual."""
    gbm, sc = results
    reg = ModelRegistry(tmp_path)
    v1 = reg.register(gbm, extra_metrics={"cv_auc": 0.99})          # the old, leaky folds (no group column)
    reg.promote_if_better("a_card", v1, metric="cv_auc")
    v2 = reg.register(sc, extra_metrics={"cv_auc": 0.75, "cv_group_column": "customer_id"})
    assert not reg.comparable("a_card", v1, v2, "cv_auc") and reg.comparable("a_card", v1, v2, "auc_oot")
    d = reg.promote_if_better("a_card", v2, metric="cv_auc")
    assert d["promoted"] and reg.champion("a_card") == v2 and "not comparable" in d["reason"]
    v3 = reg.register(gbm, extra_metrics={"cv_auc": 0.74, "cv_group_column": "customer_id"})
    d = reg.promote_if_better("a_card", v3, metric="cv_auc")                   # same folds: 0.74 < 0.75 + margin
    assert not d["promoted"] and reg.champion("a_card") == v2
