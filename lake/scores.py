"""The scores-table contract: the seam between batch scoring (models) and partner exports.

Batch scoring writes, per business date, one Parquet file at ``LakeLayout.scores_file(date)`` with one
row per scored customer per label and exactly the columns of ``SCORES_SCHEMA`` (declared here, once).
Both sides check tables with ``validate_scores_schema`` / ``conform_scores_table`` from here.
"""
from __future__ import annotations

from datetime import date
from pathlib import Path

import pyarrow as pa

from lake.layout import LakeLayout

LABELS = ("a_card", "b_card", "c_card", "fraud")
GRADES = ("A", "B", "C", "D", "E")

# Canonical schema (column order included): customer_id is internal and never exported.
SCORES_SCHEMA = pa.schema([
    pa.field("business_date", pa.date32(), nullable=False),
    pa.field("customer_id", pa.string(), nullable=False),
    pa.field("partner_id", pa.string(), nullable=False),
    pa.field("label", pa.string(), nullable=False),
    pa.field("model_name", pa.string(), nullable=False),
    pa.field("model_version", pa.string(), nullable=False),
    pa.field("probability", pa.float64(), nullable=False),
    pa.field("score", pa.int32(), nullable=False),
    pa.field("grade", pa.string(), nullable=False),
    pa.field("reason_1", pa.string()),
    pa.field("reason_2", pa.string()),
    pa.field("reason_3", pa.string()),
    pa.field("decision", pa.string()),
    pa.field("recommended_limit", pa.float64()),
])
SCORES_COLUMNS = tuple(SCORES_SCHEMA.names)

# Type families accepted on read (a writer may use int64 for score or large_string for text).
_FAMILIES = {
    "date": pa.types.is_date,
    "string": lambda t: pa.types.is_string(t) or pa.types.is_large_string(t) or (
        pa.types.is_dictionary(t) and (pa.types.is_string(t.value_type) or pa.types.is_large_string(t.value_type))),
    "floating": pa.types.is_floating,
    "integer": pa.types.is_integer,
}


def _family(t: pa.DataType) -> str:
    if pa.types.is_date(t):
        return "date"
    if pa.types.is_floating(t):
        return "floating"
    if pa.types.is_integer(t):
        return "integer"
    return "string"


class ScoresContractError(ValueError):
    """A scores table does not match the scores contract."""


def scores_path(business_date: date | str, root: Path | str | None = None) -> Path:
    """Where batch scoring writes the scores table of one business date (default lake: LAKE_ROOT)."""
    layout = LakeLayout.at(str(root)) if root is not None else LakeLayout.from_env()
    return layout.scores_file(business_date)


def schema_problems(schema: pa.Schema) -> list[str]:
    """Differences between a table schema and the contract (names exact, types by family)."""
    problems = []
    names = schema.names
    missing = [c for c in SCORES_COLUMNS if c not in names]
    extra = [c for c in names if c not in SCORES_COLUMNS]
    if missing:
        problems.append(f"missing columns: {', '.join(missing)}")
    if extra:
        problems.append(f"unexpected columns: {', '.join(extra)} (the contract has exactly {', '.join(SCORES_COLUMNS)})")
    for f in SCORES_SCHEMA:
        if f.name in names:
            actual = schema.field(f.name).type
            want = _family(f.type)
            if not _FAMILIES[want](actual):
                problems.append(f"{f.name}: type {actual} is not a {want} type (contract: {f.type})")
    return problems


def validate_scores_schema(schema: pa.Schema, where: str = "scores table") -> None:
    problems = schema_problems(schema)
    if problems:
        raise ScoresContractError(f"{where} breaks the scores contract: " + "; ".join(problems))


def conform_scores_table(table: pa.Table) -> pa.Table:
    """Validate names/type families, then cast to the canonical schema and column order."""
    validate_scores_schema(table.schema)
    cols = []
    for f in SCORES_SCHEMA:
        col = table.column(f.name)
        if pa.types.is_dictionary(col.type):
            col = col.cast(col.type.value_type)
        cols.append(col.cast(f.type))
    return pa.Table.from_arrays(cols, schema=SCORES_SCHEMA.remove_metadata())
