"""Batch scoring with a registered model, into the scores contract.

``score_frame`` adds, for every row, the probability of bad, scorecard points (the model's scaling
applied to the probability — the same for LightGBM and scorecards), the grade A..E (score cut-offs
from the strategy, or given), the top-3 reason descriptions (SHAP for LightGBM, points below the
best bin for scorecards), and the strategy's decision and recommended limit. Everything is
vectorised; reason codes are computed in row chunks.

The output has exactly the columns of :data:`SCORES_SCHEMA` (the seam with the partner exports,
declared in ``lake/scores.py``), in that order, with these pandas dtypes:
``business_date`` date32[pyarrow], strings ``string``, ``probability`` / ``recommended_limit``
float64, ``score`` int32. ``scores_to_arrow`` gives the pyarrow table with the exact schema.
"""
from __future__ import annotations

from datetime import date, datetime
from typing import Iterable, Mapping

import numpy as np
import pandas as pd
import pyarrow as pa

from lake.scores import LABELS, SCORES_COLUMNS, SCORES_SCHEMA
from models.scorecard import probability_to_points


SCORES_DTYPES = {
    "business_date": pd.ArrowDtype(pa.date32()),
    "customer_id": "string", "partner_id": "string", "label": "string", "model_name": "string",
    "model_version": "string", "probability": "float64", "score": "int32", "grade": "string",
    "reason_1": "string", "reason_2": "string", "reason_3": "string", "decision": "string",
    "recommended_limit": "float64",
}
DEFAULT_GRADE_CUTOFFS = {"A": 620, "B": 600, "C": 580, "D": 560}
SCORE_MIN, SCORE_MAX = 0, 1000


def _business_date(value) -> date:
    if isinstance(value, datetime):  # pd.Timestamp included
        return value.date()
    if isinstance(value, date):
        return value
    return date.fromisoformat(str(value))


def score_frame(frame: pd.DataFrame, model, business_date, *, label: str | None = None, strategy=None,
                grade_cutoffs: Mapping[str, float] | None = None, customer_column: str = "customer_id",
                partner_column: str | None = "partner_id", partner_id: str | None = None,
                reasons: bool | Iterable[str] = True, details: bool = False,
                chunk_rows: int = 50_000) -> pd.DataFrame:
    """Score ``frame`` with a :class:`~models.registry.RegisteredModel` into the scores contract.

    * ``label``: defaults to the model's label (a_card, b_card, c_card, fraud).
    * ``grade_cutoffs``: minimum score per grade; default: the model version's calibrated cut-offs
      (``grades.json``, models/grading.py), else the strategy's fixed cut-offs.
    * ``strategy``: a :class:`~models.strategy.Strategy`; gives the
      ``decision`` / ``recommended_limit``. Without it, ``grade_cutoffs`` (or 620/600/580/560) grade
      the score and decision / limit stay null.
    * ``partner_column`` / ``partner_id``: the funding partner per row, or one for all rows.
    * ``reasons``: True (all rows), False (none: reason columns null), or a list of grades to
      explain (e.g. ``["D", "E"]``: adverse-action reasons only, much faster on big books).
    * ``details``: append strategy columns after the contract ones (rules_fired, reason, arm, ...).
    """
    if label is not None and model.label and label != model.label:
        raise ValueError(f"label {label!r} differs from the model's label {model.label!r} "
                         f"({model.model_name} {model.version})")
    label = label or model.label
    if label not in LABELS:
        raise ValueError(f"label must be one of {LABELS}, got {label!r}")
    if customer_column not in frame.columns:
        raise KeyError(f"frame has no customer column '{customer_column}'")
    n = len(frame)
    idx = frame.index
    prob = np.asarray(model.predict_proba(frame), dtype=float)
    points = probability_to_points(prob, model.scaling)
    score = np.clip(np.rint(points), SCORE_MIN, SCORE_MAX).astype(np.int32)
    if grade_cutoffs is None:  # the model version's calibrated cut-offs (grades.json), when it has them
        from models.grading import version_cutoffs

        grade_cutoffs = version_cutoffs(model)
    if strategy is not None:
        grade = strategy.assign_grade(label, score, grade_cutoffs)
    else:
        from models.strategy import assign_grade

        grade = assign_grade(score, grade_cutoffs or DEFAULT_GRADE_CUTOFFS)

    reason_cols = {f"reason_{i}": pd.Series(pd.NA, index=idx, dtype="string") for i in (1, 2, 3)}
    if reasons is not False and reasons is not None and n:
        if reasons is True:
            rows = np.ones(n, dtype=bool)
        else:
            rows = np.isin(grade, list(reasons))
        if rows.any():
            sub = frame[rows] if not rows.all() else frame
            rc = model.model.reason_codes(sub, k=3, descriptions=model.feature_dictionary, chunk_rows=chunk_rows)
            for i in (1, 2, 3):
                col = reason_cols[f"reason_{i}"].copy()
                col[rows] = rc[f"reason_{i}"].to_numpy()
                reason_cols[f"reason_{i}"] = col

    if partner_id is not None:
        partner = pd.Series(partner_id, index=idx, dtype="string")
    elif partner_column and partner_column in frame.columns:
        partner = frame[partner_column].astype("string")
    else:
        raise KeyError(f"frame has no partner column '{partner_column}': pass partner_id=... or partner_column=...")

    extra = None
    if strategy is not None:
        needed = [c for c in strategy.columns_needed(label) if c in frame.columns]
        work = frame[needed + ([customer_column] if customer_column not in needed else [])].copy()
        work["probability"], work["score"], work["grade"] = prob, score, pd.Series(grade, index=idx, dtype="string")
        decided = strategy.decide(label, work, customer_column=customer_column)
        decision = decided["decision"].astype("string")
        limit = decided["recommended_limit"].astype("float64")
        extra = decided.drop(columns=["decision", "recommended_limit"])
    else:
        decision = pd.Series(pd.NA, index=idx, dtype="string")
        limit = pd.Series(np.nan, index=idx, dtype="float64")

    bd = _business_date(business_date)
    out = pd.DataFrame({
        "business_date": pd.Series(pd.arrays.ArrowExtensionArray(
            pa.array(np.full(n, np.datetime64(bd, "D")), type=pa.date32())), index=idx),
        "customer_id": frame[customer_column].astype("string"),
        "partner_id": partner,
        "label": pd.Series(label, index=idx, dtype="string"),
        "model_name": pd.Series(model.model_name, index=idx, dtype="string"),
        "model_version": pd.Series(model.version, index=idx, dtype="string"),
        "probability": pd.Series(prob, index=idx, dtype="float64"),
        "score": pd.Series(score, index=idx, dtype="int32"),
        "grade": pd.Series(grade, index=idx, dtype="string"),
        **reason_cols,
        "decision": decision,
        "recommended_limit": limit,
    }, index=idx)
    if details and extra is not None:
        out = pd.concat([out, extra], axis=1)
    return out


def check_scores(frame: pd.DataFrame) -> None:
    """Raise if ``frame`` does not have exactly the contract columns (order included) and dtypes."""
    cols = tuple(frame.columns[:len(SCORES_COLUMNS)])
    if cols != SCORES_COLUMNS:
        raise ValueError(f"scores columns {cols} differ from the contract {SCORES_COLUMNS}")
    wrong = {c: str(frame[c].dtype) for c, d in SCORES_DTYPES.items() if str(frame[c].dtype) != str(pd.api.types.pandas_dtype(d))}
    if wrong:
        raise ValueError(f"scores dtypes differ from the contract: {wrong}")
    for c in ("business_date", "customer_id", "partner_id", "label", "model_name", "model_version", "probability",
              "score", "grade"):
        if frame[c].isna().any():
            raise ValueError(f"scores column '{c}' must not be null")


def scores_to_arrow(frame: pd.DataFrame) -> pa.Table:
    """The scores as a pyarrow table with exactly :data:`SCORES_SCHEMA` (extra columns dropped)."""
    table = pa.Table.from_pandas(frame[list(SCORES_COLUMNS)], preserve_index=False)
    return pa.Table.from_arrays([table.column(f.name).cast(f.type) for f in SCORES_SCHEMA], schema=SCORES_SCHEMA)
