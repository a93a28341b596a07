"""Reject inference: application models that learn from the through-the-door population, not only the booked.

An A-card learns from booked applicants only (a declined applicant has no outcome), so it is fitted on a
population the old policy chose. Reject inference gives the declined applicants an inferred outcome or
re-weights the booked ones so that training looks like the through-the-door (TTD) population:

* ``fuzzy_augmentation``: every reject enters twice, as bad with weight ``p`` and as good with weight
  ``1 - p`` (``p``: the accepted-only model's probability, optionally scaled up);
* ``parcelling``: applicants are cut into score bands of the accepted-only model; rejects in a band are
  labelled bad at the band's accepted bad rate (isotonic, so monotone in the band) times an uplift;
* ``reweighting``: booked applicants are weighted by the inverse of their probability of acceptance
  (a model of the old policy fitted on all applications), so the weighted booked look like the TTD.

Each method returns a frame with a ``weight`` column; ``expand_weights`` turns weights into row counts
(systematic resampling) for learners without sample weights, e.g. :func:`models.train.train_model`.
``fit_reject_inference`` does the whole round trip on any DataFrame::

    from models.reject_inference import fit_reject_inference, ttd_auc_table

    # df: one row per application; 'bad' is 0/1 for booked applicants with an outcome, NaN otherwise;
    # 'accepted' is the old policy's decision
    fit = fit_reject_inference(df, target="bad", accepted_column="accepted", method="fuzzy",
                               time_column="month", model_type="lightgbm")
    fit.result.summary()                 # the usual train_model report (OOT on booked applicants)
    fit.info                             # rejects used, their inferred bad rate, weights
    p = fit.result.predict_proba(ttd_frame)

The honest test needs outcomes of the declined: :func:`ttd_auc_table` scores models on the TTD population
against known outcomes (the simulator's counterfactual truth, ``truth/applications_truth.parquet``).
"""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Callable, Iterable, Mapping

import numpy as np
import pandas as pd

from models.feature_kinds import categorical_features

METHODS = ("accepted_only", "fuzzy", "parcelling", "reweighting")
WEIGHT = "weight"
ROW_KIND = "ri_row"  # accepted / reject_bad / reject_good / reject


class RejectInferenceError(ValueError):
    """The frame cannot be used for reject inference (no rejects, no labelled accepted rows, ...)."""


def _check_probability(name: str, p, n: int) -> np.ndarray:
    p = np.asarray(p, dtype=float)
    if p.shape != (n,):
        raise RejectInferenceError(f"{name} must have one value per row ({n}), got shape {p.shape}")
    if np.isnan(p).any() or (p < 0).any() or (p > 1).any():
        raise RejectInferenceError(f"{name} must be probabilities in [0, 1] without missing values")
    return p


def _with(frame: pd.DataFrame, values: Mapping[str, Any]) -> pd.DataFrame:
    """``frame`` with columns set to ``values`` in one concat (assign on a wide mart frame fragments it)."""
    extra = pd.DataFrame({k: np.broadcast_to(v, len(frame)) if np.ndim(v) == 0 else np.asarray(v)
                          for k, v in values.items()}, index=frame.index)
    return pd.concat([frame.drop(columns=[c for c in values if c in frame.columns]), extra], axis=1)


def _split_accepted(frame: pd.DataFrame, target: str, accepted: str) -> tuple[pd.DataFrame, pd.DataFrame]:
    for col in (target, accepted):
        if col not in frame.columns:
            raise RejectInferenceError(f"column '{col}' not in frame (columns: {list(frame.columns)[:8]}...)")
    is_acc = frame[accepted].astype(bool).to_numpy()
    acc = frame[is_acc & frame[target].notna().to_numpy()]
    rej = frame[~is_acc]
    if acc.empty:
        raise RejectInferenceError(f"no accepted rows with a '{target}' outcome")
    return acc, rej


# ------------------------------------------------------------------------------------------- methods
def fuzzy_augmentation(frame: pd.DataFrame, target: str, accepted: str, p_bad_rejects,
                       uplift: float = 1.0, reject_weight: float = 1.0) -> pd.DataFrame:
    """Accepted rows (weight 1) + each reject twice: bad with weight ``w * p``, good with ``w * (1 - p)``.

    ``p_bad_rejects``: one probability per reject row (in frame order), typically the accepted-only model's;
    ``uplift`` scales it (rejects are usually worse than the model of the accepted thinks), capped at 1.
    """
    acc, rej = _split_accepted(frame, target, accepted)
    p = np.minimum(_check_probability("p_bad_rejects", p_bad_rejects, len(rej)) * uplift, 1.0)
    bad = _with(rej, {target: 1, WEIGHT: reject_weight * p, ROW_KIND: "reject_bad"})
    good = _with(rej, {target: 0, WEIGHT: reject_weight * (1 - p), ROW_KIND: "reject_good"})
    out = pd.concat([_with(acc, {WEIGHT: 1.0, ROW_KIND: "accepted"}), bad, good], ignore_index=True)
    out[target] = out[target].astype(int)
    return out


def parcel_bad_rates(score_accepted, y_accepted, score_rejects, n_bands: int = 10,
                     uplift: float = 1.5) -> pd.DataFrame:
    """Bad rate per score band: accepted rate made monotone in the band (isotonic), times ``uplift`` for rejects.

    Bands are quantiles of the score over accepted and rejects together (score = probability of bad,
    band 0 the safest). Returns one row per band: edges, counts, accepted bad rate, parcel bad rate.
    """
    from sklearn.isotonic import IsotonicRegression

    s_acc, s_rej = np.asarray(score_accepted, float), np.asarray(score_rejects, float)
    y = np.asarray(y_accepted, float)
    edges = np.unique(np.quantile(np.r_[s_acc, s_rej], np.linspace(0, 1, n_bands + 1)))
    if len(edges) < 2:
        edges = np.array([min(s_acc.min(), s_rej.min()), max(s_acc.max(), s_rej.max()) + 1e-12])
    cut = edges[1:-1]
    b_acc, b_rej = np.searchsorted(cut, s_acc, side="right"), np.searchsorted(cut, s_rej, side="right")
    nb = len(edges) - 1
    n_acc = np.bincount(b_acc, minlength=nb)
    bads = np.bincount(b_acc, weights=y, minlength=nb)
    n_rej = np.bincount(b_rej, minlength=nb)
    observed = np.divide(bads, n_acc, out=np.full(nb, np.nan), where=n_acc > 0)
    mean_score = np.bincount(b_acc, weights=s_acc, minlength=nb) / np.maximum(n_acc, 1)
    has = n_acc > 0
    iso = IsotonicRegression(increasing=True, out_of_bounds="clip", y_min=0.0, y_max=1.0)
    # bands without accepted rows take the isotonic fit at their position (flat extrapolation)
    iso.fit(np.flatnonzero(has), observed[has], sample_weight=n_acc[has])
    monotone = iso.predict(np.arange(nb))
    return pd.DataFrame({
        "band": np.arange(nb), "score_from": edges[:-1], "score_to": edges[1:],
        "n_accepted": n_acc, "n_rejects": n_rej, "accepted_bad_rate": observed,
        "mean_score_accepted": np.where(has, mean_score, np.nan), "monotone_bad_rate": monotone,
        "parcel_bad_rate": np.minimum(monotone * uplift, 1.0),
    })


def parcelling(frame: pd.DataFrame, target: str, accepted: str, score_accepted, score_rejects,
               n_bands: int = 10, uplift: float = 1.5, seed: int = 0) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Accepted rows + rejects labelled by band: in each band, ``round(rate * n)`` randomly chosen rejects
    are bad. Returns (frame with ``weight`` 1 on every row, the band table of :func:`parcel_bad_rates`)."""
    acc, rej = _split_accepted(frame, target, accepted)
    s_acc = _check_probability("score_accepted", score_accepted, len(acc))
    s_rej = _check_probability("score_rejects", score_rejects, len(rej))
    bands = parcel_bad_rates(s_acc, acc[target].to_numpy(), s_rej, n_bands=n_bands, uplift=uplift)
    band = np.searchsorted(bands["score_from"].to_numpy()[1:], s_rej, side="right")
    rng = np.random.default_rng(seed)
    # a random rank within each band; the first round(rate * n) of a band are its bads
    order = np.lexsort((rng.random(len(rej)), band))
    rank = np.empty(len(rej), dtype=np.int64)
    starts = np.searchsorted(band[order], band[order], side="left")
    rank[order] = np.arange(len(rej)) - starts
    n_bad = np.round(bands["parcel_bad_rate"].to_numpy() * bands["n_rejects"].to_numpy())
    y_rej = (rank < n_bad[band]).astype(int)
    bands["n_rejects_bad"] = np.bincount(band, weights=y_rej, minlength=len(bands)).astype(int)
    out = pd.concat([_with(acc, {WEIGHT: 1.0, ROW_KIND: "accepted"}),
                     _with(rej, {target: y_rej, WEIGHT: 1.0, ROW_KIND: "reject"})], ignore_index=True)
    out[target] = out[target].astype(int)
    return out, bands


def acceptance_probability(frame: pd.DataFrame, accepted: str, features: Iterable[str], n_folds: int = 5,
                           seed: int = 0, params: Mapping[str, Any] | None = None) -> np.ndarray:
    """Out-of-fold P(accepted | features) of every row: a LightGBM model of the old policy, cross-fitted
    so no row's probability comes from a model that saw it."""
    import lightgbm as lgb
    from sklearn.model_selection import StratifiedKFold

    feats = list(features)
    y = frame[accepted].astype(bool).to_numpy().astype(int)
    if y.min() == y.max():
        raise RejectInferenceError(f"'{accepted}' has a single value: no acceptance model to fit")
    X = frame[feats]
    categorical = categorical_features(X, feats)
    cats = [f for f in feats if f in categorical]
    if cats:
        X = X.astype({c: "category" for c in cats})
    p = {"n_estimators": 200, "learning_rate": 0.05, "num_leaves": 15, "min_child_samples": 40,
         "subsample": 0.8, "subsample_freq": 1, "colsample_bytree": 0.5, "reg_lambda": 1.0,
         "n_jobs": 2, "verbose": -1, "random_state": seed, **dict(params or {})}
    out = np.empty(len(frame))
    folds = StratifiedKFold(n_splits=n_folds, shuffle=True, random_state=seed)
    for fit_idx, pred_idx in folds.split(X, y):
        model = lgb.LGBMClassifier(**p).fit(X.iloc[fit_idx], y[fit_idx])
        out[pred_idx] = model.predict_proba(X.iloc[pred_idx])[:, 1]
    return out


def reweighting(frame: pd.DataFrame, target: str, accepted: str, p_accept_accepted,
                min_probability: float = 0.05, max_weight: float = 10.0) -> pd.DataFrame:
    """Accepted rows only, weighted by ``1 / P(accept)`` (probability floored at ``min_probability``, weight
    capped at ``max_weight`` x the median weight), normalised to mean 1: the booked stand in for the TTD."""
    acc, _ = _split_accepted(frame, target, accepted)
    p = _check_probability("p_accept_accepted", p_accept_accepted, len(acc))
    w = 1.0 / np.maximum(p, min_probability)
    w = np.minimum(w, max_weight * np.median(w))
    out = _with(acc, {WEIGHT: w / w.mean(), ROW_KIND: "accepted"}).reset_index(drop=True)
    out[target] = out[target].astype(int)
    return out


def expand_weights(frame: pd.DataFrame, weight: str = WEIGHT, scale: float = 1.0, seed: int = 0,
                   by: str | None = ROW_KIND) -> pd.DataFrame:
    """Rows repeated by their weight, for learners without sample weights: systematic resampling in a
    random order, separately within each value of ``by`` (e.g. accepted / reject_bad / reject_good).
    Each row appears floor or ceil of ``scale * weight`` times (so on average exactly that), and each
    group's total is its weight sum rounded: fuzzy rejects keep their inferred bad count."""
    w = frame[weight].to_numpy(dtype=float) * scale
    if (w < 0).any() or not np.isfinite(w).all():
        raise RejectInferenceError(f"column '{weight}' must hold finite non-negative weights")
    rng = np.random.default_rng(seed)
    groups = frame[by].to_numpy() if by is not None and by in frame.columns else np.zeros(len(frame))
    counts = np.zeros(len(frame), dtype=np.int64)
    for g in pd.unique(groups):  # a handful of row kinds, each resampled as one vector
        rows = rng.permutation(np.flatnonzero(groups == g))
        marks = np.floor(np.r_[0.0, np.cumsum(w[rows])] + rng.random())
        counts[rows] = np.diff(marks).astype(np.int64)
    return frame.iloc[np.repeat(np.arange(len(frame)), counts)].reset_index(drop=True)


# ------------------------------------------------------------------------------------------- fit
@dataclass
class RejectInferenceFit:
    method: str
    result: Any                          # the TrainResult of the final model
    baseline: Any                        # the accepted-only TrainResult the inference started from
    info: dict[str, Any] = field(default_factory=dict)
    bands: pd.DataFrame | None = None    # parcelling only


def fit_reject_inference(frame: pd.DataFrame, target: str, accepted_column: str, method: str,
                         time_column: str, model_type: str = "lightgbm", *, baseline=None,
                         method_options: Mapping[str, Any] | None = None, seed: int = 42,
                         trainer: Callable[..., Any] | None = None, **train_kwargs) -> RejectInferenceFit:
    """Train an application model with one reject-inference ``method`` (one of :data:`METHODS`).

    ``frame``: one row per application; ``target`` 0/1 for accepted rows with an outcome (NaN otherwise);
    ``accepted_column`` the old policy's decision. The accepted-only model (``baseline``, trained here
    when not given) fixes the out-of-time window; rejects from that window are never used in training,
    so the final model's OOT metrics are on the same booked applicants as the baseline's.
    ``train_kwargs`` go to ``train_model`` (``split``, ``id_columns``, ``exclude``, ``label``, ...).
    """
    if method not in METHODS:
        raise RejectInferenceError(f"method must be one of {METHODS}, got '{method}'")
    from models.train import train_model

    trainer = trainer or train_model
    options = dict(method_options or {})
    acc_rows, _ = _split_accepted(frame, target, accepted_column)
    is_acc = frame[accepted_column].astype(bool)
    exclude = tuple(train_kwargs.pop("exclude", ())) + (accepted_column, WEIGHT, ROW_KIND)
    fit_args = dict(target=target, time_column=time_column, model_type=model_type, exclude=exclude,
                    seed=seed, **train_kwargs)
    if baseline is None:
        baseline = trainer(acc_rows, **fit_args)
    if method == "accepted_only":
        return RejectInferenceFit(method, baseline, baseline, {"n_accepted": len(acc_rows)})

    oot_start = baseline.split["oot_start"]
    split = dict(train_kwargs.get("split") or {})
    split.update(oot_start=oot_start)
    fit_args["split"] = split
    t = frame[time_column]
    before_oot = (t < pd.Timestamp(oot_start)) if pd.api.types.is_datetime64_any_dtype(t) else (t < oot_start)
    intime = frame[before_oot]
    oot = acc_rows[~before_oot.loc[acc_rows.index]]
    in_acc, in_rej = _split_accepted(intime, target, accepted_column)
    if in_rej.empty:
        raise RejectInferenceError("no rejects before the out-of-time window: nothing to infer")
    info: dict[str, Any] = {"n_accepted_intime": len(in_acc), "n_rejects_intime": len(in_rej),
                            "oot_start": str(oot_start)}
    bands = None
    if method == "fuzzy":
        p_rej = baseline.predict_proba(in_rej)
        aug = fuzzy_augmentation(intime, target, accepted_column, p_rej, **options)
        info["inferred_reject_bad_rate"] = float(np.minimum(p_rej * options.get("uplift", 1.0), 1).mean())
    elif method == "parcelling":
        aug, bands = parcelling(intime, target, accepted_column, baseline.predict_proba(in_acc),
                                baseline.predict_proba(in_rej), seed=seed, **options)
        info["inferred_reject_bad_rate"] = float(aug.loc[aug[ROW_KIND] == "reject", target].mean())
    else:
        feats = options.pop("features", None) or baseline.features
        p_acc = acceptance_probability(intime, accepted_column, feats, seed=seed)
        aug = reweighting(intime, target, accepted_column, p_acc[is_acc.loc[intime.index].to_numpy()
                                                                  & intime[target].notna().to_numpy()], **options)
        info["p_accept_rejects_mean"] = float(p_acc[~is_acc.loc[intime.index].to_numpy()].mean())
        info["weight_max"] = float(aug[WEIGHT].max())
    expanded = expand_weights(aug, seed=seed)
    info.update(n_training_rows=len(expanded), n_training_rows_from_rejects=int((expanded[ROW_KIND] != "accepted").sum()),
                training_bad_rate=float(expanded[target].mean()))
    train_frame = pd.concat([expanded, _with(oot, {WEIGHT: 1.0, ROW_KIND: "accepted"})], ignore_index=True)
    result = trainer(train_frame, **fit_args)
    return RejectInferenceFit(method, result, baseline, info, bands)


# ------------------------------------------------------------------------------------------- evaluate
def expected_auc(true_probability, score) -> float:
    """AUC against true probabilities: each row counts as bad with weight p and good with weight 1 - p
    (the AUC expected over outcome draws, without the noise of one draw)."""
    from sklearn.metrics import roc_auc_score

    p, s = np.asarray(true_probability, float), np.asarray(score, float)
    return float(roc_auc_score(np.r_[np.ones(len(p)), np.zeros(len(p))], np.r_[s, s], sample_weight=np.r_[p, 1 - p]))


def bootstrap_auc(y, score, n_boot: int = 200, seed: int = 0, level: float = 0.95) -> tuple[float, float]:
    """Percentile bootstrap interval of the AUC (resampling rows)."""
    from sklearn.metrics import roc_auc_score

    y, s = np.asarray(y, int), np.asarray(score, float)
    rng = np.random.default_rng(seed)
    idx = rng.integers(0, len(y), (n_boot, len(y)))
    vals = [roc_auc_score(y[i], s[i]) for i in idx if 0 < y[i].sum() < len(i)]
    lo, hi = np.quantile(vals, [(1 - level) / 2, 1 - (1 - level) / 2])
    return float(lo), float(hi)


def ttd_auc_table(scores: Mapping[str, np.ndarray], bad, true_probability, accepted, n_boot: int = 200,
                  seed: int = 0) -> pd.DataFrame:
    """One row per model: AUC on the through-the-door population against realised outcomes (with a bootstrap
    interval) and against the true probability, AUC on the accepted and on the rejects alone, and mean
    predicted vs true bad rate of the rejects (calibration where the accepted-only model is blind)."""
    from sklearn.metrics import roc_auc_score

    y, p_true = np.asarray(bad, int), np.asarray(true_probability, float)
    acc = np.asarray(accepted, bool)
    rows = []
    for name, s in scores.items():
        s = np.asarray(s, float)
        lo, hi = bootstrap_auc(y, s, n_boot=n_boot, seed=seed)
        rows.append({
            "model": name, "n_ttd": len(y), "n_rejects": int((~acc).sum()),
            "auc_ttd": float(roc_auc_score(y, s)), "auc_ttd_ci_low": lo, "auc_ttd_ci_high": hi,
            "auc_ttd_true_pd": expected_auc(p_true, s),
            "auc_accepted": float(roc_auc_score(y[acc], s[acc])) if 0 < y[acc].sum() < acc.sum() else np.nan,
            "auc_rejects": float(roc_auc_score(y[~acc], s[~acc])) if 0 < y[~acc].sum() < (~acc).sum() else np.nan,
            "mean_pd_rejects": float(s[~acc].mean()), "true_pd_rejects": float(p_true[~acc].mean()),
            "mean_pd_ttd": float(s.mean()), "true_pd_ttd": float(p_true.mean()),
        })
    oracle = {"model": "oracle (true pd)", "n_ttd": len(y), "n_rejects": int((~acc).sum()),
              "auc_ttd": float(roc_auc_score(y, p_true)), "auc_ttd_true_pd": expected_auc(p_true, p_true),
              "mean_pd_rejects": float(p_true[~acc].mean()), "true_pd_rejects": float(p_true[~acc].mean()),
              "mean_pd_ttd": float(p_true.mean()), "true_pd_ttd": float(p_true.mean())}
    return pd.DataFrame(rows + [oracle])
