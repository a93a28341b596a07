"""WoE logistic scorecard (the baseline) and the points scaling shared by every model.

Scaling (DESIGN §5): ``points = offset − factor·ln(bad:good odds) = offset + factor·ln(good:bad odds)``
with ``factor = PDO / ln 2`` and ``offset = base_points − factor·ln(base_odds)``; by default 600
points at 50:1 good:bad odds, 20 points to double the odds (so 100:1 → 620, 25:1 → 580).
The same scaling turns any model's probability of bad into points (:func:`probability_to_points`)
and back (:func:`points_to_probability`).

The scorecard is optbinning's ``Scorecard``: a ``BinningProcess`` (optimal WoE binning per feature,
monotone bins by default, missing values in their own bin with their empirical WoE) and sklearn's
``LogisticRegression`` on the WoE values, with the same ``pdo_odds`` scaling for the points table.
Features whose coefficient comes out with the wrong sign (WoE is high for *good* bins, so every
coefficient on the log-odds of bad must be ≤ 0; a positive one is a collinearity artefact) are
dropped and the model refitted.
"""
from __future__ import annotations

import warnings
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any, Mapping

import numpy as np
import pandas as pd


PROBABILITY_CLIP = 1e-9


@dataclass(frozen=True)
class ScoreScaling:
    """Points = offset − factor·ln(bad:good odds); ``base_points`` at ``base_odds`` good:bad, ``pdo`` to double."""

    base_points: float = 600.0
    base_odds: float = 50.0
    pdo: float = 20.0

    def __post_init__(self):
        if self.base_odds <= 0 or self.pdo <= 0:
            raise ValueError("base_odds and pdo must be positive")

    @property
    def factor(self) -> float:
        return self.pdo / np.log(2.0)

    @property
    def offset(self) -> float:
        return self.base_points - self.factor * np.log(self.base_odds)

    def to_dict(self) -> dict[str, float]:
        return {**asdict(self), "factor": self.factor, "offset": self.offset}

    @classmethod
    def from_dict(cls, d: Mapping[str, Any] | None) -> "ScoreScaling":
        d = dict(d or {})
        return cls(**{k: float(d[k]) for k in ("base_points", "base_odds", "pdo") if k in d})


DEFAULT_SCALING = ScoreScaling()


def log_odds_to_points(log_odds_bad, scaling: ScoreScaling = DEFAULT_SCALING) -> np.ndarray:
    """Points from the log-odds of bad (ln(p / (1 − p)))."""
    return scaling.offset - scaling.factor * np.asarray(log_odds_bad, dtype=float)


def odds_to_points(good_bad_odds, scaling: ScoreScaling = DEFAULT_SCALING) -> np.ndarray:
    """Points from good:bad odds (50 → 600 with the defaults)."""
    return scaling.offset + scaling.factor * np.log(np.asarray(good_bad_odds, dtype=float))


def points_to_odds(points, scaling: ScoreScaling = DEFAULT_SCALING) -> np.ndarray:
    """Good:bad odds from points (inverse of :func:`odds_to_points`)."""
    return np.exp((np.asarray(points, dtype=float) - scaling.offset) / scaling.factor)


def probability_to_points(p_bad, scaling: ScoreScaling = DEFAULT_SCALING) -> np.ndarray:
    """Points from the probability of bad (clipped to [1e-9, 1 − 1e-9] so points stay finite)."""
    p = np.clip(np.asarray(p_bad, dtype=float), PROBABILITY_CLIP, 1 - PROBABILITY_CLIP)
    return log_odds_to_points(np.log(p) - np.log1p(-p), scaling)


def points_to_probability(points, scaling: ScoreScaling = DEFAULT_SCALING) -> np.ndarray:
    """Probability of bad from points (inverse of :func:`probability_to_points`)."""
    return 1.0 / (1.0 + points_to_odds(points, scaling))


DEFAULT_BINNING = {"max_n_prebins": 20, "min_prebin_size": 0.02, "min_bin_size": 0.03}
DEFAULT_MONOTONIC_TREND = "auto_asc_desc"


@dataclass
class ScorecardModel:
    """A fitted optbinning ``Scorecard`` plus what scoring and explaining it needs."""

    scorecard: Any                      # optbinning.scorecard.Scorecard (fitted)
    features: list[str]
    scaling: ScoreScaling = DEFAULT_SCALING
    dropped_wrong_sign: list[str] = field(default_factory=list)
    categorical: list[str] = field(default_factory=list)
    model_type: str = "scorecard"

    # -- scoring ------------------------------------------------------------------------------
    def _X(self, frame: pd.DataFrame) -> pd.DataFrame:
        missing = [f for f in self.features if f not in frame.columns]
        if missing:
            raise KeyError(f"scoring frame lacks {len(missing)} model feature(s): {missing[:10]}")
        X = frame[self.features]
        if self.categorical:
            X = X.copy()
            for f in self.categorical:
                X[f] = _as_object(X[f])
        return X

    def predict_proba(self, frame: pd.DataFrame) -> np.ndarray:
        """Probability of bad (class 1)."""
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            return self.scorecard.predict_proba(self._X(frame))[:, 1]

    def predict_log_odds(self, frame: pd.DataFrame) -> np.ndarray:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            return np.asarray(self.scorecard.decision_function(self._X(frame)), dtype=float)

    def points(self, frame: pd.DataFrame) -> np.ndarray:
        """Scorecard points (sum of the per-bin points of the optbinning table; unrounded)."""
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            return np.asarray(self.scorecard.score(self._X(frame)), dtype=float)

    def woe(self, frame: pd.DataFrame) -> pd.DataFrame:
        sc = self.scorecard
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            return sc.binning_process_.transform(self._X(frame)[sc.binning_process_.variable_names], metric="woe",
                                                 metric_special=sc._metric_special, metric_missing=sc._metric_missing)

    @property
    def coefficients(self) -> pd.Series:
        sc = self.scorecard
        return pd.Series(sc.estimator_.coef_.ravel(), index=list(sc.binning_process_.get_support(names=True)))

    @property
    def intercept(self) -> float:
        return float(np.ravel(self.scorecard.estimator_.intercept_)[0])

    def _best_contribution(self) -> pd.Series:
        """Per variable, the lowest coef·WoE (log-odds of bad) over the bins seen in training."""
        t = self.table("detailed")
        t = t[t["Count"] > 0]
        return (t["WoE"].astype(float) * t["Coefficient"].astype(float)).groupby(t["Variable"]).min()

    def contributions(self, frame: pd.DataFrame) -> tuple[np.ndarray, np.ndarray]:
        """(contributions n×p, base per row) in log-odds of bad; their sum is the raw score.

        A feature's contribution is its coef·WoE minus the best (lowest-risk) attainable value, i.e.
        the points it loses against its best bin divided by the scaling factor; base = intercept +
        Σ best. Reason codes are therefore the classic "points below maximum" reasons.
        """
        W = self.woe(frame)
        coef = self.coefficients
        names = list(coef.index)
        raw = W[names].to_numpy(dtype=float) * coef.to_numpy()
        best = self._best_contribution().reindex(names).fillna(0.0).to_numpy()
        C = raw - best
        base = np.full(len(frame), self.intercept + best.sum())
        # order as self.features (variables removed by the binning process contribute nothing)
        full = np.zeros((len(frame), len(self.features)))
        pos = {f: i for i, f in enumerate(self.features)}
        for j, n in enumerate(names):
            full[:, pos[n]] = C[:, j]
        return full, base

    def reason_codes(self, frame: pd.DataFrame, k: int = 3, descriptions: Mapping[str, str] | None = None,
                     chunk_rows: int = 200_000) -> pd.DataFrame:
        from models.gbm import reason_codes

        return reason_codes(self, frame, k=k, descriptions=descriptions, chunk_rows=chunk_rows)

    def table(self, style: str = "detailed") -> pd.DataFrame:
        """optbinning's scorecard table (variable, bin, count, event rate, WoE, IV, coefficient, points)."""
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            return self.scorecard.table(style=style)

    def feature_importance(self) -> pd.DataFrame:
        t = self.table("detailed")
        iv = t.groupby("Variable")["IV"].sum()
        spread = t.groupby("Variable")["Points"].agg(lambda s: float(s.max() - s.min()))
        out = pd.DataFrame({"feature": iv.index, "iv": iv.to_numpy(), "points_range": spread.reindex(iv.index).to_numpy(),
                            "coefficient": self.coefficients.reindex(iv.index).to_numpy()})
        return out.sort_values("points_range", ascending=False, kind="stable").reset_index(drop=True)

    # -- persistence --------------------------------------------------------------------------
    def save(self, folder: str | Path) -> list[Path]:
        import joblib

        path = Path(folder) / "model.joblib"
        joblib.dump(self, path)
        table_path = Path(folder) / "scorecard_table.csv"
        self.table("detailed").to_csv(table_path, index=False)
        return [path, table_path]

    @classmethod
    def load(cls, folder: str | Path) -> "ScorecardModel":
        import joblib

        from models._optb import optbinning

        optbinning()  # quiet import before unpickling optbinning objects
        obj = joblib.load(Path(folder) / "model.joblib")
        if not isinstance(obj, cls):
            raise TypeError(f"{folder}/model.joblib is a {type(obj).__name__}, not a ScorecardModel")
        return obj


def train_scorecard(X_train: pd.DataFrame, y_train, scaling: ScoreScaling = DEFAULT_SCALING,
                    binning_params: Mapping[str, Any] | None = None,
                    monotonic_trend: str | None = DEFAULT_MONOTONIC_TREND, C: float = 1.0,
                    max_refits: int = 5, n_jobs: int | None = None) -> ScorecardModel:
    """Fit an optbinning ``Scorecard`` (BinningProcess + LogisticRegression) on the columns of ``X_train``.

    ``binning_params`` go to ``BinningProcess`` (defaults :data:`DEFAULT_BINNING`);
    ``monotonic_trend`` is applied to every numerical feature ("auto_asc_desc": monotone bins;
    "auto": peaks/valleys allowed; None: unconstrained). Wrong-sign features are dropped and the
    model refitted (at most ``max_refits`` times).
    """
    from sklearn.linear_model import LogisticRegression

    from models._optb import optbinning

    ob = optbinning()
    features = list(X_train.columns)
    y = np.asarray(y_train).astype(int)
    dropped: list[str] = []
    params = {**DEFAULT_BINNING, **dict(binning_params or {})}
    for _ in range(max_refits + 1):
        cats = [f for f in features if not (pd.api.types.is_numeric_dtype(X_train[f]) or pd.api.types.is_bool_dtype(X_train[f]))]
        fit_params = {f: {"monotonic_trend": monotonic_trend} for f in features if f not in cats} if monotonic_trend else None
        bp = ob.BinningProcess(features, categorical_variables=cats or None, binning_fit_params=fit_params,
                               n_jobs=n_jobs, **params)
        sc = ob.Scorecard(binning_process=bp,
                          estimator=LogisticRegression(C=C, max_iter=2000),
                          scaling_method="pdo_odds",
                          scaling_method_params={"pdo": scaling.pdo, "odds": scaling.base_odds,
                                                 "scorecard_points": scaling.base_points})
        X = X_train[features].copy()
        for f in cats:  # optbinning's categorical binning wants plain object values
            X[f] = _as_object(X[f])
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            sc.fit(X, y, metric_special="empirical", metric_missing="empirical")
        coef = pd.Series(sc.estimator_.coef_.ravel(), index=list(sc.binning_process_.get_support(names=True)))
        wrong = [f for f, c in coef.items() if c > 1e-8]
        if not wrong or len(wrong) == len(features):
            break
        dropped.extend(wrong)
        features = [f for f in features if f not in wrong]
    cats = [f for f in features if not (pd.api.types.is_numeric_dtype(X_train[f]) or pd.api.types.is_bool_dtype(X_train[f]))]
    return ScorecardModel(scorecard=sc, features=features, scaling=scaling, dropped_wrong_sign=dropped, categorical=cats)


def _as_object(s: pd.Series) -> pd.Series:
    """Plain object values (str) with NaN for missing: what optbinning's categorical binning expects."""
    out = s.astype("object")
    return out.where(s.notna(), np.nan).map(str, na_action="ignore")
