"""Metric functions against sklearn on fixed data, and PSI against hand computation."""
import math

import numpy as np
import pandas as pd
import pytest
from sklearn.metrics import roc_auc_score, roc_curve

from models import metrics as M


@pytest.fixture(scope="module")
def fixed():
    rng = np.random.default_rng(7)
    n = 2000
    score = rng.normal(size=n)
    y = (rng.random(n) < 1 / (1 + np.exp(-(score * 1.2 - 2)))).astype(int)
    return y, score


def test_auc_gini_ks_match_sklearn(fixed):
    y, s = fixed
    fpr, tpr, _ = roc_curve(y, s)
    assert M.auc(y, s) == pytest.approx(roc_auc_score(y, s), abs=1e-12)
    assert M.gini(y, s) == pytest.approx(2 * roc_auc_score(y, s) - 1, abs=1e-12)
    assert M.ks(y, s) == pytest.approx(np.max(tpr - fpr), abs=1e-12)


def test_ks_hand_example():
    # riskiest first: scores 4,3 bad, 2 good, 1 bad, 0 good -> max |TPR-FPR| = 2/3 (after the two top bads)
    y = [1, 1, 0, 1, 0]
    s = [4, 3, 2, 1, 0]
    assert M.ks(y, s) == pytest.approx(2 / 3)
    assert M.auc(y, s) == pytest.approx(5 / 6)


def test_metric_inputs_are_checked():
    with pytest.raises(ValueError):
        M.auc([0, 1, 2], [0.1, 0.2, 0.3])
    with pytest.raises(ValueError):
        M.auc([0, 1], [0.1, np.nan])
    with pytest.raises(ValueError):
        M.auc([0, 1, 1], [0.1, 0.2])


def test_decile_table(fixed):
    y, s = fixed
    t = M.decile_table(y, s)
    assert list(t["decile"]) == list(range(1, 11))
    assert t["n"].sum() == len(y) and (t["n"] == len(y) // 10).all()
    assert t["n_bad"].sum() == y.sum()
    assert t["cum_bad_share"].iloc[-1] == pytest.approx(1.0)
    # decile 1 is the riskiest: highest scores, highest bad rate on this monotone data
    assert t["min_score"].iloc[0] >= t["max_score"].iloc[1]
    assert t["bad_rate"].iloc[0] > t["bad_rate"].iloc[-1]
    assert t["lift"].iloc[0] == pytest.approx(t["bad_rate"].iloc[0] / y.mean())
    # the decile KS never exceeds the exact KS
    assert t["ks"].max() <= M.ks(y, s) + 1e-12


def test_calibration_table():
    p = np.repeat([0.05, 0.5], 10)
    y = np.array([0] * 10 + [1] * 5 + [0] * 5)
    t = M.calibration_table(y, p, n_bins=2)
    assert list(t["mean_predicted"]) == pytest.approx([0.5, 0.05])
    assert list(t["observed_bad_rate"]) == pytest.approx([0.5, 0.0])
    assert list(t["expected_bad"]) == pytest.approx([5.0, 0.5])


def test_psi_hand_computed():
    # expected deciles of 0..99 -> 10 equal bins; actual puts 50% in the first bin, the rest spread
    expected = np.arange(100, dtype=float)
    cuts = M.psi_bins(expected, 10)
    assert len(cuts) == 9
    actual = np.concatenate([np.full(50, -1.0), np.linspace(10, 99, 50)])
    dist = M.psi_distribution(expected, actual)
    e = dist["expected_share"].to_numpy()
    a = dist["actual_share"].to_numpy()
    assert e == pytest.approx(np.full(10, 0.1))
    by_hand = sum((ai - ei) * math.log(ai / ei) for ai, ei in zip(a, e))
    assert M.psi(expected, actual) == pytest.approx(by_hand)
    assert M.psi(expected, expected) == pytest.approx(0.0)


def test_psi_tiny_example_with_empty_bin():
    # expected cut at the median (bins=2): (-inf, 1.5], (1.5, inf); actual all in the lower bin
    expected = [1.0, 1.0, 2.0, 2.0]
    actual = [0.0, 1.0, 1.0, 1.0]
    eps = 1e-4
    by_hand = (1 - 0.5) * math.log(1 / 0.5) + (eps - 0.5) * math.log(eps / 0.5)
    assert M.psi(expected, actual, bins=2, epsilon=eps) == pytest.approx(by_hand)
    assert math.isfinite(M.psi(expected, actual, bins=2))


def test_psi_missing_bin_and_categories():
    e = pd.Series([1.0, 2.0, np.nan, np.nan])
    a = pd.Series([1.0, 2.0, 2.0, 1.0])
    dist = M.psi_distribution(e, a, bins=2)
    assert "missing" in set(dist["bin"])
    assert M.psi(e, a, bins=2) > 0.25
    cat_e = pd.Series(["app", "app", "web", None])
    cat_a = pd.Series(["app", "web", "web", "web"])
    sh_e, sh_a = np.array([0.5, 0.25, 0.25]), np.array([0.25, 0.75, 1e-4])
    by_hand = float(((sh_a - sh_e) * np.log(sh_a / sh_e)).sum())
    assert M.psi(cat_e, cat_a) == pytest.approx(by_hand)
    assert M.psi_numeric(e.to_numpy(), a.to_numpy(), bins=2) == pytest.approx(M.psi(e, a, bins=2))


def test_csi_per_feature():
    rng = np.random.default_rng(0)
    base = pd.DataFrame({"stable": rng.normal(size=5000), "shifted": rng.normal(size=5000)})
    later = pd.DataFrame({"stable": rng.normal(size=5000), "shifted": rng.normal(loc=1.0, size=5000)})
    t = M.csi(base, later)
    assert list(t["feature"]) == ["shifted", "stable"]
    assert t.set_index("feature").loc["stable", "status"] == "stable"
    assert t.set_index("feature").loc["shifted", "status"] == "shift"
    assert t.set_index("feature").loc["shifted", "psi"] == pytest.approx(M.psi(base["shifted"], later["shifted"]))


def test_summary_with_oracle(fixed):
    y, s = fixed
    p = 1 / (1 + np.exp(-s))
    out = M.summary(y, p, oracle_prob=p)
    assert out["auc"] == pytest.approx(roc_auc_score(y, p))
    assert out["oracle_auc"] == pytest.approx(out["auc"])
    assert out["n"] == len(y) and out["n_bad"] == y.sum()


def test_decile_table_of_tied_integer_points_does_not_depend_on_row_order():
    # integer scorecard points: few distinct values, many ties straddling decile boundaries
    rng = np.random.default_rng(21)
    n = 3000
    points = rng.choice(np.arange(560, 640, 10), size=n)
    y = (rng.random(n) < 1 / (1 + np.exp((points - 560) / 25))).astype(int)
    score = -points                                    # riskier = higher score
    t = M.decile_table(y, score)
    for seed in range(3):
        order = np.random.default_rng(seed).permutation(n)
        pd.testing.assert_frame_equal(M.decile_table(y[order], score[order]), t)
        pd.testing.assert_frame_equal(M.calibration_table(y[order], 1 / (1 + np.exp(-score[order] / 100))),
                                      M.calibration_table(y, 1 / (1 + np.exp(-score / 100))))
    # a tie group never straddles two deciles; every row is counted once
    assert t["n"].sum() == n and t["n_bad"].sum() == y.sum()
    assert (t["max_score"].iloc[1:].to_numpy() < t["min_score"].iloc[:-1].to_numpy()).all()


def test_decile_ties_hand_case():
    # 10 rows, scores 5,5,5,4,... : the three 5s share decile 1; the next row starts at position 3
    s = np.array([5, 5, 5, 4, 3, 2, 1, 0, -1, -2])
    y = np.array([1, 0, 1, 0, 0, 1, 0, 0, 0, 0])
    t = M.decile_table(y, s)
    assert t.loc[t["decile"] == 1, "n"].item() == 3
    assert list(t["decile"]) == [1, 4, 5, 6, 7, 8, 9, 10]


def test_infinite_scores_are_rejected():
    with pytest.raises(ValueError, match="infinite"):
        M.auc([0, 1, 1], [0.1, np.inf, 0.3])
