"""Points scaling, and the WoE scorecard agreeing with it."""
import numpy as np
import pytest

from models.scorecard import (ScoreScaling, log_odds_to_points, odds_to_points, points_to_odds,
                              points_to_probability, probability_to_points, train_scorecard)
from models.synthetic import make_credit_data


def test_default_scaling_anchor_points():
    assert odds_to_points(50) == pytest.approx(600)
    assert odds_to_points(100) == pytest.approx(620)
    assert odds_to_points(25) == pytest.approx(580)
    assert odds_to_points(200) == pytest.approx(640)
    # probability of bad 1/51 is 50:1 good:bad odds
    assert probability_to_points(1 / 51) == pytest.approx(600)
    assert probability_to_points(1 / 101) == pytest.approx(620)
    assert points_to_odds(620) == pytest.approx(100)
    assert points_to_probability(600) == pytest.approx(1 / 51)


def test_scaling_is_configurable_and_invertible():
    s = ScoreScaling(base_points=500, base_odds=20, pdo=40)
    assert odds_to_points(20, s) == pytest.approx(500)
    assert odds_to_points(40, s) == pytest.approx(540)
    p = np.array([0.001, 0.01, 0.1, 0.5, 0.9])
    assert points_to_probability(probability_to_points(p, s), s) == pytest.approx(p)
    # points = offset - factor * ln(bad:good odds)
    lo = np.log(p / (1 - p))
    assert log_odds_to_points(lo, s) == pytest.approx(s.offset - s.factor * lo)
    assert np.all(np.diff(probability_to_points(p, s)) < 0)  # riskier -> fewer points
    assert np.isfinite(probability_to_points([0.0, 1.0])).all()
    with pytest.raises(ValueError):
        ScoreScaling(pdo=0)


@pytest.fixture(scope="module")
def small_scorecard():
    df = make_credit_data(6000, 30, n_informative=8, seed=11)
    feats = [f"f_{j:03d}" for j in range(8)] + ["f_010", "f_011", "channel"]
    model = train_scorecard(df[feats], df["bad"])
    return model, df


def test_scorecard_points_match_probability_scaling(small_scorecard):
    model, df = small_scorecard
    p = model.predict_proba(df)
    # optbinning's pdo_odds points table sums to exactly our scaling of the model's probability
    assert model.points(df) == pytest.approx(probability_to_points(p, model.scaling), abs=1e-6)
    assert model.predict_log_odds(df) == pytest.approx(np.log(p / (1 - p)), abs=1e-8)


def test_scorecard_coefficients_have_the_right_sign(small_scorecard):
    model, _ = small_scorecard
    assert (model.coefficients <= 1e-8).all()  # WoE is high for good bins: risk falls as WoE rises
    t = model.table("detailed")
    assert {"Variable", "Bin", "WoE", "Points"} <= set(t.columns)


def test_scorecard_contributions_sum_and_reasons(small_scorecard):
    model, df = small_scorecard
    sample = df.head(500)
    C, base = model.contributions(sample)
    assert C.shape == (500, len(model.features))
    assert C.sum(axis=1) + base == pytest.approx(model.predict_log_odds(sample), abs=1e-8)
    assert (C >= -1e-9).all()  # points lost against each feature's best bin are never negative
    rc = model.reason_codes(sample, k=3, descriptions={"channel": "application channel"})
    assert list(rc.columns[:3]) == ["reason_1", "reason_1_feature", "reason_1_value"]
    top = rc["reason_1_feature"].dropna()
    assert len(top) > 400 and set(top) <= set(model.features)
    row = int(np.argmax(C.sum(axis=1)))
    assert rc["reason_1_feature"].iloc[row] == model.features[int(np.argmax(C[row]))]


def _u_shaped(n=5000, seed=4):
    import pandas as pd

    rng = np.random.default_rng(seed)
    age = rng.uniform(18, 70, n)
    months_since_delinq = rng.exponential(24, n).round()
    # bureau codes: -7 "no record", -8 "not asked", -9 "refused": their own risk, unrelated to the value scale
    code = rng.choice([np.nan, -7, -8, -9], size=n, p=[0.8, 0.1, 0.05, 0.05])
    months_since_delinq = np.where(np.isnan(code), months_since_delinq, code)
    z = -2.0 + ((age - 44) / 13) ** 2 * 0.9 - 0.02 * np.clip(months_since_delinq, 0, None)
    z += np.select([months_since_delinq == -7, months_since_delinq == -8, months_since_delinq == -9], [-1.0, 0.3, 1.2], 0.0)
    y = (rng.random(n) < 1 / (1 + np.exp(-z))).astype(int)
    return pd.DataFrame({"age": age, "months_since_delinq": months_since_delinq}), y


def test_u_shaped_effect_is_not_flattened():
    from models.selection import information_values

    X, y = _u_shaped()
    auto = train_scorecard(X[["age"]], y)                       # default: trend chosen per feature
    mono = train_scorecard(X[["age"]], y, monotonic_trend="auto_asc_desc")
    t = auto.table("detailed")
    rates = t[(t["Variable"] == "age") & (t["Count"] > 0) & ~t["Bin"].astype(str).isin(["Special", "Missing"])]["Event rate"].to_numpy()
    # a valley: riskier at both ends than in the middle
    assert rates[0] > rates.min() < rates[-1] and 0 < int(np.argmin(rates)) < len(rates) - 1
    iv = lambda m: float(m.table("detailed").query("Variable == 'age'")["IV"].sum())  # noqa: E731
    assert iv(auto) > 2.5 * iv(mono)
    assert information_values(X, y, ["age"]).iloc[0] > 2.5 * information_values(
        X, y, ["age"], binning_params={"monotonic_trend": "auto_asc_desc"}).iloc[0]


def test_shaped_binning_is_skipped_only_when_it_cannot_win(monkeypatch):
    """The pre-bins' IV bounds any shaped binning of them: the shortcut gives the same bins as
    always fitting both shapes, and skips the second fit for a monotone feature."""
    from models import _optb

    X, y = _u_shaped()
    rng = np.random.default_rng(5)
    linear = rng.normal(size=len(y))
    y_lin = (rng.random(len(y)) < 1 / (1 + np.exp(2.2 - 0.8 * linear))).astype(int)
    params = {"max_n_prebins": 20, "min_prebin_size": 0.02, "min_bin_size": 0.03}
    calls = []
    real = _optb.fit_optimal_binning

    def counting(x, y, name, **kw):
        calls.append(kw.get("monotonic_trend"))
        return real(x, y, name, **kw)

    monkeypatch.setattr(_optb, "fit_optimal_binning", counting)
    for x, target, shaped_wins in ((X["age"].to_numpy(), y, True), (linear, y_lin, False)):
        calls.clear()
        got = _optb.fit_optimal_binning(x, target, "f", monotonic_trend="auto_significant", **params)
        mono = real(x, target, "f", monotonic_trend="auto_asc_desc", **params)
        shaped = real(x, target, "f", monotonic_trend="auto_heuristic", **params)
        iv_m, iv_s = _optb.information_value(mono), _optb.information_value(shaped)
        assert _optb.shaped_iv_bound(mono) >= iv_s - 1e-12          # the bound holds
        assert (iv_s >= iv_m + 0.02 and iv_s >= 1.5 * iv_m) == shaped_wins
        np.testing.assert_array_equal(got.splits, (shaped if shaped_wins else mono).splits)
        assert ("auto_heuristic" in calls) == shaped_wins            # skipped when it cannot win


def test_special_codes_are_detected_and_binned_on_their_own():
    from models.scorecard import detect_special_codes

    X, y = _u_shaped()
    assert detect_special_codes(X) == {"months_since_delinq": [-9, -8, -7]}
    assert detect_special_codes(X.assign(delta=np.random.default_rng(0).integers(-3, 4, len(X)))).get("delta") is None
    assert detect_special_codes(X.assign(income=np.where(np.arange(len(X)) % 20 == 0, 99999999, 1000 + np.arange(len(X)))))["income"] == [99999999]
    m = train_scorecard(X, y, special_codes="auto")
    assert m.special_codes == {"months_since_delinq": [-9, -8, -7]}
    t = m.table("detailed").query("Variable == 'months_since_delinq'")
    special = t[t["Bin"].astype(str).isin(["-7", "-8", "-9"])]        # one bin per code, named by it
    assert len(special) == 3 and special["Count"].sum() == int(np.isin(X["months_since_delinq"], [-7, -8, -9]).sum())
    # each code keeps its own risk: -9 (refused) is the riskiest, -7 (no record) the safest
    rate = dict(zip(special["Bin"].astype(str), special["Event rate"]))
    assert rate["-9"] > rate["-8"] > rate["-7"]
    # the numeric bins never hold a code
    numeric = t[~t["Bin"].astype(str).isin(["-7", "-8", "-9", "Missing"])]
    assert numeric["Count"].sum() == int((X["months_since_delinq"] >= 0).sum())


def test_declared_special_codes_and_per_feature_trends():
    X, y = _u_shaped()
    m = train_scorecard(X, y, special_codes={"months_since_delinq": [-7, -8, -9]},
                        monotonic_trend={"age": "valley", "default": "auto_asc_desc"})
    assert m.special_codes == {"months_since_delinq": [-7, -8, -9]}
    bp = m.scorecard.binning_process_
    assert bp.get_binned_variable("age").monotonic_trend == "valley"
    assert bp.get_binned_variable("months_since_delinq").monotonic_trend == "auto_asc_desc"


def test_scorecard_reports_unseen_categories_at_scoring(small_scorecard):
    model, df = small_scorecard
    odd = df.head(40).copy()
    odd["channel"] = odd["channel"].astype(object)
    odd.iloc[:4, odd.columns.get_loc("channel")] = "kiosk"
    with pytest.warns(UserWarning, match="never saw"):
        model.predict_proba(odd)
    assert model.last_input_report.set_index("feature").at["channel", "n_unseen_category"] == 4


def test_rank_auc_is_sklearns_auc_with_ties():
    from sklearn.metrics import roc_auc_score

    from models.metrics import rank_auc

    # hand-checkable: bad scores {3, 2}, good {2, 1}: pairs (3>2) (3>1) (2=2: half) (2>1) -> 3.5 / 4
    assert rank_auc([1, 1, 0, 0], [3, 2, 2, 1]) == pytest.approx(0.875)
    rng = np.random.default_rng(1)
    y, s = rng.integers(0, 2, 500), np.round(rng.normal(size=500), 1)
    assert rank_auc(y, s) == pytest.approx(roc_auc_score(y, s), abs=1e-12)
    with pytest.raises(ValueError, match="both classes"):
        rank_auc([0, 0], [1, 2])


def test_C_is_chosen_by_inner_cross_validation_among_the_grid(small_scorecard):
    from models.gbm import stratified_folds
    from sklearn.metrics import roc_auc_score

    from models.scorecard import DEFAULT_C_GRID, choose_C, fold_aucs

    model, df = small_scorecard
    assert model.C in DEFAULT_C_GRID and set(model.C_cv) == set(DEFAULT_C_GRID)
    assert model.C_cv[model.C] == max(model.C_cv.values())
    # choose_C is the grid's best mean fold AUC on the training rows' bins
    bp = model.scorecard.binning_process_
    # the recipe's bins: missing values and special codes in bins of their own, as in the scorecard
    own = {"metric_special": "empirical", "metric_missing": "empirical"}
    idx = bp.transform(model._X(df)[bp.variable_names], metric="indices", **own).to_numpy()
    y = df["bad"].to_numpy()
    per_fold = fold_aucs(idx, y, stratified_folds(y, 5, 0), Cs=[0.01, 1.0])
    C, scores = choose_C(idx, y, grid=(0.01, 1.0))
    assert scores == pytest.approx({c: np.mean(a) for c, a in per_fold.items()})
    assert C == max(scores, key=scores.get)
    # the recipe's fold AUCs, brute force: the whole fit (bins included) on each fold's training rows at the
    # chosen C, scored on the held-out rows; the bins of the model itself would have seen those labels
    feats = model.features
    X = df[feats].reset_index(drop=True)
    for k in (5, 3):
        m = train_scorecard(X, y, cv_folds=k)
        reference = [roc_auc_score(y[val], train_scorecard(X.iloc[fit], y[fit], C=m.C).predict_proba(X.iloc[val]))
                     for fit, val in stratified_folds(y, k, 0)]
        assert len(m.cv_fold_aucs) == k and m.cv_fold_aucs == pytest.approx(reference, abs=1e-9)
        m_idx = m.scorecard.binning_process_.transform(m._X(X)[m.features], metric="indices", **own).to_numpy()
        shared_bins = fold_aucs(m_idx, y, stratified_folds(y, k, 0), [m.C])[m.C]
        assert np.mean(m.cv_fold_aucs) < np.mean(shared_bins)  # the optimism the refit removes
    assert model.cv_fold_aucs is None
    fixed = train_scorecard(df[model.features], df["bad"], C=0.05)
    assert fixed.C == 0.05 and not fixed.C_cv
    assert fixed.scorecard.estimator_.C == 0.05
    with pytest.raises(ValueError, match="at least 2 bad"):
        choose_C(idx[:50], np.r_[1, np.zeros(49, dtype=int)])
    for wrong in (0, -1, "auto", True):
        with pytest.raises(ValueError, match="C must be"):
            train_scorecard(df[["f_000"]], df["bad"], C=wrong)


def test_the_selections_binnings_are_adopted_without_optimising_again(monkeypatch, tmp_path):
    """Binnings found by the feature selection on the same rows give the same scorecard as binning
    afresh, with no optimisation at fit time; the binning process computes its statistics on demand."""
    from models import _optb
    from models.scorecard import DEFAULT_BINNING, ScorecardModel
    from models.selection import information_values

    df = make_credit_data(3000, 15, n_informative=5, seed=3)
    feats = ["f_000", "f_001", "f_002", "f_003", "channel"]
    found: dict = {}
    information_values(df, "bad", feats, n_jobs=1, binnings_out=found,
                       binning_params={**DEFAULT_BINNING, "monotonic_trend": "auto_significant"})
    fresh = train_scorecard(df[feats], df["bad"], C=1.0)
    calls = []
    real = _optb.fit_optimal_binning
    monkeypatch.setattr(_optb, "fit_optimal_binning", lambda *a, **k: calls.append(a[2]) or real(*a, **k))
    adopted = train_scorecard(df[feats], df["bad"], C=1.0, binnings=found)
    assert calls == []
    np.testing.assert_allclose(adopted.predict_proba(df), fresh.predict_proba(df), atol=1e-12)
    summary = adopted.scorecard.binning_process_.summary().set_index("name")
    assert summary.loc["f_000", "iv"] == pytest.approx(_optb.information_value(found["f_000"]))
    # the fitted model (with the recording binnings) pickles
    adopted.save(tmp_path)
    np.testing.assert_allclose(ScorecardModel.load(tmp_path).predict_proba(df), adopted.predict_proba(df))
    with pytest.raises(ValueError, match="fitted on other rows"):
        train_scorecard(df[feats].head(2000), df["bad"].head(2000), C=1.0, binnings=found)


def test_categorical_values_are_plain_strings_with_nan_for_missing():
    import pandas as pd

    from models._optb import as_categorical_values

    cases = {("a", None, "b"): None, ("a", pd.NA, "b"): "string", (1, None, 2): "category", (True, None, "x"): object}
    for values, dtype in cases.items():
        out = as_categorical_values(pd.Series(list(values), dtype=dtype))
        assert out.isna().tolist() == [False, True, False]
        assert out.dropna().tolist() == [str(values[0]), str(values[2])]


def test_exact_merge_by_hand():
    """Three pre-bins with event rates 0.1, 0.2, 0.3 (100 rows each): ascending keeps them (merging
    never raises IV); descending forbids any split (the rates rise); a 150-row minimum bin forces one bin."""
    from models._optb import exact_merge

    ne, ev = np.array([90, 80, 70]), np.array([10, 20, 30])
    assert exact_merge(ne, ev, "ascending").tolist() == [True, True, True]
    assert exact_merge(ne, ev, None).tolist() == [True, True, True]
    assert exact_merge(ne, ev, "descending").tolist() == [False, False, True]
    assert exact_merge(ne, ev, "ascending", min_bin_size=150).tolist() == [False, False, True]
    assert exact_merge(ne, ev, "ascending", max_bin_size=150).tolist() == [True, True, True]
    assert exact_merge(ne, ev, "ascending", min_bin_size=150, max_bin_size=150) is None   # infeasible
    # a peak at pre-bin 1 (rates 0.1, 0.3, 0.2): rising up to it, falling after it
    assert exact_merge(np.array([90, 70, 80]), np.array([10, 30, 20]), "peak_heuristic", 1).tolist() == [True, True, True]
    assert exact_merge(np.array([90, 70, 80]), np.array([10, 30, 20]), "concave") is None   # not modelled
    assert exact_merge(np.array([90, 100, 80]), np.array([10, 0, 20]), "ascending") is None  # infinite IV


def test_exact_merge_is_the_cp_solvers_answer():
    """On random features, every trend, numerical and categorical: the same bins as optbinning's CP
    solver, and the solver is skipped in most fits."""
    import warnings

    from models._optb import optbinning
    from models._optb_classes import RecordingOptimalBinning

    ob = optbinning()
    rng = np.random.default_rng(3)
    trends = ["auto_asc_desc", "auto_heuristic", "ascending", "descending", "peak_heuristic", "valley_heuristic", None]
    shortcut = 0
    for r in range(42):
        n = int(rng.integers(300, 4000))
        x = rng.normal(size=n)
        z = [x, -x, x ** 2, np.sin(3 * x)][r % 4] * rng.uniform(0, 1.5)
        y = (rng.random(n) < 1 / (1 + np.exp(1 - z))).astype(int)
        if r % 3 == 0:
            x = np.round(x * 2) / 2
        if r % 5 == 0:
            x[rng.random(n) < 0.1] = np.nan
        cat = r % 7 == 6
        kw = {"name": "f", "max_n_prebins": int(rng.integers(3, 25)), "min_prebin_size": 0.01,
              "min_bin_size": float(rng.choice([0.01, 0.03, 0.08])), "max_bin_size": [None, 0.5][r % 2]}
        if cat:
            x = np.array([f"c{int(v)}" for v in np.nan_to_num(np.round(x * 3))], dtype=object)
            kw["dtype"] = "categorical"
        else:
            kw["monotonic_trend"] = trends[r % len(trends)]
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            cp = ob.OptimalBinning(**kw).fit(x, y)
            fast = RecordingOptimalBinning(**kw).fit(x, y)
        shortcut += fast.exact_merge_
        if cat:
            assert [sorted(s) for s in fast.splits] == [sorted(s) for s in cp.splits]
        else:
            np.testing.assert_array_equal(fast.splits, cp.splits)
        np.testing.assert_array_equal(fast.binning_table.n_event, cp.binning_table.n_event)
        assert fast.status == cp.status
    assert shortcut >= 30
