"""Realistic fake scores tables (numpy), for tests, benchmarks and demos before real scoring exists.

Follows the scores contract: one row per scored customer per label; partners assigned with the
simulator's shares; probabilities skewed low like a real book; scorecard points 600 at 50:1 odds,
PDO 20; grades A..E by points; top-3 reasons drawn from feature descriptions.
"""
from __future__ import annotations

import math
from datetime import date

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from lake.scores import SCORES_SCHEMA

PARTNERS = ("PB01", "PB02", "PB03", "PB04")
PARTNER_SHARES = (0.40, 0.30, 0.20, 0.10)
DEFAULT_MODELS = {"a_card": ("a_card_lightgbm", "v0001"), "b_card": ("b_card_lightgbm", "v0001"),
                  "c_card": ("c_card_lightgbm", "v0001"), "fraud": ("fraud_lightgbm", "v0001")}
# share of customers scored for each label on a day (applicants, active accounts, accounts in M1, applicants)
LABEL_COVERAGE = {"a_card": 0.35, "b_card": 0.60, "c_card": 0.04, "fraud": 0.35}
BASE_RATE = {"a_card": 0.05, "b_card": 0.03, "c_card": 0.35, "fraud": 0.01}
REASONS = np.array([
    "High revolving utilisation on bureau tradelines",
    "Many credit inquiries by other lenders in the last 3 months",
    "Short credit history",
    "Recent 30+ days past due on an external tradeline",
    "Low declared income relative to requested amount",
    "Shares a device with several other applicants",
    "Night-time e-commerce purchases concentrated in small amounts",
    "Few months of telco tenure",
    "Loan proceeds partly routed to investment merchants",
    "Frequent limit utilisation above 90%",
    "Missed first installment on a previous loan",
    "High share of cash-like purchases",
])
PDO, BASE_POINTS, BASE_ODDS = 20.0, 600.0, 50.0
GRADE_CUTS = np.array([540, 570, 600, 630])  # E < 540 <= D < 570 <= C < 600 <= B < 630 <= A
_TRIPLES = np.array([(a, b, c) for a in range(len(REASONS)) for b in range(len(REASONS)) for c in range(len(REASONS))
                     if len({a, b, c}) == 3])


def _constant(value: str, n: int) -> pa.Array:
    return pa.array([value], pa.string()).take(pa.array(np.zeros(n, dtype=np.int32)))


def points(probability: np.ndarray) -> np.ndarray:
    factor = PDO / math.log(2)
    offset = BASE_POINTS - factor * math.log(BASE_ODDS)
    p = np.clip(probability, 1e-6, 1 - 1e-6)
    return np.round(offset + factor * np.log((1 - p) / p)).astype(np.int32)


def grades(score: np.ndarray) -> pa.Array:
    return pa.array(["E", "D", "C", "B", "A"]).take(pa.array(np.searchsorted(GRADE_CUTS, score, side="right")))


def customer_ids(n: int, start: int = 1) -> pa.Array:
    """C000000001, C000000002, ... (the simulator's id format)."""
    digits = pc.utf8_lpad(pa.array(np.arange(start, start + n)).cast(pa.string()), 9, "0")
    return pc.binary_join_element_wise("C", digits, "")


def partner_of(n: int, seed: int = 0) -> pa.Array:
    """A fixed partner per customer (stable across days for the same seed)."""
    rng = np.random.default_rng(seed)
    return pa.array(PARTNERS).take(pa.array(rng.choice(len(PARTNERS), size=n, p=PARTNER_SHARES)))


def table_from_probabilities(business_date: date, ids: pa.Array, partners: pa.Array, label: str,
                             model_name: str, model_version: str, probability: np.ndarray,
                             rng: np.random.Generator, reason_idx: np.ndarray | None = None) -> pa.Table:
    """A contract-shaped scores table for one label from probabilities (the scoring half of a batch)."""
    n = len(ids)
    score = points(probability)
    grade = grades(score)
    if reason_idx is None:
        reason_idx = _TRIPLES[rng.integers(0, len(_TRIPLES), n)]
    reasons = pa.array(REASONS)
    decision_idx = np.searchsorted(np.array([540, 570]), score, side="right")  # decline | review | approve
    decision = pa.array(["decline", "review", "approve"]).take(pa.array(decision_idx))
    limit = np.where(decision_idx == 0, 0.0,
                     np.round(np.clip(1000 * np.exp((score - 540) / 40.0), 500, 50_000) * np.where(score >= 600, 1.0, 0.6), -2))
    cols = {
        "business_date": pa.array(np.full(n, np.datetime64(business_date, "D")), pa.date32()),
        "customer_id": ids,
        "partner_id": partners,
        "label": _constant(label, n),
        "model_name": _constant(model_name, n),
        "model_version": _constant(model_version, n),
        "probability": pa.array(probability.astype(np.float64)),
        "score": pa.array(score, pa.int32()),
        "grade": grade,
        "reason_1": reasons.take(pa.array(reason_idx[:, 0])),
        "reason_2": reasons.take(pa.array(reason_idx[:, 1])),
        "reason_3": reasons.take(pa.array(reason_idx[:, 2])),
        "decision": decision,
        "recommended_limit": pa.array(limit.astype(np.float64)),
    }
    return pa.Table.from_pydict(cols, schema=SCORES_SCHEMA)


def fake_scores(n_customers: int, business_date: date | str, seed: int = 7,
                labels: tuple[str, ...] = ("a_card", "b_card", "c_card", "fraud"),
                models: dict[str, tuple[str, str]] | None = None, coverage: dict[str, float] | None = None) -> pa.Table:
    """A scores table for `n_customers` customers: each label scores a random subset of them."""
    day = business_date if isinstance(business_date, date) else date.fromisoformat(str(business_date))
    models = {**DEFAULT_MODELS, **(models or {})}
    coverage = {**LABEL_COVERAGE, **(coverage or {})}
    ids = customer_ids(n_customers)
    partners = partner_of(n_customers, seed)
    rng = np.random.default_rng([seed, day.toordinal()])
    parts = []
    for label in labels:
        take = rng.random(n_customers) < coverage[label]
        k = int(take.sum())
        # log-odds normal around the base rate: most customers good, a long risky tail
        logit = math.log(BASE_RATE[label] / (1 - BASE_RATE[label])) + rng.normal(0, 1.1, k)
        probability = 1 / (1 + np.exp(-logit))
        name, version = models[label]
        parts.append(table_from_probabilities(day, ids.filter(pa.array(take)), partners.filter(pa.array(take)), label,
                                              name, version, probability, rng))
    return pa.concat_tables(parts)


def write_scores(table: pa.Table, path) -> None:
    import pyarrow.parquet as pq
    from pathlib import Path
    Path(path).parent.mkdir(parents=True, exist_ok=True)
    pq.write_table(table, path)
