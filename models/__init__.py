"""Risk models: selection, WoE scorecard and LightGBM training, registry, scoring and decision strategy.

Works on any pandas DataFrame with a 0/1 target (1 = bad) and, for an out-of-time test, a time column::

    from models import train_model, ModelRegistry, score_frame, load_strategy

    result = train_model(df, target="bad", time_column="month", model_type="scorecard")   # or "lightgbm"
    result.summary()                    # auc/gini/ks on the out-of-time window, PSI train→OOT, oracle AUC
    result.deciles, result.calibration  # OOT tables;  result.selection.dropped: why each feature went
    result.save_plots("plots/")         # roc.png, ks.png, deciles.png, calibration.png

    registry = ModelRegistry("data/models")            # <root>/<label>/<version>/...
    version = registry.register(result, label="a_card")  # v0001, v0002, ... never overwritten
    registry.promote_if_better("a_card", version, margin=0.005)
    model = registry.load("a_card")                    # the champion

    scores = score_frame(df_today, model, business_date="2026-10-01", strategy=load_strategy())

Modules: ``metrics`` (AUC, Gini, KS, deciles, calibration, PSI/CSI), ``selection`` (pre-selection of
thousands of features), ``scorecard`` (optbinning scorecard, points scaling), ``gbm`` (LightGBM,
SHAP reason codes), ``train`` (``train_model``), ``registry``, ``scoring`` (the scores contract),
``strategy`` (rules as YAML: admission, limits, collections, champion/challenger), ``synthetic``
(data with a known truth).
"""
from __future__ import annotations

import importlib
import os

# OpenMP threads that spin while waiting make LightGBM many times slower whenever the cores are shared
# (two Dagster steps at once, pytest -n 2): a 4-fold CV grid on the A-card (5.5k rows x 150 features, load 4)
# took 199 s on 2 spinning threads and 23 s on one. The setting only counts if it is in the environment before
# any OpenMP runtime loads, and sklearn (imported by models.metrics) loads one: so it is set here, when the
# package is first imported, before any of its modules. Passive waiting costs nothing on an idle machine; an
# explicit setting is respected.
os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")

_EXPORTS = {
    "train_model": "models.train",
    "TrainResult": "models.train",
    "Split": "models.train",
    "select_features": "models.selection",
    "SelectionConfig": "models.selection",
    "ScoreScaling": "models.scorecard",
    "probability_to_points": "models.scorecard",
    "points_to_probability": "models.scorecard",
    "ModelRegistry": "models.registry",
    "RegisteredModel": "models.registry",
    "score_frame": "models.scoring",
    "SCORES_SCHEMA": "models.scoring",
    "load_strategy": "models.strategy",
    "Strategy": "models.strategy",
    "RuleEngine": "models.strategy",
    "make_credit_data": "models.synthetic",
}

__all__ = sorted(_EXPORTS)


def __getattr__(name: str):
    if name in _EXPORTS:
        value = getattr(importlib.import_module(_EXPORTS[name]), name)
        globals()[name] = value
        return value
    raise AttributeError(f"module 'models' has no attribute {name!r}")


def __dir__():
    return sorted(list(globals()) + list(_EXPORTS))
