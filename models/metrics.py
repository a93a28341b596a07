"""Model metrics used across the credit life cycle (DESIGN §5).

* discrimination: :func:`auc`, :func:`gini` (= 2·AUC − 1), :func:`ks` (max |TPR − FPR| from
  sklearn's ``roc_curve``);
* rank-ordering: :func:`decile_table` (counts, bad rate, lift, capture by score decile);
* calibration: :func:`calibration_table` (mean predicted vs realised bad rate by decile);
* stability: :func:`psi` between two score (or feature) distributions, bins from the *expected*
  sample's quantiles, missing values as their own bin, empty bins floored at a small epsilon;
  :func:`csi` = PSI per feature over two frames.

Conventions: ``y_true`` is 1 for bad (the event), 0 for good; ``y_score`` is higher for riskier
(a probability of bad, or a log-odds). For a scorecard *points* column (higher = safer) pass
``-points``, or use the probability.
"""
from __future__ import annotations

from typing import Iterable

import numpy as np
import pandas as pd
from sklearn.metrics import brier_score_loss, roc_auc_score, roc_curve

from models.feature_kinds import is_continuous

PSI_EPSILON = 1e-4
PSI_STABLE, PSI_SHIFT = 0.1, 0.25


def _arrays(y_true, y_score) -> tuple[np.ndarray, np.ndarray]:
    y = np.asarray(y_true).astype(float).ravel()
    s = np.asarray(y_score, dtype=float).ravel()
    if y.shape != s.shape:
        raise ValueError(f"y_true has {y.size} values but y_score has {s.size}")
    if np.isnan(s).any() or np.isnan(y).any():
        raise ValueError("y_true / y_score contain missing values")
    if np.isinf(s).any():
        raise ValueError(f"y_score contains {int(np.isinf(s).sum())} infinite value(s)")
    if not np.isin(y, (0.0, 1.0)).all():
        raise ValueError("y_true must be binary 0/1 (1 = bad)")
    return y.astype(int), s


def auc(y_true, y_score) -> float:
    """Area under the ROC curve (sklearn ``roc_auc_score``)."""
    y, s = _arrays(y_true, y_score)
    return float(roc_auc_score(y, s))


def rank_auc(y, score) -> float:
    """ROC AUC from the ranks of the scores (Mann-Whitney U, ties counted half): sklearn's
    ``roc_auc_score`` without its input checks, which cost more than the AUC on small folds."""
    from scipy.stats import rankdata

    y = np.asarray(y).astype(bool)
    n_bad = int(y.sum())
    n_good = y.size - n_bad
    if n_bad == 0 or n_good == 0:
        raise ValueError("AUC needs both classes in the fold")
    ranks = rankdata(score)
    return float((ranks[y].sum() - n_bad * (n_bad + 1) / 2) / (n_bad * n_good))


def gini(y_true, y_score) -> float:
    """Gini coefficient (accuracy ratio) = 2·AUC − 1."""
    return 2.0 * auc(y_true, y_score) - 1.0


def ks(y_true, y_score) -> float:
    """Kolmogorov–Smirnov statistic: max |TPR − FPR| over thresholds (sklearn ``roc_curve``)."""
    y, s = _arrays(y_true, y_score)
    fpr, tpr, _ = roc_curve(y, s)
    return float(np.max(np.abs(tpr - fpr)))


def ks_curve(y_true, y_score) -> pd.DataFrame:
    """Cumulative bad / good shares by threshold (for the KS plot): threshold, tpr, fpr, gap."""
    y, s = _arrays(y_true, y_score)
    fpr, tpr, thr = roc_curve(y, s)
    return pd.DataFrame({"threshold": thr, "cum_bad_share": tpr, "cum_good_share": fpr,
                         "gap": np.abs(tpr - fpr)})


def _risk_deciles(s: np.ndarray, n_bins: int) -> np.ndarray:
    """Bin 1 = the riskiest 1/n_bins of rows (highest score).

    Tied scores always share a bin (the bin of the tie group's first, riskiest position), so the
    table depends on the score values only, never on row order: integer scorecard points have
    many ties, and splitting them by position made the table change when rows were shuffled.
    Bins can therefore hold unequal counts, and a bin can be empty (then it is absent).
    """
    values, inverse = np.unique(-s, return_inverse=True)            # ascending -s = riskiest first
    first_position = np.concatenate([[0], np.cumsum(np.bincount(inverse, minlength=values.size))[:-1]])
    return (first_position[inverse] * n_bins) // max(s.size, 1) + 1


def decile_table(y_true, y_score, n_bins: int = 10) -> pd.DataFrame:
    """Counts, bad rate, lift and cumulative capture by score decile (decile 1 = riskiest).

    Columns: decile, n, n_bad, n_good, bad_rate, min_score, max_score, mean_score, lift
    (bad rate / overall bad rate), cum_bad_share (capture rate), cum_good_share, cum_bad_rate,
    cum_lift, ks (cumulative bad share − cumulative good share at the decile boundary).
    """
    y, s = _arrays(y_true, y_score)
    frame = pd.DataFrame({"decile": _risk_deciles(s, n_bins), "y": y, "s": s})
    g = frame.groupby("decile", sort=True)
    t = pd.DataFrame({
        "n": g.size(),
        "n_bad": g["y"].sum(),
        "min_score": g["s"].min(),
        "max_score": g["s"].max(),
        "mean_score": g["s"].mean(),
    })
    t["n_good"] = t["n"] - t["n_bad"]
    t["bad_rate"] = t["n_bad"] / t["n"]
    overall = y.mean() if y.size else np.nan
    total_bad, total_good = max(int(y.sum()), 1), max(int((1 - y).sum()), 1)
    t["lift"] = t["bad_rate"] / overall if overall > 0 else np.nan
    t["cum_bad_share"] = t["n_bad"].cumsum() / total_bad
    t["cum_good_share"] = t["n_good"].cumsum() / total_good
    t["cum_bad_rate"] = t["n_bad"].cumsum() / t["n"].cumsum()
    t["cum_lift"] = t["cum_bad_rate"] / overall if overall > 0 else np.nan
    t["ks"] = (t["cum_bad_share"] - t["cum_good_share"]).abs()
    t = t.reset_index()
    return t[["decile", "n", "n_bad", "n_good", "bad_rate", "min_score", "max_score", "mean_score",
              "lift", "cum_bad_share", "cum_good_share", "cum_bad_rate", "cum_lift", "ks"]]


def calibration_table(y_true, y_prob, n_bins: int = 10) -> pd.DataFrame:
    """Mean predicted probability vs realised bad rate by decile of the prediction (1 = riskiest).

    Columns: decile, n, mean_predicted, observed_bad_rate, n_bad, expected_bad (Σ p),
    ratio (observed / expected).
    """
    y, p = _arrays(y_true, y_prob)
    if ((p < 0) | (p > 1)).any():
        raise ValueError("calibration_table needs probabilities in [0, 1]")
    frame = pd.DataFrame({"decile": _risk_deciles(p, n_bins), "y": y, "p": p})
    g = frame.groupby("decile", sort=True)
    t = pd.DataFrame({"n": g.size(), "mean_predicted": g["p"].mean(), "observed_bad_rate": g["y"].mean(),
                      "n_bad": g["y"].sum(), "expected_bad": g["p"].sum()})
    t["ratio"] = t["n_bad"] / t["expected_bad"].where(t["expected_bad"] > 0)
    return t.reset_index()


def brier(y_true, y_prob) -> float:
    """Brier score (sklearn ``brier_score_loss``)."""
    y, p = _arrays(y_true, y_prob)
    return float(brier_score_loss(y, p))


# ---------------------------------------------------------------------------------------------
# Stability: PSI / CSI
# ---------------------------------------------------------------------------------------------

def psi_bins(expected, bins: int = 10) -> np.ndarray:
    """Inner cut points from the expected sample's quantiles (deduplicated; missing ignored)."""
    e = np.asarray(expected, dtype=float)
    e = e[~np.isnan(e)]
    if e.size == 0:
        return np.array([])
    qs = np.quantile(e, np.linspace(0, 1, bins + 1)[1:-1])
    return np.unique(qs)


def _bin_counts(x: np.ndarray, cuts: np.ndarray) -> np.ndarray:
    """Counts in the right-closed bins defined by ``cuts``, plus a last bin for missing values."""
    n_num = cuts.size + 1
    idx = np.where(np.isnan(x), n_num, np.searchsorted(cuts, x, side="left"))
    return np.bincount(idx, minlength=n_num + 1)


def _psi_terms(ce: np.ndarray, ca: np.ndarray, epsilon: float) -> np.ndarray:
    pe = np.maximum(ce / max(ce.sum(), 1), epsilon)
    pa_ = np.maximum(ca / max(ca.sum(), 1), epsilon)
    return (pa_ - pe) * np.log(pa_ / pe)


def psi_numeric(expected: np.ndarray, actual: np.ndarray, bins: int = 10, epsilon: float = PSI_EPSILON) -> float:
    """Fast PSI of two numeric arrays (NaN = missing bin); same definition as :func:`psi`."""
    e = np.asarray(expected, dtype=float)
    a = np.asarray(actual, dtype=float)
    cuts = psi_bins(e, bins)
    return _psi_sum(_bin_counts(e, cuts), _bin_counts(a, cuts), epsilon)


def _psi_sum(ce: np.ndarray, ca: np.ndarray, epsilon: float) -> float:
    keep = (ce > 0) | (ca > 0)     # a bin empty on both sides (the missing bin) contributes nothing
    return float(_psi_terms(ce[keep], ca[keep], epsilon).sum())


def _psi_counts(expected, actual, bins: int, labelled: bool = True) -> tuple[list[str] | None, np.ndarray, np.ndarray]:
    """(bin labels, expected counts, actual counts) of :func:`psi_distribution`'s bins (labels None
    when not ``labelled``: :func:`psi` needs only the counts)."""
    e_series = pd.Series(expected)
    a_series = pd.Series(actual)
    if is_continuous(e_series) and is_continuous(a_series):
        e = e_series.to_numpy(dtype=float, na_value=np.nan)
        a = a_series.to_numpy(dtype=float, na_value=np.nan)
        cuts = psi_bins(e, bins)
        labels = None
        if labelled:
            edges = np.concatenate([[-np.inf], cuts, [np.inf]])
            labels = [f"({edges[i]:.6g}, {edges[i + 1]:.6g}]" for i in range(cuts.size + 1)] + ["missing"]
        return labels, _bin_counts(e, cuts), _bin_counts(a, cuts)
    # one bin per category, missing included, in order of first appearance
    both = pd.concat([e_series.astype("object"), a_series.astype("object")], ignore_index=True)
    codes, cats = pd.factorize(both.where(both.notna(), "__missing__"))
    ce = np.bincount(codes[:len(e_series)], minlength=len(cats))
    ca = np.bincount(codes[len(e_series):], minlength=len(cats))
    labels = ["missing" if c == "__missing__" else str(c) for c in cats] if labelled else None
    return labels, ce, ca


def psi_distribution(expected, actual, bins: int = 10, epsilon: float = PSI_EPSILON) -> pd.DataFrame:
    """The PSI table: one row per bin with expected / actual shares and the bin's PSI term.

    Numeric values: bins from the expected sample's quantiles (right-closed intervals
    ``(-inf, q1], (q1, q2], …, (qk, inf)``), missing values in a bin of their own. Non-numeric
    values: one bin per category (missing included). Shares below ``epsilon`` are floored at
    ``epsilon`` so that empty bins give a finite PSI.
    """
    labels, ce, ca = _psi_counts(expected, actual, bins)
    table = pd.DataFrame({"bin": labels, "expected_n": ce, "actual_n": ca,
                          "expected_share": ce / max(ce.sum(), 1), "actual_share": ca / max(ca.sum(), 1),
                          "psi": _psi_terms(ce, ca, epsilon)})
    # A missing bin that is empty on both sides contributes nothing; keep the table short.
    keep = (table["expected_n"] > 0) | (table["actual_n"] > 0)
    return table[keep].reset_index(drop=True)


def psi(expected, actual, bins: int = 10, epsilon: float = PSI_EPSILON) -> float:
    """Population stability index Σ (a − e)·ln(a / e) of ``actual`` against ``expected``.

    < 0.1 stable, 0.1–0.25 watch, > 0.25 shift. See :func:`psi_distribution` for the binning.
    """
    _, ce, ca = _psi_counts(expected, actual, bins, labelled=False)
    return _psi_sum(ce, ca, epsilon)


def psi_status(value: float) -> str:
    """'stable' (< 0.1), 'watch' (0.1–0.25) or 'shift' (> 0.25)."""
    if not np.isfinite(value):
        return "unknown"
    return "stable" if value < PSI_STABLE else ("watch" if value <= PSI_SHIFT else "shift")


def csi(expected: pd.DataFrame, actual: pd.DataFrame, features: Iterable[str] | None = None,
        bins: int = 10, epsilon: float = PSI_EPSILON) -> pd.DataFrame:
    """Characteristic stability index: PSI per feature between two frames.

    Returns a frame with columns feature, psi, status, sorted by psi descending.
    """
    feats = list(features) if features is not None else [c for c in expected.columns if c in actual.columns]
    missing = [f for f in feats if f not in expected.columns or f not in actual.columns]
    if missing:
        raise KeyError(f"csi: features not in both frames: {missing[:10]}")
    values = [psi(expected[f], actual[f], bins=bins, epsilon=epsilon) for f in feats]
    out = pd.DataFrame({"feature": feats, "psi": values})
    out["status"] = out["psi"].map(psi_status)
    return out.sort_values("psi", ascending=False, kind="stable").reset_index(drop=True)


def summary(y_true, y_prob, oracle_prob=None) -> dict:
    """The headline metrics for a probability of bad: auc, gini, ks, bad_rate, n, brier (+ oracle_auc)."""
    y, p = _arrays(y_true, y_prob)
    out = {"n": int(y.size), "n_bad": int(y.sum()), "bad_rate": float(y.mean()) if y.size else float("nan")}
    if 0 < y.sum() < y.size:
        a = auc(y, p)
        out.update({"auc": a, "gini": 2 * a - 1, "ks": ks(y, p)})
    else:
        out.update({"auc": float("nan"), "gini": float("nan"), "ks": float("nan")})
    if ((p >= 0) & (p <= 1)).all():
        out["brier"] = brier(y, p)
    if oracle_prob is not None:
        _, o = _arrays(y, oracle_prob)
        out["oracle_auc"] = auc(y, o) if 0 < y.sum() < y.size else float("nan")
    return out
