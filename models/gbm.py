"""LightGBM binary classifier for credit risk, with SHAP reason codes.

* :func:`train_gbm_cv` (what ``train_model`` uses by default) chooses the parameters by
  cross-validation on the in-time rows: a small grid (:func:`candidate_grid`, scaled with the
  number of rows: from LightGBM's own defaults to shallow, strongly regularised trees) is run
  through ``lightgbm.cv`` on the same folds with early stopping inside every fold; the candidate
  with the best mean fold AUC is refitted on all rows for its mean best number of rounds. Frames
  too small to learn from raise :class:`TooLittleData` instead of returning a constant model.
* :func:`train_gbm` trains with early stopping on a given validation set (``lightgbm.early_stopping``)
  with fixed parameters (:data:`DEFAULT_PARAMS`: depth-3 trees of at most 7 leaves, ≥ 100 rows per
  leaf). The booster kept is truncated at the best iteration.
* Both are deterministic (``seed``, fixed ``num_threads``, ``deterministic=True``, ``force_row_wise=True``).
* :class:`GBMModel` scores a DataFrame (probability of bad, raw log-odds), reports what it could not
  have seen in training (:meth:`GBMModel.input_report`: unseen categories, missing values in a
  feature that had none, ±inf, counted per column and warned about), and explains it:
  ``booster.predict(X, pred_contrib=True)`` gives per-feature SHAP contributions in log-odds whose
  sum with the base value (last column) is the raw score; reason codes are the top-k positive
  contributions, named from an optional feature dictionary ``{feature: description}``.
"""
from __future__ import annotations

import json
import warnings
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Mapping

import lightgbm as lgb  # OMP_WAIT_POLICY is set by the package (models/__init__.py) before any OpenMP loads
import numpy as np
import pandas as pd

from models.feature_kinds import is_categorical
from models.reasons import top_k_reasons

DEFAULT_PARAMS: dict[str, Any] = {
    "objective": "binary",
    "metric": "auc",
    "learning_rate": 0.05,
    "num_leaves": 7,
    "max_depth": 3,
    "min_data_in_leaf": 100,
    "min_sum_hessian_in_leaf": 1.0,
    "feature_fraction": 0.5,
    "bagging_fraction": 0.8,
    "bagging_freq": 1,
    "lambda_l1": 0.0,
    "lambda_l2": 10.0,
    "min_gain_to_split": 0.0,
    "max_bin": 63,
    "cat_smooth": 20.0,
    "min_data_per_group": 100,
    "max_cat_to_onehot": 4,
    "seed": 42,
    "deterministic": True,
    "force_row_wise": True,
    "num_threads": 2,
    "verbosity": -1,
}
DEFAULT_NUM_BOOST_ROUND = 2000
CV_EARLY_STOPPING_ROUNDS = 50
MIN_CLASS_ROWS = 10          # fewer bads (or goods) than this: nothing to learn, refuse
LARGE_CELLS = 50_000_000     # rows x features above which histograms use 63 bins (speed, memory)
DEFAULT_EARLY_STOPPING_ROUNDS = 100
CONTRIB_CHUNK_ROWS = 50_000
PREDICT_CHUNK_ROWS = 100_000


def _categorical_levels(frame: pd.DataFrame, features: list[str]) -> dict[str, list]:
    levels = {}
    for f in features:
        s = frame[f]
        if isinstance(s.dtype, pd.CategoricalDtype):
            levels[f] = [c for c in s.cat.categories.tolist()]
        elif is_categorical(s):
            levels[f] = sorted(map(str, s.dropna().unique().tolist()))
    return levels


class TooLittleData(ValueError):
    """The frame is too small (or too one-sided) to train a model that is more than a constant."""


def check_enough_data(y, what: str = "the training rows", min_class_rows: int = MIN_CLASS_ROWS) -> None:
    y = np.asarray(y).astype(int)
    n_bad, n_good = int(y.sum()), int(y.size - y.sum())
    if min(n_bad, n_good) < min_class_rows:
        raise TooLittleData(
            f"{what} hold {y.size} rows with {n_bad} bad and {n_good} good: at least {min_class_rows} of each are "
            "needed to learn anything but a constant (use more rows or a longer window)")


def _numeric_missing(frame: pd.DataFrame, features: list[str]) -> dict[str, bool]:
    return {f: bool(frame[f].isna().any()) for f in features}


def input_report(frame: pd.DataFrame, features: list[str], levels: Mapping[str, list],
                 had_missing: Mapping[str, bool], as_text: Mapping[str, pd.Series] | None = None) -> pd.DataFrame:
    """Per feature: rows with a category unseen in training, a missing value in a feature that had
    none in training, or ±inf (scored as missing). Only features with a non-zero count.
    A categorical value is unseen when its text (``models._optb.as_categorical_values``, the one conversion)
    is not the text of a training level. ``as_text``: those texts when the caller already has them."""
    from models._optb import as_categorical_values

    rows = []
    for f in features:
        s = frame[f]
        unseen = 0
        if f in levels:
            vals = as_text[f] if as_text is not None and f in as_text else as_categorical_values(s)
            unseen = int((vals.notna() & ~vals.isin({str(v) for v in levels[f]})).sum())
            n_inf = 0
        else:
            n_inf = int(np.isinf(s.to_numpy(dtype=float, na_value=np.nan)).sum()) if pd.api.types.is_numeric_dtype(s) else 0
        unexpected_missing = int(s.isna().sum()) if not had_missing.get(f, True) else 0
        if unseen or unexpected_missing or n_inf:
            rows.append((f, unseen, unexpected_missing, n_inf))
    return pd.DataFrame(rows, columns=["feature", "n_unseen_category", "n_unexpected_missing", "n_inf"])


def warn_input_report(report: pd.DataFrame, n_rows: int) -> None:
    if len(report):
        parts = [f"{r.feature}: {r.n_unseen_category} unseen category, {r.n_unexpected_missing} missing "
                 f"(none in training), {r.n_inf} inf" for r in report.head(10).itertuples()]
        warnings.warn(f"scoring {n_rows} rows: {len(report)} feature(s) hold values the model never saw "
                      f"(scored as missing): " + "; ".join(parts), UserWarning, stacklevel=3)


@dataclass
class GBMModel:
    booster: lgb.Booster
    features: list[str]
    categorical_levels: dict[str, list] = field(default_factory=dict)
    params: dict[str, Any] = field(default_factory=dict)
    best_iteration: int | None = None
    evals: dict[str, Any] = field(default_factory=dict)
    model_type: str = "lightgbm"
    training_missing: dict[str, bool] = field(default_factory=dict)   # feature -> had NaN in training
    last_input_report: pd.DataFrame | None = None

    # -- data preparation ---------------------------------------------------------------------
    def prepare(self, frame: pd.DataFrame) -> pd.DataFrame:
        """The model's feature columns in training order; categoricals with the training levels."""
        missing = [f for f in self.features if f not in frame.columns]
        if missing:
            raise KeyError(f"scoring frame lacks {len(missing)} model feature(s): {missing[:10]}")
        X = frame[self.features]
        numeric = [f for f in self.features if f not in self.categorical_levels]
        if numeric and len(X):
            values = X[numeric]
            with np.errstate(invalid="ignore"):
                infinite = [f for f in numeric if pd.api.types.is_float_dtype(values[f])
                            and np.isinf(values[f].to_numpy(dtype=float, na_value=np.nan)).any()]
            if infinite:  # ±inf is scored as missing, as in training (counted by input_report)
                X = X.assign(**{f: X[f].replace([np.inf, -np.inf], np.nan) for f in infinite})
        if self.categorical_levels:
            X = X.assign(**{f: pd.Categorical(X[f] if isinstance(X[f].dtype, pd.CategoricalDtype) else X[f].astype("string"),
                                              categories=levels)
                            for f, levels in self.categorical_levels.items()})
        return X

    # -- scoring ------------------------------------------------------------------------------
    def _predict(self, frame: pd.DataFrame, chunk_rows: int = PREDICT_CHUNK_ROWS, **kwargs) -> np.ndarray:
        """booster.predict over row chunks (bounded memory), with the model's thread count."""
        threads = int(self.params.get("num_threads", 0) or 0)
        if threads > 0:
            kwargs["num_threads"] = threads
        if len(frame) == 0:
            self.prepare(frame)  # still check the columns
            width = len(self.features) + 1 if kwargs.get("pred_contrib") else None
            return np.zeros((0, width)) if width else np.zeros(0)
        parts = [self.booster.predict(self.prepare(frame.iloc[i:i + chunk_rows]), **kwargs)
                 for i in range(0, len(frame), chunk_rows)]
        return np.concatenate(parts)

    def input_report(self, frame: pd.DataFrame) -> pd.DataFrame:
        """Counts per feature of unseen categories, unexpected missing values and ±inf in ``frame``."""
        return input_report(frame, self.features, self.categorical_levels, self.training_missing)

    def _checked(self, frame: pd.DataFrame) -> None:
        missing = [f for f in self.features if f not in frame.columns]
        if missing:
            raise KeyError(f"scoring frame lacks {len(missing)} model feature(s): {missing[:10]}")
        if self.training_missing or self.categorical_levels:
            report = self.input_report(frame)
            self.last_input_report = report
            warn_input_report(report, len(frame))

    def predict_log_odds(self, frame: pd.DataFrame) -> np.ndarray:
        self._checked(frame)
        return self._predict(frame, raw_score=True)

    def predict_proba(self, frame: pd.DataFrame) -> np.ndarray:
        """Probability of bad (class 1); warns with a count per feature of values never seen in training."""
        self._checked(frame)
        return self._predict(frame)

    def contributions(self, frame: pd.DataFrame) -> tuple[np.ndarray, np.ndarray]:
        """(SHAP contributions n×p in log-odds, base value per row): contributions.sum(1) + base = raw score."""
        out = self._predict(frame, pred_contrib=True)
        return out[:, :-1], out[:, -1]

    def reason_codes(self, frame: pd.DataFrame, k: int = 3, descriptions: Mapping[str, str] | None = None,
                     chunk_rows: int = CONTRIB_CHUNK_ROWS) -> pd.DataFrame:
        """Top-k features with the largest positive contribution to risk, per row (chunked)."""
        return reason_codes(self, frame, k=k, descriptions=descriptions, chunk_rows=chunk_rows)

    def feature_importance(self) -> pd.DataFrame:
        gain = self.booster.feature_importance(importance_type="gain")
        split = self.booster.feature_importance(importance_type="split")
        return (pd.DataFrame({"feature": self.booster.feature_name(), "gain": gain, "split": split})
                .sort_values("gain", ascending=False, kind="stable").reset_index(drop=True))

    # -- persistence --------------------------------------------------------------------------
    def save(self, folder: str | Path) -> list[Path]:
        folder = Path(folder)
        model_path = folder / "model.txt"
        self.booster.save_model(str(model_path))
        meta_path = folder / "gbm_meta.json"
        meta_path.write_text(json.dumps({
            "features": self.features, "categorical_levels": self.categorical_levels,
            "params": self.params, "best_iteration": self.best_iteration, "evals": self.evals,
            "training_missing": self.training_missing,
        }, indent=2, default=str))
        return [model_path, meta_path]

    @classmethod
    def load(cls, folder: str | Path) -> "GBMModel":
        folder = Path(folder)
        booster = lgb.Booster(model_file=str(folder / "model.txt"))
        meta_file = folder / "gbm_meta.json"
        meta = json.loads(meta_file.read_text()) if meta_file.exists() else {"features": booster.feature_name()}
        return cls(booster=booster, features=meta["features"], categorical_levels=meta.get("categorical_levels", {}),
                   params=meta.get("params", {}), best_iteration=meta.get("best_iteration"), evals=meta.get("evals", {}),
                   training_missing=meta.get("training_missing", {}))


def reason_codes(model, frame: pd.DataFrame, k: int = 3, descriptions: Mapping[str, str] | None = None,
                 chunk_rows: int = CONTRIB_CHUNK_ROWS) -> pd.DataFrame:
    """Reason codes for any model with ``contributions(frame) -> (C, base)`` and ``features``.

    Computed in row chunks so that the n×p contribution matrix never exists for all rows at once.
    """
    parts = []
    for start in range(0, len(frame), chunk_rows):
        C, _ = model.contributions(frame.iloc[start:start + chunk_rows])
        parts.append(top_k_reasons(C, model.features, k=k, descriptions=descriptions))
    if not parts:
        return top_k_reasons(np.zeros((0, len(model.features))), model.features, k=k, descriptions=descriptions)
    out = pd.concat(parts, ignore_index=True)
    out.index = frame.index
    return out


def _monotone_list(params: dict, features: list[str]) -> dict:
    """``monotone_constraints`` may be given as {feature: -1/0/1}: turned into LightGBM's list in feature order."""
    mc = params.get("monotone_constraints")
    if isinstance(mc, Mapping):
        unknown = sorted(set(mc) - set(features))
        params = {**params, "monotone_constraints": [int(mc.get(f, 0)) for f in features]}
        if unknown:
            warnings.warn(f"monotone constraints for {len(unknown)} feature(s) not in the model ignored: {unknown[:5]}",
                          UserWarning, stacklevel=3)
    return params


def _finish(model: GBMModel, booster: lgb.Booster, best: int, X_train: pd.DataFrame) -> GBMModel:
    # Keep exactly the best trees: predictions, contributions and the saved model.txt then agree.
    model.booster = lgb.Booster(model_str=booster.model_to_string(num_iteration=best))
    model.best_iteration = int(best)
    model.training_missing = _numeric_missing(X_train, model.features)
    if model.booster.num_trees() == 0 or all(
            model.booster.dump_model(num_iteration=best)["tree_info"][t]["num_leaves"] <= 1
            for t in range(model.booster.num_trees())):
        raise TooLittleData(f"LightGBM found no split in {len(X_train)} rows: the model would predict a constant "
                            "(too few rows per leaf for min_data_in_leaf, or no signal in the features)")
    return model


def train_gbm(X_train: pd.DataFrame, y_train, X_valid: pd.DataFrame, y_valid, params: Mapping[str, Any] | None = None,
              num_boost_round: int = DEFAULT_NUM_BOOST_ROUND,
              early_stopping_rounds: int = DEFAULT_EARLY_STOPPING_ROUNDS, seed: int | None = None) -> GBMModel:
    """Train a LightGBM binary classifier with early stopping on (X_valid, y_valid).

    ``params`` override :data:`DEFAULT_PARAMS`; ``seed`` overrides ``params['seed']``.
    Non-numeric columns become LightGBM categoricals (levels kept with the model).
    """
    check_enough_data(y_train)
    features = list(X_train.columns)
    p = _monotone_list({**DEFAULT_PARAMS, **dict(params or {})}, features)
    if seed is not None:
        p["seed"] = seed
    levels = _categorical_levels(X_train, features)
    model = GBMModel(booster=None, features=features, categorical_levels=levels, params=p)  # type: ignore[arg-type]
    Xt, Xv = model.prepare(X_train), model.prepare(X_valid)
    cats = list(levels) or "auto"
    dtrain = lgb.Dataset(Xt, label=np.asarray(y_train, dtype=float), categorical_feature=cats, free_raw_data=True)
    dvalid = lgb.Dataset(Xv, label=np.asarray(y_valid, dtype=float), categorical_feature=cats, reference=dtrain)
    evals: dict[str, Any] = {}
    booster = lgb.train(p, dtrain, num_boost_round=num_boost_round, valid_sets=[dvalid], valid_names=["valid"],
                        callbacks=[lgb.early_stopping(early_stopping_rounds, verbose=False),
                                   lgb.record_evaluation(evals)])
    best = booster.best_iteration or booster.current_iteration()
    metric = p.get("metric", "auc")
    curve = evals.get("valid", {}).get(metric if isinstance(metric, str) else metric[0], [])
    _finish(model, booster, best, X_train)
    model.evals = {"valid_" + str(metric): float(curve[best - 1]) if curve else None, "rounds_trained": len(curve)}
    return model


# ---------------------------------------------------------------------------------------------
# Parameters chosen by cross-validation
# ---------------------------------------------------------------------------------------------

BASE_PARAMS: dict[str, Any] = {
    "objective": "binary", "metric": "auc", "seed": 42, "deterministic": True, "force_row_wise": True,
    "num_threads": 2, "verbosity": -1, "feature_pre_filter": False,
}


# rows x features below which LightGBM trains on one thread. Measured on the A-card's CV grid (5.5k rows x 150
# features, 2 cores, load 3-5): one thread 17.5 s, two 21 s, and two 42 s once optbinning's solver had run in the
# process (as it has in train_model, after the selection); the pipeline trains two labels at once anyway. Bigger
# frames keep the threads they are given, where a fit is long enough for a second thread to pay (not measured).
SINGLE_THREAD_CELLS = 5_000_000


def candidate_grid(n_rows: int, n_features: int = 1, threads: int = 2) -> list[dict[str, Any]]:
    """The parameter candidates tried by cross-validation, scaled with the number of rows.

    LightGBM's own defaults (31 leaves, 20 rows per leaf, no subsampling: the CV never picks less
    than them), 15-leaf trees with mild subsampling, and three regularised shapes for credit data,
    whose signal is mostly additive and weak: depth-3 trees with strong L2, stumps of depth 2, and
    randomised split thresholds (``extra_trees``). Rows per leaf grow with the data (at most a
    tenth of the rows, so small frames can still split). A sixth candidate (31 leaves, L1 + L2 at
    a 0.03 learning rate, the grid's most expensive) was dropped: chosen once in 12 CV runs (4 public
    data sets x 2 folds, the 20k world's four labels), on the B-card by 0.0007 AUC over the 15-leaf one.
    Frames under :data:`SINGLE_THREAD_CELLS` cells (a 25k x 200 frame) train on one thread (faster there, and
    much faster on a shared machine); others on ``threads``.
    """
    def leaf(rows: int) -> int:
        return int(max(5, min(rows, n_rows // 10)))

    cells = n_rows * max(n_features, 1)
    big = cells > LARGE_CELLS
    # categorical splits: LightGBM's 100 rows per category group starves small frames of category
    # splits (German credit: 13 of 20 attributes are categorical, 800 training rows)
    cats = {"min_data_per_group": int(min(100, max(20, n_rows // 50))), "max_cat_to_onehot": 8,
            "cat_smooth": 5.0 if n_rows < 5000 else 10.0}
    common = {**BASE_PARAMS, "max_bin": 63 if big else 255, "num_threads": 1 if cells < SINGLE_THREAD_CELLS else int(threads),
              **cats}
    grid = [
        {"name": "lightgbm_defaults", "learning_rate": 0.1, "num_leaves": 31, "min_data_in_leaf": leaf(20),
         "feature_fraction": 1.0, "lambda_l2": 0.0},
        {"name": "medium", "learning_rate": 0.05, "num_leaves": 15, "min_data_in_leaf": leaf(max(20, n_rows // 500)),
         "feature_fraction": 0.8, "bagging_fraction": 0.8, "bagging_freq": 1, "lambda_l2": 1.0},
        {"name": "shallow_l2", "learning_rate": 0.05, "num_leaves": 7, "max_depth": 3,
         "min_data_in_leaf": leaf(max(50, n_rows // 200)), "feature_fraction": 0.5, "bagging_fraction": 0.8,
         "bagging_freq": 1, "lambda_l2": 10.0},
        {"name": "stumps", "learning_rate": 0.05, "num_leaves": 3, "max_depth": 2,
         "min_data_in_leaf": leaf(max(20, n_rows // 200)), "feature_fraction": 0.7, "lambda_l2": 5.0},
        {"name": "extra_trees", "learning_rate": 0.05, "num_leaves": 15, "min_data_in_leaf": leaf(max(20, n_rows // 500)),
         "feature_fraction": 0.6, "lambda_l2": 3.0, "extra_trees": True},
    ]
    return [{**common, **g} for g in grid]


@dataclass
class CVResult:
    table: pd.DataFrame          # one row per candidate: name, auc_mean, auc_std, rounds, params
    best: dict[str, Any]         # the chosen candidate's parameters
    best_rounds: int
    auc_mean: float
    auc_std: float
    n_folds: int
    fold_aucs: list[float] = field(default_factory=list)   # the chosen candidate's AUC per fold
    dataset: Any = field(default=None, repr=False)          # the binned lgb.Dataset the chosen candidate ran on


def cross_validate_grid(X: pd.DataFrame, y, folds: list[tuple[np.ndarray, np.ndarray]],
                        grid: list[Mapping[str, Any]] | None = None, params: Mapping[str, Any] | None = None,
                        num_boost_round: int = DEFAULT_NUM_BOOST_ROUND,
                        early_stopping_rounds: int = CV_EARLY_STOPPING_ROUNDS, seed: int | None = None,
                        threads: int = 2) -> CVResult:
    """``lightgbm.cv`` on the same ``folds`` for every grid candidate (``params`` override each one);
    early stopping inside every fold on the mean AUC. The best mean fold AUC wins (ties: the earlier,
    simpler-listed candidate)."""
    features = list(X.columns)
    y = np.asarray(y, dtype=float)
    levels = _categorical_levels(X, features)
    prep = GBMModel(booster=None, features=features, categorical_levels=levels)  # type: ignore[arg-type]
    Xp = prep.prepare(X)
    cats = list(levels) or "auto"
    rows, cvboosters = [], []
    # The default grid's candidates differ only in training parameters: one binned Dataset serves them all and
    # the refit (binning 30k x 150 took 0.5 s a candidate; the same models, bit for bit). A grid of the caller's
    # may vary Dataset parameters (min_data_in_bin, use_missing, ...), which LightGBM would carry from one
    # candidate into the next on a shared Dataset: each of its candidates gets its own.
    shared = grid is None
    datasets: list[lgb.Dataset] = []
    for cand in (grid if grid is not None else candidate_grid(len(X), len(features), threads=threads)):
        p = _monotone_list({**BASE_PARAMS, **dict(cand), **dict(params or {})}, features)
        if seed is not None:
            p["seed"] = seed
        name = p.pop("name", f"candidate_{len(rows)}")
        if not (shared and datasets):
            datasets.append(lgb.Dataset(Xp, label=y, categorical_feature=cats, free_raw_data=False,
                                        params={"max_bin": p.get("max_bin", 255), "feature_pre_filter": False,
                                                "verbosity": -1}))
        out = lgb.cv(p, datasets[-1], num_boost_round=num_boost_round, folds=folds, return_cvbooster=True,
                     callbacks=[lgb.early_stopping(early_stopping_rounds, verbose=False)])
        mean, std = out["valid auc-mean"], out["valid auc-stdv"]
        best = int(np.argmax(mean))  # first maximum
        rows.append({"name": name, "auc_mean": float(mean[best]), "auc_std": float(std[best]), "rounds": best + 1,
                     "params": p})
        cvboosters.append(out["cvbooster"])
    table = pd.DataFrame(rows)
    i = int(table["auc_mean"].to_numpy().argmax())
    rounds = int(table.at[i, "rounds"])
    return CVResult(table=table, best=table.at[i, "params"], best_rounds=rounds,
                    auc_mean=float(table.at[i, "auc_mean"]), auc_std=float(table.at[i, "auc_std"]), n_folds=len(folds),
                    fold_aucs=_fold_aucs(cvboosters[i], Xp, y, folds, rounds),  # the chosen candidate's only
                    dataset=datasets[0 if shared else i])


def _fold_aucs(cvbooster, X: pd.DataFrame, y: np.ndarray, folds, rounds: int) -> list[float]:
    """Each fold's AUC on its held-out rows at ``rounds`` trees (their mean is lightgbm.cv's mean AUC)."""
    from models.metrics import auc

    return [float(auc(y[held_out], booster.predict(X.iloc[held_out], num_iteration=rounds)))
            for booster, (_, held_out) in zip(cvbooster.boosters, folds)]


def stratified_folds(y, n_folds: int = 5, seed: int = 42, groups=None) -> list[tuple[np.ndarray, np.ndarray]]:
    """Stratified K folds (sklearn), fewer when a class has fewer rows than folds.

    ``groups`` (e.g. each row's customer): when a group has several rows, every group is kept in one fold, so a
    customer's other observations (overlapping outcome windows, the same history) are never on both sides of a
    fold. The groups are stratified by whether they hold a bad (StratifiedKFold over groups, vectorised:
    sklearn's StratifiedGroupKFold loops in Python, ~4 s for 20k rows). With every group a single row, the row
    folds above."""
    from sklearn.model_selection import StratifiedKFold

    y = np.asarray(y).astype(int)
    k = int(max(2, min(n_folds, y.sum(), y.size - y.sum())))
    if groups is not None:
        keys, row_group = np.unique(np.asarray(groups).astype(str), return_inverse=True)
        if keys.size < y.size:
            group_bad = np.zeros(keys.size, dtype=int)
            np.maximum.at(group_bad, row_group, y)
            k = int(max(2, min(k, group_bad.sum(), keys.size - group_bad.sum())))
            fold_of_group = np.empty(keys.size, dtype=int)
            splits = StratifiedKFold(n_splits=k, shuffle=True, random_state=seed).split(np.zeros(keys.size), group_bad)
            for i, (_, held_out) in enumerate(splits):
                fold_of_group[held_out] = i
            fold = fold_of_group[row_group]
            return [(np.flatnonzero(fold != i), np.flatnonzero(fold == i)) for i in range(k)]
    return list(StratifiedKFold(n_splits=k, shuffle=True, random_state=seed).split(np.zeros(y.size), y))


def train_gbm_cv(X: pd.DataFrame, y, folds: list[tuple[np.ndarray, np.ndarray]] | None = None, n_folds: int = 5,
                 grid: list[Mapping[str, Any]] | None = None, params: Mapping[str, Any] | None = None,
                 num_boost_round: int = DEFAULT_NUM_BOOST_ROUND,
                 early_stopping_rounds: int = CV_EARLY_STOPPING_ROUNDS, seed: int = 42, threads: int = 2) -> GBMModel:
    """Choose parameters by cross-validation (:func:`cross_validate_grid`) and refit on all of ``X``.

    ``model.evals`` holds the CV AUC (mean and std over folds) of the chosen candidate and the whole
    candidate table, so the choice can be audited.
    """
    check_enough_data(y)
    folds = folds if folds is not None else stratified_folds(y, n_folds, seed)
    cv = cross_validate_grid(X, y, folds, grid=grid, params=params, num_boost_round=num_boost_round,
                             early_stopping_rounds=early_stopping_rounds, seed=seed, threads=threads)
    features = list(X.columns)
    levels = _categorical_levels(X, features)
    p = dict(cv.best)
    model = GBMModel(booster=None, features=features, categorical_levels=levels, params=p)  # type: ignore[arg-type]
    # the refit is on the CV's rows: its binned Dataset is reused
    booster = lgb.train(p, cv.dataset, num_boost_round=cv.best_rounds)
    _finish(model, booster, cv.best_rounds, X)
    model.evals = {"cv_auc_mean": cv.auc_mean, "cv_auc_std": cv.auc_std, "cv_folds": cv.n_folds, "cv_fold_aucs": cv.fold_aucs,
                   "rounds_trained": cv.best_rounds, "chosen": cv.table.loc[cv.table["auc_mean"].idxmax(), "name"],
                   "candidates": cv.table[["name", "auc_mean", "auc_std", "rounds"]].to_dict("records")}
    return model
