"""Feature pre-selection for wide feature marts (thousands of candidate features).

Stages, cheapest first; every dropped feature gets a row in ``SelectionResult.dropped`` saying
why (``reason``) with the number behind it (``detail``):

1. ``missing_rate``  — share of missing values above ``max_missing``;
2. ``near_constant`` — the most frequent value holds at least ``max_top_share`` of the non-missing
   values (exact for shares > 0.5: such a value is the median);
   ``high_cardinality`` — a categorical feature with more than ``max_categories`` levels;
3. ``prescreen_auc`` — only when more than ``prescreen_top_k`` numeric candidates survive: keep the
   top-K by a cheap univariate AUC (from the bad / good counts of 100 quantile bins of a stratified
   sample of at most ``prescreen_rows`` rows; the AUC of the missing indicator counts too), so that
   optbinning's IV is computed for K features instead of thousands;
4. ``psi``           — PSI between the training period and the out-of-time period above ``max_psi``;
5. ``low_iv`` / ``high_iv`` — information value from optbinning's ``OptimalBinning`` (WoE
   binning), computed in parallel (joblib, ``n_jobs`` processes);
6. ``correlated``    — greedy pruning in decreasing strength (IV, else univariate |Gini|): a
   feature whose |Pearson r| (numpy ``corrcoef`` on median-imputed values) with an already kept
   feature exceeds ``max_corr`` is dropped;
7. ``cap``           — keep the ``max_features`` strongest.

``SelectionResult.stats`` has one row per candidate feature (missing rate, top share, PSI,
univariate AUC, IV, status): the per-feature stats the feature catalog shows.
"""
from __future__ import annotations

import time
import warnings
from dataclasses import asdict, dataclass, field
from typing import Any, Iterable

import numpy as np
import pandas as pd

from models.feature_kinds import categorical_features
from models.metrics import psi, psi_numeric

PRESCREEN_BINS = 100
PARALLEL_IV_MIN_CELLS = 10_000_000   # features × rows above which IV runs in joblib worker processes
REASONS = ("missing_rate", "near_constant", "high_cardinality", "prescreen_auc", "psi", "low_iv", "high_iv",
           "correlated", "cap")


@dataclass
class SelectionConfig:
    max_missing: float = 0.95
    max_top_share: float = 0.99
    max_categories: int = 50
    prescreen_top_k: int | None = 400
    prescreen_rows: int = 20_000
    max_psi: float | None = 0.25
    psi_bins: int = 10
    min_iv: float | None = 0.02
    max_iv: float | None = None
    max_corr: float | None = 0.8
    max_features: int | None = None
    # per-feature bin shape: monotone unless a peak / valley is clearly stronger (models._optb): a
    # monotone-only rule flattens U-shaped effects (age) and under-rates them; any shape fits noise
    binning_params: dict[str, Any] = field(default_factory=lambda: {"monotonic_trend": "auto_significant"})
    special_codes: dict[str, list] | None = None    # {feature: [codes]}: own bins in the IV binning
    n_jobs: int = 2
    chunk_columns: int = 500
    seed: int = 42

    def replace(self, **changes) -> "SelectionConfig":
        unknown = set(changes) - set(asdict(self))
        if unknown:
            raise TypeError(f"unknown selection option(s): {sorted(unknown)}; known: {sorted(asdict(self))}")
        return SelectionConfig(**{**asdict(self), **changes})


@dataclass
class SelectionResult:
    kept: list[str]
    dropped: pd.DataFrame          # feature, reason, detail
    stats: pd.DataFrame            # one row per candidate feature
    config: SelectionConfig
    timings: dict[str, float]
    binnings: dict[str, Any] = field(default_factory=dict)   # kept feature -> its fitted IV binning (OptimalBinning)

    @property
    def binning_splits(self) -> dict[str, list[float]]:
        """Numeric kept feature -> the splits of its IV binning."""
        return {f: np.asarray(b.splits, dtype=float).tolist() for f, b in self.binnings.items() if b.dtype == "numerical"}

    def summary(self) -> pd.Series:
        """Number of features dropped per reason, and kept."""
        counts = self.dropped["reason"].value_counts().reindex(REASONS, fill_value=0)
        return pd.concat([counts, pd.Series({"kept": len(self.kept)})])


def candidate_features(frame: pd.DataFrame, exclude: Iterable[str] = ()) -> list[str]:
    """All columns that can be features: numeric, bool, category or string; not datetime; not excluded."""
    ex = set(exclude)
    out = []
    for c in frame.columns:
        if c in ex:
            continue
        s = frame[c]
        if pd.api.types.is_datetime64_any_dtype(s) or pd.api.types.is_timedelta64_dtype(s):
            continue
        out.append(c)
    return out


def _numeric_block(frame: pd.DataFrame, cols: list[str]) -> np.ndarray:
    return frame[cols].to_numpy(dtype=np.float64, na_value=np.nan)


def _stratified_sample(y: np.ndarray, max_rows: int, seed: int) -> np.ndarray:
    n = y.size
    if n <= max_rows:
        return np.arange(n)
    rng = np.random.default_rng(seed)
    idx = []
    for cls in (0, 1):
        members = np.flatnonzero(y == cls)
        take = int(round(max_rows * members.size / n))
        idx.append(rng.choice(members, size=min(take, members.size), replace=False))
    return np.sort(np.concatenate(idx))


def _binned_auc(bad: np.ndarray, good: np.ndarray) -> float:
    """AUC of an ordinal score from its per-level bad / good counts (levels in score order): the
    share of (bad, good) pairs with the bad one higher, ties counted half — what sklearn's
    ``roc_auc_score`` gives on the levels with the counts as sample weights, without a sort."""
    n_bad, n_good = bad.sum(), good.sum()
    if n_bad <= 0 or n_good <= 0:
        return 0.5
    goods_below = np.cumsum(good) - good
    return float(np.sum(bad * (goods_below + 0.5 * good)) / (n_bad * n_good))


def _univariate_auc(x: np.ndarray, y: np.ndarray, n_bins: int = PRESCREEN_BINS) -> tuple[float, float]:
    """(AUC of the value over the non-missing rows, AUC of the missing indicator); 0.5 where undefined.

    The value is first cut into at most ``n_bins`` quantile bins and the AUC of the binned feature
    is computed from the per-bin good / bad counts (:func:`_binned_auc`), at a fraction of the cost
    of ranking every row (this is only a pre-screen).
    """
    miss = np.isnan(x)
    n_miss = int(miss.sum())
    a_miss = 0.5
    if 0 < n_miss < x.size:
        bad_m, bad_p = float(y[miss].sum()), float(y[~miss].sum())
        a_miss = _binned_auc(np.array([bad_p, bad_m]), np.array([x.size - n_miss - bad_p, n_miss - bad_m]))
    if n_miss == x.size:
        return 0.5, a_miss
    xv, yv = x[~miss], y[~miss]
    edges = np.unique(np.quantile(xv, np.linspace(0, 1, n_bins + 1)[1:-1]))
    codes = np.searchsorted(edges, xv, side="left")
    nb = edges.size + 1
    bad = np.bincount(codes, weights=yv, minlength=nb)
    total = np.bincount(codes, minlength=nb)
    return _binned_auc(bad, total - bad), a_miss


def _iv_batch(names: list[str], columns: list[np.ndarray], y: np.ndarray, categorical: list[bool],
              params: dict, specials: dict | None = None) -> list[tuple[str, float, str | None, Any]]:
    from models._optb import fit_optimal_binning, information_value

    out = []
    for name, x, cat in zip(names, columns, categorical):
        try:
            codes = (specials or {}).get(name)
            extra = {"special_codes": {str(c): [c] for c in codes}} if codes and not cat else {}
            b = fit_optimal_binning(x, y, name=name, categorical=cat, **params, **extra)
            out.append((name, information_value(b), None, b))
        except Exception as exc:  # one broken feature must not stop the selection
            out.append((name, float("nan"), f"{type(exc).__name__}: {exc}", None))
    return out


def information_values(frame: pd.DataFrame, target: str | np.ndarray, features: list[str], n_jobs: int = 2,
                       binning_params: dict | None = None, special_codes: dict | None = None,
                       binnings_out: dict | None = None) -> pd.Series:
    """IV per feature via optbinning ``OptimalBinning`` (numerical or categorical), in parallel.

    ``special_codes``: ``{feature: [codes]}`` binned on their own; ``binnings_out``: a dict that
    receives each feature's fitted binning (for reuse as the scorecard's bins).
    """
    from models._optb import as_categorical_values

    y = np.asarray(frame[target] if isinstance(target, str) else target).astype(int)
    params = dict(binning_params or {})
    categorical = categorical_features(frame, features)
    cats = [f in categorical for f in features]
    cols = [as_categorical_values(frame[f]).to_numpy() if c else frame[f].to_numpy(dtype=np.float64, na_value=np.nan)
            for f, c in zip(features, cats)]
    if not features:
        return pd.Series(dtype=float)
    # Worker processes pay a few seconds each to import optbinning: only worth it for big jobs.
    parallel = bool(n_jobs and n_jobs > 1 and len(features) * len(y) >= PARALLEL_IV_MIN_CELLS)
    n_batches = max(1, min(len(features), n_jobs * 4)) if parallel else 1
    splits = np.array_split(np.arange(len(features)), n_batches)
    batches = [([features[i] for i in s], [cols[i] for i in s], [cats[i] for i in s]) for s in splits if len(s)]
    if n_batches == 1:
        results = [_iv_batch(n, c, y, k, params, special_codes) for n, c, k in batches]
    else:
        from joblib import Parallel, delayed

        results = Parallel(n_jobs=n_jobs)(delayed(_iv_batch)(n, c, y, k, params, special_codes) for n, c, k in batches)
    flat = [r for batch in results for r in batch]
    errors = [(n, e) for n, _, e, _ in flat if e]
    if errors:
        warnings.warn(f"IV failed for {len(errors)} feature(s), e.g. {errors[0][0]}: {errors[0][1]}", stacklevel=2)
    if binnings_out is not None:
        binnings_out.update({n: b for n, _, _, b in flat if b is not None})
    return pd.Series({n: v for n, v, _, _ in flat}, dtype=float).reindex(features)


def select_features(frame: pd.DataFrame, target: str, features: Iterable[str] | None = None,
                    oot_frame: pd.DataFrame | None = None, config: SelectionConfig | None = None,
                    exclude: Iterable[str] = (), **options) -> SelectionResult:
    """Pre-select features on ``frame`` (the training sample, with the 0/1 ``target``).

    ``oot_frame``: the out-of-time sample (target not needed) for the PSI stage; without it the PSI
    stage is skipped. Options override ``config`` fields (e.g. ``max_features=40, min_iv=0.02``);
    set a threshold to ``None`` to skip its stage.
    """
    cfg = (config or SelectionConfig()).replace(**options) if options else (config or SelectionConfig())
    timings: dict[str, float] = {}
    if target not in frame.columns:
        raise KeyError(f"target column '{target}' not in frame")
    y = frame[target].to_numpy()
    if pd.isna(y).any():
        raise ValueError(f"target '{target}' has missing values: filter unlabelled rows first")
    y = y.astype(int)
    feats = list(features) if features is not None else candidate_features(frame, exclude=[target, *exclude])
    absent = [f for f in feats if f not in frame.columns]
    if absent:
        raise KeyError(f"features not in frame: {absent[:10]}{' …' if len(absent) > 10 else ''}")
    if oot_frame is not None:
        absent = [f for f in feats if f not in oot_frame.columns]
        if absent:
            raise KeyError(f"features not in the out-of-time frame: {absent[:10]}")

    stats = pd.DataFrame(index=pd.Index(feats, name="feature"))
    categorical_set = categorical_features(frame, feats)
    stats["kind"] = ["categorical" if f in categorical_set else "numeric" for f in feats]
    for col in ("missing_rate", "top_share", "n_levels", "auc", "auc_missing", "psi", "iv"):
        stats[col] = np.nan
    dropped: list[tuple[str, str, str]] = []

    def drop(names: Iterable[str], reason: str, detail) -> None:
        for n in names:
            dropped.append((n, reason, detail(n) if callable(detail) else str(detail)))

    def remaining(alive: list[str], out: list[str]) -> list[str]:
        gone = set(out)
        return [f for f in alive if f not in gone]

    # 1-2. missing rate, near-constant (chunked so a 3,000-column frame never becomes one float matrix)
    t0 = time.perf_counter()
    numeric = [f for f in feats if f not in categorical_set]
    categorical = [f for f in feats if f in categorical_set]
    for start in range(0, len(numeric), cfg.chunk_columns):
        cols = numeric[start:start + cfg.chunk_columns]
        X = _numeric_block(frame, cols)
        present = (~np.isnan(X)).sum(axis=0)
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", RuntimeWarning)
            med = np.nanmedian(X, axis=0)
            top = np.where(present > 0, (X == med).sum(axis=0) / np.maximum(present, 1), np.nan)
        stats.loc[cols, "missing_rate"] = 1 - present / max(len(frame), 1)
        stats.loc[cols, "top_share"] = top
    for f in categorical:
        s = frame[f]
        vc = s.value_counts(dropna=True)
        stats.at[f, "missing_rate"] = float(s.isna().mean())
        stats.at[f, "n_levels"] = len(vc)
        stats.at[f, "top_share"] = float(vc.iloc[0] / vc.sum()) if len(vc) else np.nan
    alive = list(feats)
    miss = stats["missing_rate"].to_dict()  # dict lookups: a Series lookup per feature costs ~10 us
    out = [f for f in alive if miss[f] > cfg.max_missing]
    drop(out, "missing_rate", lambda f: f"{miss[f]:.4f} > {cfg.max_missing}")
    alive = remaining(alive, out)
    top = stats["top_share"].to_dict()
    out = [f for f in alive if not (top[f] < cfg.max_top_share)]  # NaN (all missing) counts as constant
    drop(out, "near_constant", lambda f: f"top value share {top[f]:.4f} >= {cfg.max_top_share}")
    alive = remaining(alive, out)
    out = [f for f in alive if f in categorical_set and stats.at[f, "n_levels"] > cfg.max_categories]
    drop(out, "high_cardinality", lambda f: f"{int(stats.at[f, 'n_levels'])} levels > {cfg.max_categories}")
    alive = remaining(alive, out)
    timings["missing_constant"] = time.perf_counter() - t0

    # 3. univariate-AUC pre-screen (also the strength measure when IV is switched off)
    t0 = time.perf_counter()
    alive_num = [f for f in alive if f not in categorical_set]
    prescreen = cfg.prescreen_top_k is not None and len(alive_num) > cfg.prescreen_top_k
    no_iv = cfg.min_iv is None and cfg.max_iv is None
    need_auc = prescreen or (no_iv and (cfg.max_corr is not None or cfg.max_features is not None))
    if need_auc and alive_num and 0 < y.sum() < y.size:
        idx = _stratified_sample(y, cfg.prescreen_rows, cfg.seed)
        ys = y[idx]
        sample = frame.iloc[idx]
        aucs = _parallel_auc(sample, alive_num, ys, cfg)
        stats.loc[alive_num, "auc"] = [a for a, _ in aucs]
        stats.loc[alive_num, "auc_missing"] = [m for _, m in aucs]
        if prescreen:
            strength = np.maximum(np.abs(stats.loc[alive_num, "auc"] - 0.5), np.abs(stats.loc[alive_num, "auc_missing"] - 0.5))
            ranked = strength.sort_values(ascending=False, kind="stable")
            cut = set(ranked.index[cfg.prescreen_top_k:])
            threshold = ranked.iloc[cfg.prescreen_top_k - 1] if cfg.prescreen_top_k > 0 else np.inf
            drop([f for f in alive if f in cut], "prescreen_auc",
                 lambda f: f"|AUC-0.5| {strength[f]:.4f} outside the top {cfg.prescreen_top_k} (>= {threshold:.4f})")
            alive = [f for f in alive if f not in cut]
    timings["prescreen_auc"] = time.perf_counter() - t0

    # 4. PSI train -> out-of-time
    t0 = time.perf_counter()
    if oot_frame is not None and cfg.max_psi is not None and len(oot_frame):
        values = {}
        for f in alive:
            if f not in categorical_set:
                values[f] = psi_numeric(frame[f].to_numpy(dtype=float, na_value=np.nan),
                                        oot_frame[f].to_numpy(dtype=float, na_value=np.nan), bins=cfg.psi_bins)
            else:
                values[f] = psi(frame[f], oot_frame[f], bins=cfg.psi_bins)
        stats.loc[list(values), "psi"] = list(values.values())
        out = [f for f in alive if values[f] > cfg.max_psi]
        drop(out, "psi", lambda f: f"PSI train->OOT {values[f]:.4f} > {cfg.max_psi}")
        alive = remaining(alive, out)
    timings["psi"] = time.perf_counter() - t0

    # 5. information value (optbinning)
    t0 = time.perf_counter()
    binnings: dict[str, Any] = {}
    if cfg.min_iv is not None or cfg.max_iv is not None:
        iv = information_values(frame, y, alive, n_jobs=cfg.n_jobs, binning_params=cfg.binning_params,
                                special_codes=cfg.special_codes, binnings_out=binnings)
        stats.loc[alive, "iv"] = iv.to_numpy()
        if cfg.min_iv is not None:
            out = [f for f in alive if not (iv[f] >= cfg.min_iv)]
            drop(out, "low_iv", lambda f: f"IV {iv[f]:.4f} < {cfg.min_iv}")
            alive = remaining(alive, out)
        if cfg.max_iv is not None:
            out = [f for f in alive if iv[f] > cfg.max_iv]
            drop(out, "high_iv", lambda f: f"IV {iv[f]:.4f} > {cfg.max_iv} (suspiciously strong: check for leakage)")
            alive = remaining(alive, out)
    timings["iv"] = time.perf_counter() - t0

    # strength: IV where computed, else univariate |Gini| (best of value / missing indicator)
    strength = stats["iv"].copy()
    gini_like = 2 * np.maximum(np.abs(stats["auc"] - 0.5), np.abs(stats["auc_missing"] - 0.5))
    strength = strength.fillna(gini_like).fillna(0.0)
    stats["strength"] = strength
    position = {f: i for i, f in enumerate(feats)}
    strength_of = strength.to_dict()
    alive = sorted(alive, key=lambda f: (-strength_of[f], position[f]))

    # 6. correlation pruning among numeric survivors (greedy, strongest first)
    t0 = time.perf_counter()
    if cfg.max_corr is not None:
        num = [f for f in alive if f not in categorical_set]
        if len(num) > 1:
            X = _numeric_block(frame, num)
            with warnings.catch_warnings():
                warnings.simplefilter("ignore", RuntimeWarning)
                X = np.where(np.isnan(X), np.nanmedian(X, axis=0), X)
                C = np.abs(np.corrcoef(X, rowvar=False))
            C = np.nan_to_num(C, nan=0.0)
            kept_idx: list[int] = []
            out_corr = {}
            for i in range(len(num)):
                if kept_idx:
                    row = C[i, kept_idx]
                    j = int(np.argmax(row))
                    if row[j] > cfg.max_corr:
                        out_corr[num[i]] = (num[kept_idx[j]], row[j])
                        continue
                kept_idx.append(i)
            drop([f for f in alive if f in out_corr], "correlated",
                 lambda f: f"|r| {out_corr[f][1]:.3f} > {cfg.max_corr} with {out_corr[f][0]}")
            alive = [f for f in alive if f not in out_corr]
    timings["correlation"] = time.perf_counter() - t0

    # 7. cap
    if cfg.max_features is not None and len(alive) > cfg.max_features:
        out = alive[cfg.max_features:]
        drop(out, "cap", lambda f: f"strength {strength[f]:.4f} outside the top {cfg.max_features}")
        alive = alive[:cfg.max_features]

    dropped_df = pd.DataFrame(dropped, columns=["feature", "reason", "detail"])
    stats["status"] = "kept"
    if len(dropped_df):
        stats.loc[dropped_df["feature"].to_numpy(), "status"] = dropped_df["reason"].to_numpy()
    timings["total"] = sum(timings.values())
    return SelectionResult(kept=alive, dropped=dropped_df, stats=stats.reset_index(), config=cfg, timings=timings,
                           binnings={f: binnings[f] for f in alive if f in binnings})


def _parallel_auc(sample: pd.DataFrame, cols: list[str], y: np.ndarray, cfg: SelectionConfig) -> list[tuple[float, float]]:
    def run(chunk: list[str]) -> list[tuple[float, float]]:
        X = _numeric_block(sample, chunk)
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", RuntimeWarning)
            return [_univariate_auc(X[:, j], y) for j in range(X.shape[1])]

    chunks = [cols[i:i + 100] for i in range(0, len(cols), 100)]
    if cfg.n_jobs and cfg.n_jobs > 1 and len(chunks) > 1:
        from joblib import Parallel, delayed

        parts = Parallel(n_jobs=cfg.n_jobs, prefer="threads")(delayed(run)(c) for c in chunks)
    else:
        parts = [run(c) for c in chunks]
    return [r for p in parts for r in p]
