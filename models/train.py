"""One call to train and evaluate a risk model on any DataFrame with a 0/1 target.

``train_model`` splits by the time column into an in-time window and an out-of-time (OOT) window,
runs the feature pre-selection (:mod:`models.selection`) on the in-time rows, fits a LightGBM model
(parameters chosen by cross-validation on the in-time rows) or a WoE scorecard on all in-time rows,
and evaluates on OOT: AUC, Gini, KS, deciles, calibration, PSI of the score train→OOT, and the
oracle AUC when a column of true probabilities is given. Plots are written as PNG on request.
"""
from __future__ import annotations

import hashlib
import time
import warnings
from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path
from typing import Any, Iterable, Mapping

import numpy as np
import pandas as pd

from models import metrics as M
from models.reasons import feature_descriptions
from models.scorecard import DEFAULT_BINNING, DEFAULT_SCALING, ScoreScaling, detect_special_codes, probability_to_points
from models.feature_kinds import categorical_features
from models.selection import SelectionConfig, SelectionResult, candidate_features, select_features

MODEL_TYPES = ("lightgbm", "scorecard")


@dataclass
class Split:
    """How rows are split. Periods are values of the time column (inclusive bounds).

    * ``oot_start`` / ``oot_end``: the out-of-time window. Without ``oot_start``, the latest periods
      holding at least ``oot_fraction`` of the labelled rows (at least one period, and at least one
      period left in time).
    * ``train_start`` / ``train_end``: the in-time window (default: everything before ``oot_start``;
      set ``train_end`` earlier to leave a gap).
    * ``gap_periods``: the latest in-time periods (distinct values of the time column) left out of
      training, so that no training label's outcome window reaches into the OOT window. Labels of
      accounts observed every month (behaviour, collections) otherwise teach the model the very
      defaults the OOT rows of the same accounts are judged on (a 6k world's B-card beat its true
      oracle by 0.09 AUC in the first OOT month, and fell below it by the third).
    * ``valid_fraction``: stratified random share of the in-time rows held out for validation.
    """

    oot_start: Any = None
    oot_end: Any = None
    train_start: Any = None
    train_end: Any = None
    oot_fraction: float = 0.2
    valid_fraction: float = 0.2
    seed: int = 42
    gap_periods: int = 0

    @classmethod
    def coerce(cls, split: "Split | Mapping[str, Any] | None") -> "Split":
        if split is None:
            return cls()
        if isinstance(split, Split):
            return split
        unknown = set(split) - {f for f in cls.__dataclass_fields__}
        if unknown:
            raise TypeError(f"unknown split option(s): {sorted(unknown)}")
        return cls(**dict(split))


def _as_time(value, like: pd.Series):
    if value is None:
        return None
    if pd.api.types.is_datetime64_any_dtype(like):
        return pd.Timestamp(value)
    return value


def split_frame(frame: pd.DataFrame, target: str, time_column: str | None, split: Split,
                holdout: bool = True) -> tuple[np.ndarray, np.ndarray, np.ndarray, dict]:
    """Row positions of (train, valid, oot) and a description of the windows.

    ``holdout=False``: every in-time row is a training row (validation by cross-validation); valid is empty.
    """
    from sklearn.model_selection import train_test_split

    n = len(frame)
    y = frame[target].to_numpy().astype(int)
    pos = np.arange(n)
    info: dict[str, Any] = {}
    if time_column is None:
        warnings.warn("no time_column: the test sample is a random holdout, not out-of-time", stacklevel=3)
        intime, oot = train_test_split(pos, test_size=split.oot_fraction, random_state=split.seed,
                                       stratify=y if 0 < y.sum() < n else None)
        info["oot_kind"] = "random_holdout"
    else:
        t = frame[time_column]
        if t.isna().any():
            raise ValueError(f"time column '{time_column}' has missing values")
        oot_start = _as_time(split.oot_start, t)
        if oot_start is None:
            counts = t.value_counts().sort_index()
            if len(counts) < 2:
                raise ValueError(f"time column '{time_column}' has a single period: cannot make an out-of-time window "
                                 "(pass split=Split(oot_start=...) or use more periods)")
            share_from_end = counts[::-1].cumsum()[::-1] / n
            eligible = share_from_end[share_from_end >= split.oot_fraction]
            oot_start = eligible.index[-1] if len(eligible) else counts.index[-1]
            if oot_start == counts.index[0]:
                oot_start = counts.index[1]
        oot_end = _as_time(split.oot_end, t)
        train_start = _as_time(split.train_start, t)
        train_end = _as_time(split.train_end, t)
        is_oot = (t >= oot_start) & ((t <= oot_end) if oot_end is not None else True)
        is_in = t < oot_start
        if train_start is not None:
            is_in &= t >= train_start
        if train_end is not None:
            is_in &= t <= train_end
        if split.gap_periods:
            periods = np.sort(t[is_in].unique())
            if len(periods) <= split.gap_periods:
                raise ValueError(f"gap_periods={split.gap_periods} leaves no in-time period before {oot_start} "
                                 f"(the in-time window has {len(periods)}): use a smaller gap or more history")
            is_in &= t < periods[-split.gap_periods]
        oot = pos[np.asarray(is_oot)]
        intime = pos[np.asarray(is_in)]
        info["oot_kind"] = "out_of_time"
        if len(oot) == 0:
            raise ValueError(f"the out-of-time window (from {oot_start}) has no labelled rows")
        if len(intime) == 0:
            raise ValueError(f"the in-time window (before {oot_start}) has no labelled rows")
        info.update({"train_start": t.iloc[intime].min(), "train_end": t.iloc[intime].max(),
                     "oot_start": t.iloc[oot].min(), "oot_end": t.iloc[oot].max()})
    if not holdout:
        return np.sort(intime), np.zeros(0, dtype=int), np.sort(oot), info
    yi = y[intime]
    strat = yi if (0 < yi.sum() < len(yi) and min(yi.sum(), len(yi) - yi.sum()) >= 2) else None
    train, valid = train_test_split(intime, test_size=split.valid_fraction, random_state=split.seed, stratify=strat)
    return np.sort(train), np.sort(valid), np.sort(oot), info


def fingerprint(frame: pd.DataFrame, columns: Iterable[str] | None = None) -> str:
    """sha256 over the column names, dtypes and values (pandas ``hash_pandas_object`` per row)."""
    cols = list(columns) if columns is not None else list(frame.columns)
    h = hashlib.sha256()
    h.update(repr([(c, str(frame[c].dtype)) for c in cols]).encode())
    if cols and len(frame):
        h.update(pd.util.hash_pandas_object(frame[cols], index=False).to_numpy().tobytes())
    return h.hexdigest()


def default_selection(model_type: str) -> SelectionConfig:
    """Scorecard: the full funnel capped at 30 features. LightGBM: only the cheap stages
    (missing, near-constant, PSI); trees cope with weak and correlated features."""
    if model_type == "scorecard":
        return SelectionConfig(min_iv=0.02, max_corr=0.7, max_features=30, max_psi=0.25)
    return SelectionConfig(min_iv=None, max_corr=None, prescreen_top_k=None, max_features=None, max_psi=0.25)


@dataclass
class TrainResult:
    model: Any                                  # GBMModel | ScorecardModel
    model_type: str
    label: str | None
    target: str
    time_column: str | None
    features: list[str]
    metrics: dict[str, Any]
    deciles: pd.DataFrame
    calibration: pd.DataFrame
    split: dict[str, Any]
    scaling: ScoreScaling = DEFAULT_SCALING
    selection: SelectionResult | None = None
    fingerprints: dict[str, str] = field(default_factory=dict)
    feature_importance: pd.DataFrame | None = None
    feature_dictionary: dict[str, str] = field(default_factory=dict)
    timings: dict[str, float] = field(default_factory=dict)
    params: dict[str, Any] = field(default_factory=dict)
    oot_predictions: pd.DataFrame | None = None   # y, probability (and oracle) on the OOT rows
    plots: dict[str, Path] = field(default_factory=dict)
    created_at: str = field(default_factory=lambda: datetime.now(timezone.utc).isoformat(timespec="seconds"))

    # -- use the model ------------------------------------------------------------------------
    def predict_proba(self, frame: pd.DataFrame) -> np.ndarray:
        return self.model.predict_proba(frame)

    def score(self, frame: pd.DataFrame) -> np.ndarray:
        """Points (the scaling of this result) from the model's probability."""
        return probability_to_points(self.predict_proba(frame), self.scaling)

    def reason_codes(self, frame: pd.DataFrame, k: int = 3) -> pd.DataFrame:
        return self.model.reason_codes(frame, k=k, descriptions=self.feature_dictionary)

    # -- report -------------------------------------------------------------------------------
    def summary(self) -> pd.Series:
        keys = ["model_type", "label", "n_features", "n_train", "n_valid", "n_oot", "bad_rate_oot",
                "auc_train", "auc_valid", "auc_oot", "gini_oot", "ks_oot", "oracle_auc", "psi_score_train_oot"]
        info = {"model_type": self.model_type, "label": self.label}
        return pd.Series({k: info[k] if k in info else self.metrics.get(k) for k in keys}, dtype=object)

    def save_plots(self, folder: str | Path) -> dict[str, Path]:
        from models.plots import save_evaluation_plots

        p = self.oot_predictions
        oracle = p["oracle"] if "oracle" in p.columns else None
        title = f"{self.label or self.target} {self.model_type} OOT"
        self.plots = save_evaluation_plots(p["y"], p["probability"], folder, title=title, oracle_prob=oracle,
                                           deciles=self.deciles)
        return self.plots

    def metrics_record(self) -> dict[str, Any]:
        """What the registry writes to metrics.json (JSON-friendly)."""
        rec = {"label": self.label, "model_type": self.model_type, "target": self.target,
               "time_column": self.time_column, **self.metrics, "split": self.split,
               "fingerprints": self.fingerprints, "scaling": self.scaling.to_dict(), "params": self.params,
               "timings_s": self.timings, "created_at": self.created_at}
        return _jsonable(rec)


def _jsonable(obj):
    if isinstance(obj, dict):
        return {str(k): _jsonable(v) for k, v in obj.items()}
    if isinstance(obj, (list, tuple)):
        return [_jsonable(v) for v in obj]
    if isinstance(obj, (np.integer,)):
        return int(obj)
    if isinstance(obj, (np.floating, float)):
        v = float(obj)
        return v if np.isfinite(v) else None
    if isinstance(obj, (np.bool_,)):
        return bool(obj)
    if isinstance(obj, (pd.Timestamp, datetime)):
        return obj.isoformat()
    if isinstance(obj, Path):
        return str(obj)
    if hasattr(obj, "isoformat"):
        return obj.isoformat()
    return obj


VALIDATION = ("cv", "holdout", "none")
LARGE_CV_ROWS = 20_000


def coerce_target(values: pd.Series, target: str, bad_value=None) -> pd.Series:
    """The target as float 0/1 with NaN for unlabelled rows (1 = bad).

    0/1 numbers and booleans pass; other values (``"good"`` / ``"bad"``, ``"Y"`` / ``"N"``) need
    ``bad_value=`` to say which one is the event, and are rejected with a message saying so.
    """
    present = values.dropna()
    if bad_value is not None:
        found = set(present.astype("object").tolist())
        if bad_value not in found:
            raise ValueError(f"bad_value={bad_value!r} does not occur in target '{target}' "
                             f"(values: {sorted(map(str, found))[:5]})")
        return (values == bad_value).astype(float).where(values.notna())
    if pd.api.types.is_bool_dtype(values) or (len(present) and present.map(type).isin([bool, np.bool_]).all()):
        return values.astype("float").where(values.notna()) if len(present) else values.astype(float)
    if pd.api.types.is_numeric_dtype(values):
        found = set(pd.unique(present.astype(float)))
        if found <= {0.0, 1.0}:
            return values.astype(float)
    shown = sorted(map(str, pd.unique(present)))[:5]
    raise ValueError(f"target '{target}' must be 0/1 (1 = bad) or boolean; found {shown}. "
                     f"For a labelled target pass bad_value=, e.g. train_model(..., bad_value={shown[0]!r})")


def replace_infinite(frame: pd.DataFrame, features: list[str], on_inf: str = "missing") -> tuple[pd.DataFrame, dict[str, int]]:
    """±inf in numeric features: counted per column and treated as missing, or an error naming the columns."""
    counts: dict[str, int] = {}
    for f in features:
        s = frame[f]
        if pd.api.types.is_float_dtype(s):
            n = int(np.isinf(s.to_numpy(dtype=float, na_value=np.nan)).sum())
            if n:
                counts[f] = n
    if not counts:
        return frame, counts
    desc = ", ".join(f"{f} ({n} rows)" for f, n in list(counts.items())[:10])
    if on_inf == "raise":
        raise ValueError(f"{len(counts)} feature(s) hold ±inf: {desc}; fix them or pass on_inf='missing'")
    warnings.warn(f"{len(counts)} feature(s) hold ±inf, treated as missing: {desc}", UserWarning, stacklevel=3)
    return frame.assign(**{f: frame[f].replace([np.inf, -np.inf], np.nan) for f in counts}), counts


def train_model(frame: pd.DataFrame, target: str, features: Iterable[str] | None = None,
                time_column: str | None = None, split: Split | Mapping[str, Any] | None = None,
                model_type: str = "lightgbm", *, label: str | None = None, oracle_column: str | None = None,
                id_columns: Iterable[str] = ("customer_id", "partner_id"), exclude: Iterable[str] = (),
                select: bool | SelectionConfig | Mapping[str, Any] = True, params: Mapping[str, Any] | None = None,
                scaling: ScoreScaling | Mapping[str, float] | None = None, feature_dictionary=None,
                plot_dir: str | Path | None = None, seed: int = 42, n_jobs: int = 2,
                bad_value: Any = None, validation: str = "cv", cv_folds: int | None = None,
                grid: list[Mapping[str, Any]] | None = None, special_codes: Mapping[str, list] | str | None = "auto",
                on_inf: str = "missing", group_column: str | None = None) -> TrainResult:
    """Train and evaluate a ``'lightgbm'`` or ``'scorecard'`` model; see the module docstring.

    * ``features``: candidate features (default: every numeric / categorical column except the
      target, time, ``id_columns``, oracle and ``exclude`` columns). The id columns present also
      key the data fingerprint (with the time and target columns).
    * ``select``: True (defaults per model type, :func:`default_selection`), False, a
      :class:`SelectionConfig`, or a dict of overrides (``{"max_features": 40}``).
    * ``params``: LightGBM parameters (plus ``num_boost_round`` / ``early_stopping_rounds``; they
      override every grid candidate; ``monotone_constraints`` may be a dict {feature: -1/0/1}), or
      scorecard options (``C``: a number or ``"cv"``, the default: chosen by 5-fold CV on the training
      rows among ``C_grid``; ``monotonic_trend`` (str or {feature: trend}), ``binning_params``).
    * ``validation``: ``"cv"`` (default) — the model is fitted on *all* in-time rows; LightGBM's
      parameters are chosen by ``cv_folds``-fold stratified cross-validation on them (``grid``:
      candidates, default :func:`models.gbm.candidate_grid`), and ``auc_valid`` is the mean fold AUC
      (for the scorecard: the fold AUCs of scorecards refitted on the bins found on the in-time window);
      ``"holdout"`` — the legacy stratified ``Split.valid_fraction`` holdout (fixed LightGBM
      parameters, early stopping on it); ``"none"`` (scorecard only) — fit on all in-time rows, no
      validation AUC. ``cv_folds`` default: 5, or 3 when the in-time window has more than
      :data:`LARGE_CV_ROWS` rows (folds that big give a stable AUC, and each fold costs a full fit).
    * ``bad_value``: for a target that is not 0/1 or boolean, the value meaning bad (``"bad"``).
    * ``special_codes``: scorecard special values, ``{feature: [codes]}``, ``"auto"`` (detected,
      :func:`models.scorecard.detect_special_codes`) or None.
    * ``on_inf``: ``"missing"`` (±inf treated as missing, counted in ``metrics["inf_replaced"]`` and
      warned) or ``"raise"``.
    * ``oracle_column``: true probabilities (simulator truth); reported as ``oracle_auc`` on OOT.
    * ``group_column``: rows sharing its value (a customer's observations) stay in one CV fold, for
      LightGBM's parameter search, the scorecard's C and both CV AUCs (:func:`models.gbm.stratified_folds`).
    * ``plot_dir``: write roc/ks/deciles/calibration PNGs there.
    """
    if model_type not in MODEL_TYPES:
        raise ValueError(f"model_type must be one of {MODEL_TYPES}, got '{model_type}'")
    if validation not in VALIDATION:
        raise ValueError(f"validation must be one of {VALIDATION}, got '{validation}'")
    if validation == "none" and model_type == "lightgbm":
        raise ValueError("LightGBM needs validation='cv' or 'holdout' (its number of trees is chosen on it)")
    if on_inf not in ("missing", "raise"):
        raise ValueError(f"on_inf must be 'missing' or 'raise', got '{on_inf}'")
    timings: dict[str, float] = {}
    t_all = time.perf_counter()
    scaling = scaling if isinstance(scaling, ScoreScaling) else ScoreScaling.from_dict(scaling)
    split_cfg = Split(seed=seed) if split is None else Split.coerce(split)
    for col in [target, time_column, oracle_column, group_column]:
        if col is not None and col not in frame.columns:
            raise KeyError(f"column '{col}' not in frame")
    ids = [c for c in id_columns if c in frame.columns]

    y_all = coerce_target(frame[target], target, bad_value)
    labelled = frame.assign(**{target: y_all})[y_all.notna().to_numpy()].reset_index(drop=True)
    n_unlabelled = len(frame) - len(labelled)

    if features is None:
        reserved = {target, *(c for c in [time_column, oracle_column] if c), *ids, *exclude}
        feats = candidate_features(labelled, exclude=reserved)
    else:
        feats = list(features)
        absent = [f for f in feats if f not in labelled.columns]
        if absent:
            raise KeyError(f"features not in frame: {absent[:10]}")
    if not feats:
        raise ValueError("no candidate features")
    labelled, inf_counts = replace_infinite(labelled, feats, on_inf)

    t0 = time.perf_counter()
    tr, va, oo, info = split_frame(labelled, target, time_column, split_cfg, holdout=validation == "holdout")
    timings["split"] = time.perf_counter() - t0
    train_df, valid_df, oot_df = labelled.iloc[tr], labelled.iloc[va], labelled.iloc[oo]
    y_tr = train_df[target].to_numpy().astype(int)
    y_va = valid_df[target].to_numpy().astype(int)
    y_oo = oot_df[target].to_numpy().astype(int)
    if y_tr.sum() == 0 or y_tr.sum() == len(y_tr):
        raise ValueError("the training sample has a single class")
    from models.gbm import check_enough_data

    check_enough_data(y_tr, what="the in-time training rows")
    if cv_folds is None:
        cv_folds = 3 if len(y_tr) > LARGE_CV_ROWS else 5
    groups_tr = train_df[group_column].to_numpy() if group_column else None

    p = dict(params or {})
    sc_trend = p.get("monotonic_trend", "auto_significant")
    sc_binning = {**DEFAULT_BINNING, **dict(p.get("binning_params") or {})}
    specials: dict[str, list] = {}
    if model_type == "scorecard":
        categorical = categorical_features(train_df, feats)
        num_feats = [f for f in feats if f not in categorical]
        specials = detect_special_codes(train_df, num_feats) if special_codes == "auto" else dict(special_codes or {})

    selection = None
    reuse_binnings = False
    if select is not False and select is not None:
        if select is True:
            cfg = default_selection(model_type)
        elif isinstance(select, SelectionConfig):
            cfg = select
        else:
            cfg = default_selection(model_type).replace(**dict(select))
        if model_type == "scorecard" and not isinstance(select, SelectionConfig) and not isinstance(sc_trend, Mapping):
            # the selection bins exactly as the scorecard will: its binnings are adopted, each feature optimised once
            cfg = cfg.replace(binning_params={**sc_binning, "monotonic_trend": sc_trend}, special_codes=specials)
            reuse_binnings = True
        cfg = cfg.replace(n_jobs=n_jobs, seed=seed)
        t0 = time.perf_counter()
        selection = select_features(train_df, target, feats, oot_frame=oot_df if info.get("oot_kind") == "out_of_time" else None,
                                    config=cfg)
        timings["selection"] = time.perf_counter() - t0
        feats = selection.kept
        if not feats:
            raise ValueError("feature selection dropped every feature: see result of select_features(...).dropped")

    t0 = time.perf_counter()
    cv_metrics: dict[str, Any] = {}
    if model_type == "lightgbm":
        from models.gbm import stratified_folds, train_gbm, train_gbm_cv

        nbr = p.pop("num_boost_round", None)
        esr = p.pop("early_stopping_rounds", None)
        kwargs = {k: v for k, v in (("num_boost_round", nbr), ("early_stopping_rounds", esr)) if v is not None}
        if validation == "cv":   # the grid sets the threads (one on small frames, else n_jobs)
            model = train_gbm_cv(train_df[feats], y_tr, folds=stratified_folds(y_tr, cv_folds, seed, groups_tr),
                                 grid=grid, params=p, seed=seed, threads=n_jobs, **kwargs)
            cv_metrics = {"auc_cv": model.evals["cv_auc_mean"], "auc_cv_std": model.evals["cv_auc_std"],
                          "auc_cv_folds": model.evals["cv_fold_aucs"], "cv_folds": model.evals["cv_folds"],
                          "cv_chosen": model.evals["chosen"]}
        else:
            p.setdefault("num_threads", n_jobs)
            model = train_gbm(train_df[feats], y_tr, valid_df[feats], y_va, params=p, seed=seed, **kwargs)
        used_params = {**model.params, **kwargs}
    else:
        from models.scorecard import train_scorecard

        sc_opts = {k: v for k, v in p.items() if k not in ("monotonic_trend", "binning_params")}
        sc_opts.setdefault("seed", seed)
        binnings = selection.binnings if (selection is not None and reuse_binnings) else None
        # the fold AUCs come from the bins the fit has already computed (and the C search's folds)
        model = train_scorecard(train_df[feats], y_tr, scaling=scaling, monotonic_trend=sc_trend, binning_params=sc_binning,
                                special_codes=specials, binnings=binnings,
                                cv_folds=cv_folds if validation == "cv" else None, groups=groups_tr, **sc_opts)
        timings["fit"] = time.perf_counter() - t0
        if validation == "cv":
            aucs = model.cv_fold_aucs
            cv_metrics = {"auc_cv": float(np.mean(aucs)), "auc_cv_std": float(np.std(aucs)), "auc_cv_folds": aucs,
                          "cv_folds": len(aucs)}
        used_params = {"C": model.C, "C_cv_auc": model.C_cv or None, "monotonic_trend": sc_trend,
                       "binning_params": sc_binning, "special_codes": model.special_codes,
                       "dropped_wrong_sign": model.dropped_wrong_sign}
    timings.setdefault("fit", time.perf_counter() - t0)
    feats = list(model.features)

    t0 = time.perf_counter()
    p_tr, p_oo = model.predict_proba(train_df), model.predict_proba(oot_df)
    p_va = model.predict_proba(valid_df) if len(valid_df) else np.zeros(0)
    oracle = oot_df[oracle_column].to_numpy(dtype=float) if oracle_column else None
    m_tr = M.summary(y_tr, p_tr)
    m_va = M.summary(y_va, p_va) if len(y_va) else {"n": 0, "bad_rate": None, "auc": None, "gini": None, "ks": None}
    if cv_metrics:   # the validation figure is the cross-validated one
        m_va = {**m_va, "auc": cv_metrics["auc_cv"], "gini": 2 * cv_metrics["auc_cv"] - 1}
    m_oo = M.summary(y_oo, p_oo, oracle_prob=oracle)
    metrics: dict[str, Any] = {
        "n_features": len(feats), "n_candidates": len(selection.stats) if selection else len(feats),
        "n_train": m_tr["n"], "n_valid": m_va["n"], "n_oot": m_oo["n"], "n_unlabelled_dropped": n_unlabelled,
        "validation": f"cv{cv_metrics['cv_folds']}" if cv_metrics else validation,
        "bad_rate_train": m_tr["bad_rate"], "bad_rate_valid": m_va["bad_rate"], "bad_rate_oot": m_oo["bad_rate"],
        "auc_train": m_tr["auc"], "auc_valid": m_va["auc"], "auc_oot": m_oo["auc"],
        "gini_train": m_tr["gini"], "gini_valid": m_va["gini"], "gini_oot": m_oo["gini"],
        "ks_train": m_tr["ks"], "ks_valid": m_va.get("ks"), "ks_oot": m_oo["ks"],
        "brier_oot": m_oo.get("brier"), "oracle_auc": m_oo.get("oracle_auc"),
        "psi_score_train_oot": M.psi(p_tr, p_oo),
        "mean_score_oot": float(np.mean(probability_to_points(p_oo, scaling))) if len(p_oo) else None,
        "inf_replaced": inf_counts, "n_inf_replaced": int(sum(inf_counts.values())),
        **{k: v for k, v in cv_metrics.items() if k != "cv_folds"},
        "cv_group_column": group_column if cv_metrics else None,
    }
    if oracle_column:
        metrics["oracle_auc_valid"] = (M.summary(y_va, p_va, valid_df[oracle_column].to_numpy(dtype=float)).get("oracle_auc")
                                       if len(y_va) else None)
        metrics["auc_gap_to_oracle"] = (metrics["oracle_auc"] - metrics["auc_oot"]) if metrics["oracle_auc"] is not None else None
    metrics["psi_score_status"] = M.psi_status(metrics["psi_score_train_oot"])
    deciles = M.decile_table(y_oo, p_oo) if len(y_oo) else pd.DataFrame()
    calibration = M.calibration_table(y_oo, p_oo) if len(y_oo) else pd.DataFrame()
    timings["evaluate"] = time.perf_counter() - t0

    t0 = time.perf_counter()
    intime_df = labelled.iloc[np.sort(np.concatenate([tr, va]))]
    key_cols = [c for c in [*ids, time_column, target] if c]
    fingerprints = {"keys_sha256": fingerprint(intime_df, key_cols), "key_columns": ",".join(key_cols),
                    "features_sha256": fingerprint(intime_df, feats),
                    "oot_keys_sha256": fingerprint(oot_df, key_cols)}
    timings["fingerprint"] = time.perf_counter() - t0

    oot_pred = pd.DataFrame({"y": y_oo, "probability": p_oo})
    if oracle is not None:
        oot_pred["oracle"] = oracle
    split_info = {**info, "validation": metrics["validation"], "valid_fraction": split_cfg.valid_fraction if validation == "holdout" else 0.0,
                  "seed": split_cfg.seed, "oot_fraction": split_cfg.oot_fraction}
    result = TrainResult(model=model, model_type=model_type, label=label, target=target, time_column=time_column,
                         features=feats, metrics=metrics, deciles=deciles, calibration=calibration, split=split_info,
                         scaling=scaling, selection=selection, fingerprints=fingerprints,
                         feature_importance=model.feature_importance(),
                         feature_dictionary=feature_descriptions(feature_dictionary), params=_jsonable(used_params),
                         oot_predictions=oot_pred)
    if plot_dir is not None:
        t0 = time.perf_counter()
        result.save_plots(plot_dir)
        timings["plots"] = time.perf_counter() - t0
    timings["total"] = time.perf_counter() - t_all
    result.timings = timings
    return result
