"""Feature pre-selection: each stage drops what it should, and says why."""
import numpy as np
import pandas as pd
import pytest

from models.selection import SelectionConfig, information_values, select_features


@pytest.fixture(scope="module")
def frames():
    rng = np.random.default_rng(3)
    n = 4000
    strong = rng.normal(size=n)
    medium = rng.normal(size=n)
    y = (rng.random(n) < 1 / (1 + np.exp(-(-2.0 + 1.2 * strong + 0.6 * medium)))).astype(int)
    train = pd.DataFrame({
        "strong": strong,
        "strong_copy": strong * 2 + rng.normal(scale=0.05, size=n),    # |r| ~ 1 with strong, lower IV
        "medium": medium,
        "noise": rng.normal(size=n),
        "mostly_missing": np.where(rng.random(n) < 0.97, np.nan, rng.normal(size=n)),
        "constant": np.ones(n),
        "near_constant": np.where(rng.random(n) < 0.995, 0.0, 1.0),
        "drifting": rng.normal(size=n),
        "channel": pd.Series(np.where(strong > 0.5, "partner", np.where(rng.random(n) < 0.5, "app", "web")), dtype="string"),
        "bad": y,
    })
    oot = train.drop(columns="bad").copy()
    oot["drifting"] = oot["drifting"] + 2.0
    return train, oot


def reasons(result):
    return dict(zip(result.dropped["feature"], result.dropped["reason"]))


def test_each_stage_drops_what_it_should(frames):
    train, oot = frames
    res = select_features(train, "bad", oot_frame=oot, max_corr=0.9, min_iv=0.02, n_jobs=1)
    why = reasons(res)
    assert why["mostly_missing"] == "missing_rate"
    assert why["constant"] == "near_constant"
    assert why["near_constant"] == "near_constant"
    assert why["drifting"] == "psi"
    assert why["noise"] == "low_iv"
    assert why["strong_copy"] == "correlated"
    assert "with strong" in res.dropped.set_index("feature").loc["strong_copy", "detail"]
    assert res.kept[0] == "strong"                         # strongest first
    assert set(res.kept) == {"strong", "medium", "channel"}
    # every candidate is either kept or has exactly one reason
    assert sorted(res.kept + list(res.dropped["feature"])) == sorted(c for c in train.columns if c != "bad")
    stats = res.stats.set_index("feature")
    assert stats.loc["strong", "iv"] > stats.loc["medium", "iv"] > 0.02
    assert stats.loc["drifting", "psi"] > 0.25 and stats.loc["strong", "psi"] < 0.1
    assert stats.loc["mostly_missing", "missing_rate"] == pytest.approx(train["mostly_missing"].isna().mean())
    assert stats.loc["strong_copy", "status"] == "correlated"
    assert res.summary()["kept"] == 3
    # optbinning's plain "auto" (any shape) fits the noise: IV ~0.025 instead of ~0.007, kept
    auto = select_features(train, "bad", oot_frame=oot, max_corr=0.9, min_iv=0.02, n_jobs=1,
                           binning_params={"monotonic_trend": "auto"}).stats.set_index("feature")
    assert auto.loc["noise", "iv"] > 0.02 > stats.loc["noise", "iv"]


def test_cap_and_prescreen(frames):
    train, oot = frames
    res = select_features(train, "bad", oot_frame=oot, max_features=1, max_corr=None, n_jobs=1)
    assert res.kept == ["strong"]
    assert "cap" in set(res.dropped["reason"])
    # pre-screen: only the top-2 numeric candidates by univariate AUC get an IV
    res = select_features(train, "bad", prescreen_top_k=2, max_corr=None, min_iv=0.0, n_jobs=1)
    pre = res.dropped[res.dropped["reason"] == "prescreen_auc"]["feature"].tolist()
    assert "noise" in pre and "strong" not in pre
    assert res.stats.set_index("feature")["iv"].notna().sum() == 3  # two numeric + the categorical


def test_stages_can_be_switched_off(frames):
    train, _ = frames
    res = select_features(train, "bad", config=SelectionConfig(min_iv=None, max_corr=None, max_psi=None,
                                                               prescreen_top_k=None))
    assert set(reasons(res).values()) <= {"missing_rate", "near_constant"}
    assert res.stats["iv"].isna().all()


def test_information_values_agree_with_optbinning(frames):
    from models._optb import fit_optimal_binning, information_value

    train, _ = frames
    iv = information_values(train, "bad", ["strong", "channel"], n_jobs=1)
    ob = fit_optimal_binning(train["strong"].to_numpy(), train["bad"].to_numpy(), "strong")
    assert iv["strong"] == pytest.approx(information_value(ob))
    assert iv["channel"] > 0.05


def test_bad_inputs(frames):
    train, _ = frames
    with pytest.raises(KeyError):
        select_features(train, "nope")
    with pytest.raises(KeyError):
        select_features(train, "bad", features=["strong", "missing_col"])
    with pytest.raises(TypeError):
        select_features(train, "bad", not_an_option=1)


def test_prescreen_auc_from_bin_counts_equals_sklearn_on_the_binned_values():
    from sklearn.metrics import roc_auc_score

    from models.selection import PRESCREEN_BINS, _univariate_auc

    rng = np.random.default_rng(3)
    x = np.round(rng.normal(size=3000), 1)          # ties inside and across bins
    y = (rng.random(3000) < 1 / (1 + np.exp(1.5 - x))).astype(int)
    x[rng.random(3000) < 0.2] = np.nan
    a_val, a_miss = _univariate_auc(x, y)
    ok = ~np.isnan(x)
    edges = np.unique(np.quantile(x[ok], np.linspace(0, 1, PRESCREEN_BINS + 1)[1:-1]))
    assert a_val == pytest.approx(roc_auc_score(y[ok], np.searchsorted(edges, x[ok])), abs=1e-12)
    assert a_miss == pytest.approx(roc_auc_score(y, np.isnan(x)), abs=1e-12)
    assert _univariate_auc(np.full(50, np.nan), y[:50]) == (0.5, 0.5)


def test_selection_keeps_the_binnings_of_the_kept_features(frames):
    train, oot = frames
    params = {"monotonic_trend": "auto_significant", "max_n_prebins": 20, "min_prebin_size": 0.02, "min_bin_size": 0.03}
    res = select_features(train, "bad", oot_frame=oot, max_corr=0.9, min_iv=0.02, n_jobs=1, binning_params=params)
    assert set(res.binnings) == set(res.kept) == {"strong", "medium", "channel"}
    assert res.binning_splits == {f: list(res.binnings[f].splits) for f in ("strong", "medium")}
    # a categorical feature is binned with the same parameters, less the trend (its bins follow the event rate)
    channel = res.binnings["channel"]
    assert channel.dtype == "categorical" and channel.min_bin_size == 0.03 and channel.max_n_prebins == 20
    assert res.stats.set_index("feature").at["channel", "iv"] == pytest.approx(
        information_values(train, "bad", ["channel"], n_jobs=1, binning_params=params).iloc[0])


def test_feature_kinds_one_rule_for_every_dtype():
    """Strings, objects and categories are categorical; numbers (nullable ones too) are continuous; a bool is
    neither (a 0/1 number to the models, two levels to stability)."""
    from models.feature_kinds import categorical_features, is_categorical, is_continuous

    frame = pd.DataFrame({
        "f64": [1.5, np.nan], "i64": [1, 2], "nullable_int": pd.array([1, None], dtype="Int64"),
        "flag": [True, False], "nullable_flag": pd.array([True, None], dtype="boolean"),
        "text": pd.Series(["a", None], dtype="string"), "obj": ["x", "y"], "cat": pd.Categorical(["u", "v"]),
    })
    kinds = {c: (is_categorical(frame[c]), is_continuous(frame[c].dtype)) for c in frame.columns}
    assert kinds == {"f64": (False, True), "i64": (False, True), "nullable_int": (False, True),
                     "flag": (False, False), "nullable_flag": (False, False),
                     "text": (True, False), "obj": (True, False), "cat": (True, False)}
    assert categorical_features(frame, ["obj", "f64", "cat", "flag"]) == {"obj", "cat"}
