"""Reason codes: the top-k features pushing a row's risk up, from a per-row contribution matrix.

Vectorised over rows (numpy ``argpartition``); used by both model types: LightGBM SHAP values
(``pred_contrib=True``) and scorecard points lost against each feature's best bin.
"""
from __future__ import annotations

from typing import Mapping

import numpy as np
import pandas as pd


def feature_descriptions(dictionary) -> dict[str, str]:
    """Normalise a feature dictionary to ``{feature: description}``.

    Accepts a mapping, or a DataFrame with a name column (``name`` / ``feature`` /
    ``feature_name``) and a ``description`` column (the feature mart's dictionary), or None.
    """
    if dictionary is None:
        return {}
    if isinstance(dictionary, Mapping):
        return {str(k): str(v) for k, v in dictionary.items() if v is not None}
    if isinstance(dictionary, pd.DataFrame):
        name_col = next((c for c in ("name", "feature", "feature_name") if c in dictionary.columns), None)
        if name_col is None or "description" not in dictionary.columns:
            raise KeyError("a feature dictionary frame needs a 'name' (or 'feature') and a 'description' column")
        d = dictionary[[name_col, "description"]].dropna()
        return dict(zip(d[name_col].astype(str), d["description"].astype(str)))
    raise TypeError(f"unsupported feature dictionary type: {type(dictionary).__name__}")


def top_k_reasons(contributions: np.ndarray, feature_names: list[str], k: int = 3,
                  descriptions: Mapping[str, str] | None = None, min_contribution: float = 0.0,
                  prefix: str = "reason") -> pd.DataFrame:
    """Top-k positive contributions per row.

    ``contributions``: (n_rows, n_features), larger = more risk. Returns columns
    ``{prefix}_1..k`` (description, falling back to the feature name), ``{prefix}_1..k_feature``
    and ``{prefix}_1..k_value``. Slots without a contribution above ``min_contribution`` are null.
    """
    C = np.asarray(contributions, dtype=float)
    n, p = C.shape
    if p != len(feature_names):
        raise ValueError(f"{p} contribution columns but {len(feature_names)} feature names")
    kk = min(k, p)
    if kk < p:
        part = np.argpartition(-C, kk - 1, axis=1)[:, :kk]
    else:
        part = np.tile(np.arange(p), (n, 1))
    vals = np.take_along_axis(C, part, axis=1)
    order = np.argsort(-vals, axis=1, kind="stable")
    idx = np.take_along_axis(part, order, axis=1)
    vals = np.take_along_axis(vals, order, axis=1)
    names = np.asarray(feature_names, dtype=object)
    desc_lookup = np.asarray([(descriptions or {}).get(f, f) for f in feature_names], dtype=object)
    out = {}
    for i in range(k):
        if i < kk:
            ok = vals[:, i] > min_contribution
            out[f"{prefix}_{i + 1}"] = np.where(ok, desc_lookup[idx[:, i]], None)
            out[f"{prefix}_{i + 1}_feature"] = np.where(ok, names[idx[:, i]], None)
            out[f"{prefix}_{i + 1}_value"] = np.where(ok, vals[:, i], np.nan)
        else:
            out[f"{prefix}_{i + 1}"] = np.full(n, None, dtype=object)
            out[f"{prefix}_{i + 1}_feature"] = np.full(n, None, dtype=object)
            out[f"{prefix}_{i + 1}_value"] = np.full(n, np.nan)
    frame = pd.DataFrame(out)
    for i in range(k):
        for suffix in ("", "_feature"):
            frame[f"{prefix}_{i + 1}{suffix}"] = frame[f"{prefix}_{i + 1}{suffix}"].astype("string")
    return frame
