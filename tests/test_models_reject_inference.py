"""Reject-inference methods on hand-made and small synthetic frames (weights, duplicated rows, monotone
parcels), and the full fit on synthetic applications whose old policy declined the riskier ones."""
from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from models.reject_inference import (ROW_KIND, WEIGHT, RejectInferenceError, expand_weights, expected_auc,
                                     fit_reject_inference, fuzzy_augmentation, parcel_bad_rates, parcelling,
                                     reweighting, ttd_auc_table)


@pytest.fixture()
def small():
    # 4 accepted (2 labelled bad), 3 rejects (no outcome), 1 accepted without an outcome yet
    return pd.DataFrame({
        "app": list("abcdefgh"),
        "x": [0.1, 0.2, 0.8, 0.9, 0.7, 0.95, 0.5, 0.3],
        "accepted": [True, True, True, True, False, False, False, True],
        "bad": [0, 0, 1, 1, np.nan, np.nan, np.nan, np.nan],
    })


def test_fuzzy_duplicates_each_reject_as_bad_and_good_with_weights_summing_to_one(small):
    p = np.array([0.2, 0.5, 0.1])
    out = fuzzy_augmentation(small, "bad", "accepted", p)
    assert len(out) == 4 + 2 * 3  # the unlabelled accepted row is left out
    acc = out[out[ROW_KIND] == "accepted"]
    assert list(acc["app"]) == list("abcd") and (acc[WEIGHT] == 1).all()
    rej = out[out[ROW_KIND] != "accepted"]
    assert sorted(rej["app"].unique()) == ["e", "f", "g"]
    assert rej.groupby("app")[WEIGHT].sum().tolist() == pytest.approx([1, 1, 1])
    bad_w = rej[rej["bad"] == 1].set_index("app")[WEIGHT]
    assert bad_w.to_dict() == pytest.approx({"e": 0.2, "f": 0.5, "g": 0.1})
    assert out[WEIGHT].sum() == pytest.approx(4 + 3)
    up = fuzzy_augmentation(small, "bad", "accepted", p, uplift=3.0)
    assert up[up["bad"].eq(1) & up[ROW_KIND].ne("accepted")][WEIGHT].tolist() == pytest.approx([0.6, 1.0, 0.3])


def test_fuzzy_rejects_bad_inputs_with_clear_messages(small):
    with pytest.raises(RejectInferenceError, match="one value per row"):
        fuzzy_augmentation(small, "bad", "accepted", [0.1, 0.2])
    with pytest.raises(RejectInferenceError, match=r"\[0, 1\]"):
        fuzzy_augmentation(small, "bad", "accepted", [0.1, 1.2, 0.3])
    with pytest.raises(RejectInferenceError, match="'decision' not in frame"):
        fuzzy_augmentation(small, "bad", "decision", [0.1, 0.2, 0.3])


def test_expand_weights_realises_weights_as_row_counts_per_row_kind():
    rng = np.random.default_rng(3)
    p = rng.random(500)
    frame = pd.DataFrame({"x": rng.random(700), "accepted": [True] * 200 + [False] * 500,
                          "bad": list(rng.integers(0, 2, 200)) + [np.nan] * 500})
    aug = fuzzy_augmentation(frame, "bad", "accepted", p)
    ex = expand_weights(aug, seed=1)
    assert (ex[ROW_KIND] == "accepted").sum() == 200 and ex.loc[ex[ROW_KIND] == "accepted", "x"].is_unique
    # each kind keeps its weight total: the imputed bads number sum(p), the imputed goods sum(1 - p)
    imputed = ex[ex[ROW_KIND] != "accepted"]
    assert abs(imputed["bad"].sum() - p.sum()) <= 1 and abs((1 - imputed["bad"]).sum() - (1 - p).sum()) <= 1
    assert imputed.groupby("x").size().max() <= 2  # a reject appears at most as its two copies
    # ... and a reject's bad copy is kept more often the higher its p (never a hard cut-off on p)
    kept_bad = np.isin(frame["x"].to_numpy()[200:], imputed.loc[imputed["bad"] == 1, "x"].to_numpy())
    assert p[kept_bad].mean() > 0.6 > 0.4 > p[~kept_bad].mean()
    assert p[kept_bad].min() < 0.2 and p[~kept_bad].max() > 0.8
    w = pd.DataFrame({WEIGHT: [0.4, 2.5, 1.0, 3.1]})
    counts = expand_weights(w.assign(i=range(4)), seed=0)["i"].value_counts().reindex(range(4), fill_value=0)
    assert counts.sum() == 7 and all(np.floor(v) <= c <= np.ceil(v) for v, c in zip(w[WEIGHT], counts))
    many = pd.concat([expand_weights(w.assign(i=range(4)), seed=s)["i"] for s in range(400)])
    assert (many.value_counts().sort_index() / 400).tolist() == pytest.approx(w[WEIGHT].tolist(), abs=0.1)
    with pytest.raises(RejectInferenceError, match="non-negative"):
        expand_weights(pd.DataFrame({WEIGHT: [1.0, -0.5]}))


def test_parcel_bad_rates_are_monotone_in_band_and_scaled_up():
    rng = np.random.default_rng(0)
    s_acc = rng.beta(1, 8, 3000)
    y = (rng.random(3000) < s_acc).astype(int)
    s_rej = rng.beta(2, 6, 1000)
    bands = parcel_bad_rates(s_acc, y, s_rej, n_bands=10, uplift=2.0)
    assert len(bands) == 10 and bands["n_accepted"].sum() == 3000 and bands["n_rejects"].sum() == 1000
    assert (np.diff(bands["monotone_bad_rate"]) >= 0).all()
    assert (np.diff(bands["parcel_bad_rate"]) >= 0).all()
    assert bands["parcel_bad_rate"].to_numpy() == pytest.approx(np.minimum(2 * bands["monotone_bad_rate"], 1))
    # the isotonic rate is the accepted rate wherever that is already monotone: close to the truth here
    assert bands["monotone_bad_rate"].iloc[-1] > 3 * bands["monotone_bad_rate"].iloc[0]


def test_parcelling_labels_rejects_at_the_band_rate():
    rng = np.random.default_rng(1)
    n_acc, n_rej = 2000, 800
    s = np.r_[rng.beta(1, 8, n_acc), rng.beta(2, 5, n_rej)]
    frame = pd.DataFrame({"s": s, "accepted": [True] * n_acc + [False] * n_rej,
                          "bad": list((rng.random(n_acc) < s[:n_acc]).astype(int)) + [np.nan] * n_rej})
    out, bands = parcelling(frame, "bad", "accepted", s[:n_acc], s[n_acc:], n_bands=5, uplift=1.5, seed=2)
    assert len(out) == n_acc + n_rej and (out[WEIGHT] == 1).all()
    rej = out[out[ROW_KIND] == "reject"]
    assert rej["bad"].isin([0, 1]).all()
    expected = np.round(bands["parcel_bad_rate"] * bands["n_rejects"]).astype(int)
    assert bands["n_rejects_bad"].tolist() == expected.tolist()
    assert rej["bad"].sum() == expected.sum()
    # by construction rejects' rates follow the bands: higher bands hold a larger bad share
    rate = bands["n_rejects_bad"] / bands["n_rejects"].clip(lower=1)
    assert rate.iloc[-1] > rate.iloc[0]


def test_reweighting_weights_the_rarely_accepted_up_with_mean_one(small):
    out = reweighting(small, "bad", "accepted", [0.9, 0.5, 0.2, 0.01], min_probability=0.05, max_weight=10)
    assert list(out["app"]) == list("abcd")
    assert out[WEIGHT].mean() == pytest.approx(1.0)
    assert out[WEIGHT].is_monotonic_increasing  # lower acceptance probability, higher weight
    raw = 1 / np.array([0.9, 0.5, 0.2, 0.05])  # 0.01 floored at 0.05
    assert out[WEIGHT].tolist() == pytest.approx((raw / raw.mean()).tolist())
    capped = reweighting(small, "bad", "accepted", [0.99, 0.99, 0.99, 0.001], max_weight=2.0)
    assert capped[WEIGHT].max() / capped[WEIGHT].median() == pytest.approx(2.0)
    assert capped[WEIGHT].mean() == pytest.approx(1.0)


def test_expected_auc_is_the_auc_averaged_over_outcome_draws():
    rng = np.random.default_rng(4)
    p = rng.beta(1, 6, 400)
    s = p + rng.normal(0, 0.05, 400)
    from sklearn.metrics import roc_auc_score

    draws = [roc_auc_score(rng.random(400) < p, s) for _ in range(400)]
    assert expected_auc(p, s) == pytest.approx(np.mean(draws), abs=0.01)
    assert expected_auc(p, p) > expected_auc(p, s) > 0.5


def _applications(n=12000, seed=7):
    """Synthetic applications: a known logit, an old policy that declines the riskier 40% (on a noisy view of
    the same risk), outcomes observed for the accepted only, plus the truth for all."""
    from models.synthetic import make_credit_data

    df = make_credit_data(n_rows=n, n_features=40, n_informative=8, bad_rate=0.12, n_periods=10, seed=seed)
    logit = np.log(df["true_prob"] / (1 - df["true_prob"]))
    policy_score = logit + np.random.default_rng(seed).normal(0, 0.8, n)
    df["accepted"] = policy_score < np.quantile(policy_score, 0.6)
    df["truth_bad"] = df["bad"]
    df["bad"] = df["bad"].where(df["accepted"])
    return df


@pytest.fixture(scope="module")
def applications():
    return _applications()


@pytest.mark.parametrize("method, options", [("fuzzy", {"uplift": 1.5}), ("parcelling", {}), ("reweighting", {})])
def test_fit_reject_inference_trains_on_the_ttd_without_the_oot_rejects(applications, method, options):
    df = applications
    common = dict(target="bad", accepted_column="accepted", time_column="month", model_type="scorecard",
                  exclude=("truth_bad", "true_prob"), id_columns=("customer_id", "partner_id"), label="a_card")
    base = fit_reject_inference(df, method="accepted_only", **common)
    fit = fit_reject_inference(df, method=method, baseline=base.result, method_options=options, **common)
    oot_start = pd.Timestamp(base.result.split["oot_start"])
    assert pd.Timestamp(fit.result.split["oot_start"]) == oot_start  # the same out-of-time window
    assert fit.result.metrics["n_oot"] == base.result.metrics["n_oot"]  # ... on the same booked rows
    intime_rejects = int((~df["accepted"] & (df["month"] < oot_start)).sum())
    assert fit.info["n_rejects_intime"] == intime_rejects
    if method == "reweighting":
        assert fit.info["n_training_rows_from_rejects"] == 0 and fit.info["weight_max"] > 1
        assert fit.info["p_accept_rejects_mean"] < 0.5
    else:
        assert fit.info["n_training_rows_from_rejects"] == intime_rejects
        # rejects are riskier than the booked: their inferred bad rate is above the booked bad rate
        assert fit.info["inferred_reject_bad_rate"] > df.loc[df["accepted"], "bad"].mean()
    assert method != "parcelling" or (np.diff(fit.bands["parcel_bad_rate"]) >= 0).all()

    oot = df[df["month"] >= oot_start]
    table = ttd_auc_table({"accepted_only": base.result.predict_proba(oot), method: fit.result.predict_proba(oot)},
                          oot["truth_bad"], oot["true_prob"], oot["accepted"], n_boot=50)
    oracle = table.set_index("model").loc["oracle (true pd)"]
    for _, row in table.iloc[:-1].iterrows():
        assert 0.5 < row["auc_ttd"] <= oracle["auc_ttd"] + 0.02
        assert row["auc_ttd_ci_low"] <= row["auc_ttd"] <= row["auc_ttd_ci_high"]
        assert 0.5 < row["auc_ttd_true_pd"] < 1
    # the accepted-only model cannot see how bad the rejects are; an uplifted augmentation moves it toward the truth
    by = table.set_index("model")
    print(table.round(4).to_string())
    if method != "reweighting":
        assert by.loc[method, "mean_pd_rejects"] > by.loc["accepted_only", "mean_pd_rejects"]


def test_fit_reject_inference_names_a_wrong_method(applications):
    with pytest.raises(RejectInferenceError, match="method must be one of"):
        fit_reject_inference(applications, target="bad", accepted_column="accepted", method="magic",
                             time_column="month")
