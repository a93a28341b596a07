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


def test_cv_chooses_from_the_grid_refits_on_all_rows_and_is_deterministic(data):
    from models.gbm import candidate_grid, train_gbm_cv

    df, feats, *_ = data
    small = df.iloc[:3000]
    grid = candidate_grid(len(small), len(feats))[:3]
    a = train_gbm_cv(small[feats], small["bad"], grid=grid, n_folds=3)
    b = train_gbm_cv(small[feats], small["bad"], grid=grid, n_folds=3)
    np.testing.assert_array_equal(a.predict_proba(df), b.predict_proba(df))
    assert a.booster.model_to_string() == b.booster.model_to_string()
    cands = {c["name"]: c for c in a.evals["candidates"]}
    assert set(cands) == {g["name"] for g in grid}
    chosen = cands[a.evals["chosen"]]
    assert chosen["auc_mean"] == max(c["auc_mean"] for c in cands.values()) == a.evals["cv_auc_mean"]
    assert a.booster.num_trees() == chosen["rounds"] == a.best_iteration
    assert 0.6 < a.evals["cv_auc_mean"] < 0.95
    # refitted on all 3,000 rows: the first tree saw more rows than any CV fold trains on (2,000),
    # even after row subsampling (>= 0.7)
    tree0 = a.booster.dump_model()["tree_info"][0]["tree_structure"]
    assert tree0["internal_count"] > 2000


def test_grid_scales_rows_per_leaf_with_the_data():
    from models.gbm import candidate_grid

    small, big = candidate_grid(500), candidate_grid(200_000)
    assert all(g["min_data_in_leaf"] <= 50 for g in small)       # at most a tenth of the rows
    assert max(g["min_data_in_leaf"] for g in big) >= 1000
    assert all(g["deterministic"] and g["seed"] == 42 for g in big)
    assert any(g["num_leaves"] == 31 and g["min_data_in_leaf"] == 20 and g["feature_fraction"] == 1.0 for g in big)


def test_tiny_frames_are_refused_not_fitted_to_a_constant(data):
    from models.gbm import TooLittleData, train_gbm_cv

    df, feats, *_ = data
    tiny = df.iloc[:20]
    with pytest.raises(TooLittleData, match="20 rows"):
        train_gbm_cv(tiny[feats], tiny["bad"])
    with pytest.raises(TooLittleData, match="at least 10"):
        train_gbm(tiny[feats], tiny["bad"], tiny[feats], tiny["bad"])
    # enough of each class, but nothing to split on: an error, not a constant model
    flat = pd.DataFrame({"x": np.zeros(200)})
    y = np.r_[np.ones(40), np.zeros(160)]
    with pytest.raises(TooLittleData, match="constant"):
        train_gbm_cv(flat, y, n_folds=3)


@pytest.mark.parametrize("dtype", ["object", "category"])
def test_unseen_categories_are_counted_on_text_whatever_the_value_types(dtype):
    """One rule for both model types: a value is unseen when its text is not a training level's text, so
    1 matches the level "1" and 2.5 the level "2.5", whether the caller passes its own texts or not."""
    from models._optb import as_categorical_values
    from models.gbm import input_report

    values = pd.Series([1, 2.5, True, "a", "b", None, 3, "a", 7.0], dtype="object").astype(dtype)
    frame = pd.DataFrame({"c": values})
    levels = {"c": ["1", "2.5", "True", "a", "7.0"]}
    plain = input_report(frame, ["c"], levels, {"c": True})
    given = input_report(frame, ["c"], levels, {"c": True}, as_text={"c": as_categorical_values(frame["c"])})
    assert plain.to_dict("records") == given.to_dict("records") == [
        {"feature": "c", "n_unseen_category": 2, "n_unexpected_missing": 0, "n_inf": 0}]  # "b" and 3
    assert input_report(frame, ["c"], {"c": [1, 2.5, True, "a", 7.0, "b", 3]}, {"c": True}).empty


def test_scoring_reports_unseen_categories_missing_and_inf(model, data):
    *_, te = data
    odd = te.head(50).copy()
    never_missing = next(f for f in model.features if f != "channel" and not model.training_missing[f])
    odd.loc[odd.index[:3], "channel"] = "kiosk"
    odd.loc[odd.index[:5], never_missing] = np.nan
    odd.loc[odd.index[5:7], never_missing] = np.inf
    with pytest.warns(UserWarning, match="never saw"):
        p = model.predict_proba(odd)
    rep = model.last_input_report.set_index("feature")
    assert rep.at["channel", "n_unseen_category"] == 3
    assert rep.at[never_missing, "n_unexpected_missing"] == 5
    assert rep.at[never_missing, "n_inf"] == 2
    # inf scored as missing
    as_nan = odd.copy()
    as_nan.loc[as_nan.index[5:7], never_missing] = np.nan
    np.testing.assert_array_equal(p, model.predict_proba(as_nan))


def test_monotone_constraints_by_feature_name(data):
    _, feats, tr, va, te = data
    m = train_gbm(tr[feats], tr["bad"], va[feats], va["bad"], params={"monotone_constraints": {"f_000": 1}})
    grid = te.head(1).loc[te.index[[0] * 30]].copy()
    grid["f_000"] = np.linspace(-3, 3, 30)
    assert (np.diff(m.predict_log_odds(grid)) >= -1e-12).all()


def test_grouped_folds_keep_each_customer_in_one_fold_and_stay_stratified():
    from sklearn.model_selection import StratifiedKFold

    from models.gbm import stratified_folds

    rng = np.random.default_rng(7)
    customers = np.repeat([f"C{i}" for i in range(600)], rng.integers(1, 6, 600))
    bad_customer = rng.random(600) < 0.1
    y = (bad_customer[np.char.lstrip(customers.astype(str), "C").astype(int)] & (rng.random(customers.size) < 0.7)).astype(int)
    folds = stratified_folds(y, 4, seed=42, groups=customers)
    assert len(folds) == 4
    held_out = np.concatenate([v for _, v in folds])
    assert np.array_equal(np.sort(held_out), np.arange(y.size))           # every row held out exactly once
    for fit, val in folds:
        assert not set(customers[fit]) & set(customers[val])               # no customer on both sides
        assert np.array_equal(np.sort(np.concatenate([fit, val])), np.arange(y.size))
    # stratified by customer: each fold holds about a quarter of the customers with a bad
    bad_groups = [len({c for c in customers[v][y[v] == 1]}) for _, v in folds]
    assert max(bad_groups) - min(bad_groups) <= 1 and sum(bad_groups) == len(set(customers[y == 1]))
    # one row per customer: the plain row folds, unchanged
    unique = np.array([f"R{i}" for i in range(y.size)])
    plain = list(StratifiedKFold(4, shuffle=True, random_state=42).split(np.zeros(y.size), y))
    for (a_fit, a_val), (b_fit, b_val) in zip(stratified_folds(y, 4, 42, groups=unique), plain):
        assert np.array_equal(a_val, b_val) and np.array_equal(a_fit, b_fit)


def test_train_model_cross_validates_with_customers_kept_whole(monkeypatch):
    """Both model types' CV (LightGBM's parameter search, the scorecard's C and CV AUC) get folds that never
    split a customer: recorded from the folds the training really used."""
    import models.gbm as gbm
    from models.train import train_model

    df = make_credit_data(3000, 15, n_informative=4, seed=3).drop(columns=["true_prob"])
    df["customer_id"] = [f"C{i // 3}" for i in range(len(df))]  # three rows per customer
    seen = []
    real = gbm.stratified_folds

    def recording(y, n_folds=5, seed=42, groups=None):
        folds = real(y, n_folds, seed, groups)
        seen.append((None if groups is None else np.asarray(groups), folds))
        return folds

    monkeypatch.setattr(gbm, "stratified_folds", recording)
    for model_type in ("lightgbm", "scorecard"):
        seen.clear()
        result = train_model(df, "bad", time_column="month", model_type=model_type, group_column="customer_id",
                             select=False, cv_folds=3, split={"oot_fraction": 0.25})
        assert result.metrics["cv_group_column"] == "customer_id" and len(result.metrics["auc_cv_folds"]) == 3
        assert seen and all(groups is not None for groups, _ in seen)
        for groups, folds in seen:
            for fit, val in folds:
                assert not set(groups[fit]) & set(groups[val])


def test_cv_candidates_do_not_inherit_each_others_dataset_parameters():
    """The default grid's candidates share one binned Dataset; a caller's grid that varies a Dataset parameter
    (min_data_in_bin) gets each candidate scored as if it ran alone (LightGBM would carry the parameter over)."""
    from models.gbm import cross_validate_grid, stratified_folds

    df = make_credit_data(1500, 16, n_informative=4, seed=3)
    X, y = df[[c for c in df.columns if c.startswith("f_")]], df["bad"].to_numpy()
    folds = stratified_folds(y, 3, seed=1)
    grid = [{"name": "a", "min_data_in_bin": 3, "num_leaves": 7}, {"name": "b", "min_data_in_bin": 200, "num_leaves": 7},
            {"name": "c", "num_leaves": 7}]
    together = cross_validate_grid(X, y, folds, grid=grid, num_boost_round=60, seed=0, threads=1).table
    alone = [cross_validate_grid(X, y, folds, grid=[g], num_boost_round=60, seed=0, threads=1).table.iloc[0] for g in grid]
    assert together["auc_mean"].tolist() == [a["auc_mean"] for a in alone]
    assert together["rounds"].tolist() == [a["rounds"] for a in alone]
    assert together["auc_mean"].nunique() > 1   # the Dataset parameter matters here, so the check can fail
