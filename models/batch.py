"""Batch scoring of a business date on the lake: populations, decision inputs, scores and decisions.

Writes ``LakeLayout.decisions_file(date)`` (why each decision was made, for audit, never exported) and
then ``LakeLayout.scores_file(date)`` (the scores contract read by the partner exports), scores last.
"""
from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import duckdb
import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq
import yaml

from lake.layout import LakeLayout
from lake.scores import conform_scores_table
from models.lake_inputs import SPECS_DIR, ModelDataError, lake_registry, load_features, model_specs

DECISION_INPUTS = SPECS_DIR / "decision_inputs.yaml"


def with_decision_inputs(frame: pd.DataFrame) -> pd.DataFrame:
    """Add the columns the decision rules name (models/specs/decision_inputs.yaml) from mart features."""
    out = {}
    for name, src in yaml.safe_load(DECISION_INPUTS.read_text()).items():
        if "constant" in src:
            out[name] = np.full(len(frame), src["constant"])
            continue
        if src["feature"] not in frame.columns:
            raise ModelDataError(f"{DECISION_INPUTS}: decision input {name!r} names feature {src['feature']!r}, which "
                                 "the feature mart does not have; fix the mapping or add the feature to "
                                 "features/catalog.yaml")
        values = frame[src["feature"]].astype("float64")
        transform = src.get("transform")
        if transform == "positive":
            values = (values.fillna(0) > 0).astype("int64")
        elif transform == "days_to_months":
            values = values / 30.44
        out[name] = values.to_numpy()
    frame = frame.drop(columns=[c for c in out if c in frame.columns])  # a same-named feature is replaced
    return pd.concat([frame, pd.DataFrame(out, index=frame.index)], axis=1)


def latest_observations(layout: LakeLayout, population: str, business_date: str) -> pd.DataFrame:
    """Each customer's latest observation of the population on or before the business date, with the
    funding partner of the customer's latest loan (the population a partner receives)."""
    spine = layout.feature_spine.as_posix()
    loans = layout.mart("loan_performance").as_posix()
    return duckdb.sql(f"""
        WITH obs AS (
            SELECT obs_id, customer_id, obs_at FROM read_parquet('{spine}')
            WHERE {population} AND obs_at < DATE '{business_date}' + INTERVAL 1 DAY
            QUALIFY row_number() OVER (PARTITION BY customer_id ORDER BY obs_at DESC) = 1
        ), partner AS (
            SELECT customer_id, arg_max(partner_id, disbursed_date) AS partner_id FROM read_parquet('{loans}')
            WHERE disbursed_date <= DATE '{business_date}' GROUP BY customer_id
        )
        SELECT obs.*, partner.partner_id FROM obs LEFT JOIN partner USING (customer_id) ORDER BY obs_id
    """).df()


@dataclass
class BatchResult:
    scored: pd.DataFrame
    scores_path: Path
    rows_by_label: dict[str, int]
    skipped: list[str]  # labels without a champion


def score_business_date(layout: LakeLayout, business_date: str, log=print) -> BatchResult:
    """Score every label's population with its champion and write decisions, then scores."""
    from models.scoring import score_frame, scores_to_arrow
    from models.strategy import load_strategy

    reg, strategy = lake_registry(layout), load_strategy()
    parts, counts, skipped = [], {}, []
    for label, spec in model_specs()["labels"].items():
        if reg.champion(label) is None:
            log(f"{label}: no champion registered yet; not scored")
            skipped.append(label)
            continue
        obs = latest_observations(layout, spec["population"], business_date)
        obs = obs[obs["partner_id"].notna()]
        if obs.empty:
            continue
        frame = with_decision_inputs(load_features(layout, obs))
        scored = score_frame(frame, reg.load(label), business_date, label=label, strategy=strategy,
                             reasons=["C", "D", "E"], details=True)
        parts.append(scored)
        counts[label] = len(scored)
    if not parts:
        raise ModelDataError(f"nothing to score on {business_date}: no champion models or no observations "
                             "before that date")
    scored = pd.concat(parts, ignore_index=True)
    table = conform_scores_table(scores_to_arrow(scored))
    why = [c for c in ("rules_fired", "reason", "arm", "drawdown_block", "queue") if c in scored.columns]
    decisions = pa.Table.from_pandas(scored[["customer_id", "label", "model_version", "grade", "decision",
                                             "recommended_limit", *why]].astype({c: "string" for c in why}),
                                     preserve_index=False)
    path = layout.scores_file(business_date)
    for tbl, target in ((decisions, layout.decisions_file(business_date)), (table, path)):  # scores last
        _write_atomic(tbl, target)
    return BatchResult(scored=scored, scores_path=path, rows_by_label=counts, skipped=skipped)


def _write_atomic(table: pa.Table, target: Path) -> None:
    target.parent.mkdir(parents=True, exist_ok=True)
    tmp = target.with_suffix(".tmp")
    pq.write_table(table, tmp)
    tmp.replace(target)
