"""LightGBM binary classifier for credit risk, with SHAP reason codes.

* :func:`train_gbm` trains with early stopping on a validation set (``lightgbm.early_stopping``),
  regularised defaults for credit data (depth-3 trees of at most 7 leaves, ≥ 100 rows per leaf, L2,
  row/feature subsampling, 63 histogram bins: credit risk is mostly additive and weak, and
  shallow trees generalise best on it), deterministic (``seed``, ``num_threads=2``, ``deterministic=True``,
  ``force_row_wise=True``). The booster kept is truncated at the best iteration.
* :class:`GBMModel` scores a DataFrame (probability of bad, raw log-odds) and explains it:
  ``booster.predict(X, pred_contrib=True)`` gives per-feature SHAP contributions in log-odds whose
  sum with the base value (last column) is the raw score; reason codes are the top-k positive
  contributions, named from an optional feature dictionary ``{feature: description}``.
"""
from __future__ import annotations

import json
import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Mapping

# OpenMP threads that spin while waiting make LightGBM many times slower whenever the cores are
# shared (parallel Dagster steps, pytest -n 2); passive waiting costs nothing on an idle machine.
# Only effective if set before the OpenMP runtime starts; an explicit setting is respected.
os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")

import lightgbm as lgb  # noqa: E402
import numpy as np
import pandas as pd

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
DEFAULT_EARLY_STOPPING_ROUNDS = 100
CONTRIB_CHUNK_ROWS = 50_000
PREDICT_CHUNK_ROWS = 100_000


def _categorical_levels(frame: pd.DataFrame, features: list[str]) -> dict[str, list]:
    levels = {}
    for f in features:
        s = frame[f]
        if isinstance(s.dtype, pd.CategoricalDtype):
            levels[f] = [c for c in s.cat.categories.tolist()]
        elif not (pd.api.types.is_numeric_dtype(s) or pd.api.types.is_bool_dtype(s)):
            levels[f] = sorted(map(str, s.dropna().unique().tolist()))
    return levels


@dataclass
class GBMModel:
    booster: lgb.Booster
    features: list[str]
    categorical_levels: dict[str, list] = field(default_factory=dict)
    params: dict[str, Any] = field(default_factory=dict)
    best_iteration: int | None = None
    evals: dict[str, Any] = field(default_factory=dict)
    model_type: str = "lightgbm"

    # -- data preparation ---------------------------------------------------------------------
    def prepare(self, frame: pd.DataFrame) -> pd.DataFrame:
        """The model's feature columns in training order; categoricals with the training levels."""
        missing = [f for f in self.features if f not in frame.columns]
        if missing:
            raise KeyError(f"scoring frame lacks {len(missing)} model feature(s): {missing[:10]}")
        X = frame[self.features]
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

    def predict_log_odds(self, frame: pd.DataFrame) -> np.ndarray:
        return self._predict(frame, raw_score=True)

    def predict_proba(self, frame: pd.DataFrame) -> np.ndarray:
        """Probability of bad (class 1)."""
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
        }, indent=2, default=str))
        return [model_path, meta_path]

    @classmethod
    def load(cls, folder: str | Path) -> "GBMModel":
        folder = Path(folder)
        booster = lgb.Booster(model_file=str(folder / "model.txt"))
        meta_file = folder / "gbm_meta.json"
        meta = json.loads(meta_file.read_text()) if meta_file.exists() else {"features": booster.feature_name()}
        return cls(booster=booster, features=meta["features"], categorical_levels=meta.get("categorical_levels", {}),
                   params=meta.get("params", {}), best_iteration=meta.get("best_iteration"), evals=meta.get("evals", {}))


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


def train_gbm(X_train: pd.DataFrame, y_train, X_valid: pd.DataFrame, y_valid, params: Mapping[str, Any] | None = None,
              num_boost_round: int = DEFAULT_NUM_BOOST_ROUND,
              early_stopping_rounds: int = DEFAULT_EARLY_STOPPING_ROUNDS, seed: int | None = None) -> GBMModel:
    """Train a LightGBM binary classifier with early stopping on (X_valid, y_valid).

    ``params`` override :data:`DEFAULT_PARAMS`; ``seed`` overrides ``params['seed']``.
    Non-numeric columns become LightGBM categoricals (levels kept with the model).
    """
    features = list(X_train.columns)
    p = {**DEFAULT_PARAMS, **dict(params or {})}
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
    # Keep exactly the best trees: predictions, contributions and the saved model.txt then agree.
    final = lgb.Booster(model_str=booster.model_to_string(num_iteration=best))
    metric = p.get("metric", "auc")
    curve = evals.get("valid", {}).get(metric if isinstance(metric, str) else metric[0], [])
    model.booster = final
    model.best_iteration = int(best)
    model.evals = {"valid_" + str(metric): float(curve[best - 1]) if curve else None, "rounds_trained": len(curve)}
    return model
