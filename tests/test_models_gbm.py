"""LightGBM training, determinism, persistence, and SHAP reason codes."""
import numpy as np
import pandas as pd
import pytest

from models.gbm import GBMModel, train_gbm
from models.reasons import feature_descriptions, top_k_reasons
from models.synthetic import make_credit_data


@pytest.fixture(scope="module")
def data():
    df = make_credit_data(6000, 40, n_informative=10, seed=5)
    feats = [c for c in df.columns if c.startswith("f_")] + ["channel"]
    tr, va, te = df.iloc[:3600], df.iloc[3600:4800], df.iloc[4800:]
    return df, feats, tr, va, te


@pytest.fixture(scope="module")
def model(data):
    _, feats, tr, va, _ = data
    return train_gbm(tr[feats], tr["bad"], va[feats], va["bad"])


def test_contributions_plus_base_equal_raw_score_for_every_row(model, data):
    *_, te = data
    C, base = model.contributions(te)
    raw = model.predict_log_odds(te)
    assert C.shape == (len(te), len(model.features))
    np.testing.assert_allclose(C.sum(axis=1) + base, raw, rtol=0, atol=1e-9)
    p = model.predict_proba(te)
    np.testing.assert_allclose(1 / (1 + np.exp(-raw)), p, atol=1e-12)


def test_reason_codes_are_top_positive_contributions(model, data):
    *_, te = data
    desc = {f: f"description of {f}" for f in model.features}
    rc = model.reason_codes(te, k=3, descriptions=desc, chunk_rows=250)  # several chunks
    C, _ = model.contributions(te)
    assert len(rc) == len(te) and (rc.index == te.index).all()
    for i in range(0, len(te), 97):
        order = np.argsort(-C[i], kind="stable")
        expected = [model.features[j] for j in order[:3] if C[i, j] > 0]
        got = [rc[f"reason_{k}_feature"].iloc[i] for k in (1, 2, 3)]
        assert got[:len(expected)] == expected
        assert all(pd.isna(g) for g in got[len(expected):])
        if expected:
            assert rc["reason_1"].iloc[i] == f"description of {expected[0]}"
            assert rc["reason_1_value"].iloc[i] == pytest.approx(C[i, order[0]])


def test_top_k_reasons_hand_case():
    C = np.array([[0.5, -0.2, 0.1, 0.3],
                  [-0.1, -0.2, -0.3, -0.4],
                  [0.0, 0.2, 0.0, 0.0]])
    rc = top_k_reasons(C, ["a", "b", "c", "d"], k=3, descriptions={"a": "Feature A"})
    assert list(rc.iloc[0][["reason_1", "reason_2", "reason_3"]]) == ["Feature A", "d", "c"]
    assert rc.iloc[1][["reason_1", "reason_2", "reason_3"]].isna().all()
    assert rc["reason_1"].iloc[2] == "b" and pd.isna(rc["reason_2"].iloc[2])
    assert str(rc["reason_1"].dtype) == "string"


def test_feature_dictionary_frame():
    d = pd.DataFrame({"name": ["x", "y"], "description": ["the x", None], "family": ["f", "f"]})
    assert feature_descriptions(d) == {"x": "the x"}
    assert feature_descriptions({"x": "the x"}) == {"x": "the x"}
    assert feature_descriptions(None) == {}


def test_training_is_deterministic_and_early_stopped(model, data):
    _, feats, tr, va, te = data
    again = train_gbm(tr[feats], tr["bad"], va[feats], va["bad"])
    np.testing.assert_array_equal(model.predict_proba(te), again.predict_proba(te))
    assert model.params["deterministic"] is True and model.params["num_threads"] == 2
    assert 1 <= model.best_iteration < 2000
    assert model.booster.num_trees() == model.best_iteration  # truncated at the best iteration


def test_save_load_roundtrip_with_categorical(model, data, tmp_path):
    *_, te = data
    model.save(tmp_path)
    loaded = GBMModel.load(tmp_path)
    assert loaded.features == model.features
    assert loaded.categorical_levels == {"channel": ["app", "offline", "partner", "web"]}
    np.testing.assert_allclose(loaded.predict_proba(te), model.predict_proba(te), atol=1e-12)
    # an object-typed or unseen category at scoring time still scores
    odd = te.copy()
    odd["channel"] = odd["channel"].astype(object)
    odd.iloc[0, odd.columns.get_loc("channel")] = "never_seen"
    p = loaded.predict_proba(odd)
    assert np.isfinite(p).all()
    np.testing.assert_allclose(p[1:], model.predict_proba(te)[1:], atol=1e-12)
    with pytest.raises(KeyError, match="lacks"):
        loaded.predict_proba(te.drop(columns=[model.features[0]]))
