"""Contract validation and PII tokenisation as one set-based DuckDB query generated from the contract.

Input: the raw rows of one ingest batch (all new files of a table) with `_source_file` / `_source_line`.
Output: every row exactly once, either typed for bronze or with the reasons it was rejected.
"""
from __future__ import annotations

from datetime import datetime, timedelta

from lake.contracts import Column, Contract
from lake.tokens import bronze_token_sql as hmac_sql

# Timestamps are local business time; allow a day of clock/time-zone skew before calling a value future.
FUTURE_TOLERANCE = timedelta(days=1)


def _quote(name: str) -> str:
    return '"' + name.replace('"', '""') + '"'


def _literal(value) -> str:
    if isinstance(value, bool):
        return "TRUE" if value else "FALSE"
    if isinstance(value, (int, float)):
        return repr(value)
    return "'" + str(value).replace("'", "''") + "'"


def _typed(c: Column) -> str:
    src = f"CAST({_quote(c.name)} AS VARCHAR)" if c.type != "json" else _quote(c.name)
    if c.type == "json":
        return f"CASE WHEN json_valid(CAST({_quote(c.name)} AS VARCHAR)) THEN CAST({_quote(c.name)} AS JSON) END"
    if c.type == "boolean":
        return f"TRY_CAST(lower(trim({src})) AS BOOLEAN)"
    return f"TRY_CAST(trim({src}) AS {c.duckdb_type})"


def _checks(c: Column, now: datetime) -> list[str]:
    """SQL expressions yielding a reason text when the column breaks its contract, else NULL."""
    raw, typed = _quote(c.name), _quote(f"{c.name}__typed")
    present = f"({raw} IS NOT NULL AND trim(CAST({raw} AS VARCHAR)) <> '')"
    checks = []
    if c.required:
        checks.append(f"CASE WHEN NOT {present} THEN '{c.name}: required value missing' END")
    checks.append(
        f"CASE WHEN {present} AND {typed} IS NULL THEN "
        f"'{c.name}: cannot read ' || left(CAST({raw} AS VARCHAR), 40) || ' as {c.type}' END"
    )
    if c.allowed is not None:
        allowed = ", ".join(_literal(v) for v in c.allowed)
        shown = ", ".join(str(v) for v in c.allowed).replace("'", "''")
        checks.append(
            f"CASE WHEN {typed} NOT IN ({allowed}) THEN "
            f"'{c.name}: value ' || CAST({typed} AS VARCHAR) || ' not allowed (allowed: {shown})' END"
        )
    for bound, op, word in ((c.min, "<", "below minimum"), (c.max, ">", "above maximum")):
        if bound is not None:
            lit = f"CAST({_literal(bound)} AS {c.duckdb_type})"
            checks.append(
                f"CASE WHEN {typed} {op} {lit} THEN "
                f"'{c.name}: ' || CAST({typed} AS VARCHAR) || ' {word} {bound}' END"
            )
    if c.not_future:
        limit = (now + FUTURE_TOLERANCE).strftime("%Y-%m-%d %H:%M:%S")
        checks.append(
            f"CASE WHEN CAST({typed} AS TIMESTAMP) > TIMESTAMP '{limit}' THEN "
            f"'{c.name}: ' || CAST({typed} AS VARCHAR) || ' is in the future' END"
        )
    return checks


def validation_sql(contract: Contract, token_key: str, now: datetime, existing_keys: str | None) -> str:
    """Query over relation `raw` returning all rows with `_reasons` ('' when the row is good),
    typed bronze columns and text copies for quarantine (PII tokenised in both)."""
    cols = contract.columns
    typed = ",\n  ".join(f"{_typed(c)} AS {_quote(c.name + '__typed')}" for c in cols)
    checks = [chk for c in cols for chk in _checks(c, now)]
    key_cols = ", ".join(_quote(k + "__typed") for k in contract.primary_key)
    dup_existing = ""
    if existing_keys:
        keys_match = " AND ".join(f"e.{_quote(k)} = c.{_quote(k + '__typed')}" for k in contract.primary_key)
        dup_existing = (
            f"CASE WHEN EXISTS (SELECT 1 FROM ({existing_keys}) e WHERE {keys_match}) "
            f"THEN 'duplicate key: already in bronze' END,"
        )

    def bronze_value(c: Column) -> str:
        expr = _quote(c.name + "__typed")
        return f"{hmac_sql(f'CAST({expr} AS VARCHAR)', token_key)}" if c.pii else expr

    def text_value(c: Column) -> str:
        expr = f"CAST({_quote(c.name)} AS VARCHAR)"
        return f"CASE WHEN {expr} IS NOT NULL THEN {hmac_sql(expr, token_key)} END" if c.pii else expr

    bronze_cols = ",\n  ".join(f"{bronze_value(c)} AS {_quote(c.bronze_name)}" for c in cols)
    text_cols = ",\n  ".join(f"{text_value(c)} AS {_quote('raw__' + c.bronze_name)}" for c in cols)
    return f"""
WITH typed AS (
  SELECT *,
  {typed}
  FROM raw
), checked AS (
  SELECT *, concat_ws('; ', {', '.join(checks)}) AS _base_reasons FROM typed
), deduped AS (
  SELECT c.*, concat_ws('; ', NULLIF(c._base_reasons, ''),
    {dup_existing}
    CASE WHEN c._base_reasons = '' AND row_number() OVER (
      PARTITION BY {key_cols}, (c._base_reasons = '') ORDER BY _arrival, _source_file, _source_line) > 1
      THEN 'duplicate key: repeated within this delivery' END) AS _reasons
  FROM checked c
)
SELECT _source_file, _source_line, _reasons,
  {bronze_cols},
  {text_cols}
FROM deduped
"""
