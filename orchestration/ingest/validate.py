"""Contract validation and PII tokenisation as one set-based DuckDB query generated from the contract.

Input: the raw rows of one ingest batch (all new files of a table) with `_source_file` / `_source_line`.
Output: every row exactly once, either typed for bronze or with the reasons it was rejected.
"""
from __future__ import annotations

from datetime import datetime, timedelta

from lake.contracts import BUSINESS_TIME_ZONE, JSON_SHAPES, Column, Contract
from lake.pii import HAN_SQL_REGEX, PII_SQL_REGEX
from lake.tokens import bronze_token_sql as hmac_sql

# Timestamps are local business time; allow a day of clock/time-zone skew before calling a value future.
FUTURE_TOLERANCE = timedelta(days=1)
# A timestamp text that ends in an offset or a zone name (`Z`, `+08:00`, `America/New_York`, `UTC`).
ZONE_SUFFIX = r"[0-9]:[0-9]{2}(:[0-9]{2}([.][0-9]+)?)?\s*([Zz]|[+-][0-9]{2}(:?[0-9]{2})?|UTC|GMT|[A-Za-z_]+/[A-Za-z_/+-]+)$"
INTEGER_TEXT = r"[+-]?[0-9]+([.]0*)?"  # 6 and 6.0 are integers; 5.5 is not (a cast would round it)


def _quote(name: str) -> str:
    return '"' + name.replace('"', '""') + '"'


def _literal(value) -> str:
    if isinstance(value, bool):
        return "TRUE" if value else "FALSE"
    if isinstance(value, (int, float)):
        return repr(value)
    return "'" + str(value).replace("'", "''") + "'"


def shown(expr: str) -> str:
    """A value quoted in a reason only when it is short and plain (no PII shape, no long digit run, no
    non-ASCII text such as a name); otherwise the reason says it was withheld."""
    return (f"CASE WHEN regexp_full_match({expr}, '[A-Za-z0-9_.:+ -]{{1,32}}') AND NOT regexp_matches({expr}, '[0-9]{{7}}') "
            f"THEN {expr} ELSE '<value withheld>' END")


def _has_zone(src: str) -> str:
    return f"regexp_matches(trim({src}), '{ZONE_SUFFIX}')"


def _typed(c: Column) -> str:
    src = f"CAST({_quote(c.name)} AS VARCHAR)" if c.type != "json" else _quote(c.name)
    if c.type == "json":
        return f"CASE WHEN json_valid(CAST({_quote(c.name)} AS VARCHAR)) THEN CAST({_quote(c.name)} AS JSON) END"
    if c.type == "boolean":
        return f"TRY_CAST(lower(trim({src})) AS BOOLEAN)"
    if c.type in ("integer", "bigint"):
        return (f"CASE WHEN regexp_full_match(trim({src}), '{INTEGER_TEXT}') "
                f"THEN TRY_CAST(regexp_replace(trim({src}), '[.]0*$', '') AS {c.duckdb_type}) END")
    if c.type == "timestamp":
        # Offsets and zones are converted to the business's wall-clock time; naive text is taken as it is.
        return (f"CASE WHEN {_has_zone(src)} THEN timezone('{BUSINESS_TIME_ZONE}', TRY_CAST(trim({src}) AS TIMESTAMPTZ)) "
                f"ELSE TRY_CAST(trim({src}) AS TIMESTAMP) END")
    return f"TRY_CAST(trim({src}) AS {c.duckdb_type})"


def _checks(c: Column, now: datetime) -> list[str]:
    """SQL expressions yielding a reason text when the column breaks its contract, else NULL."""
    raw, typed = _quote(c.name), _quote(f"{c.name}__typed")
    present = f"({raw} IS NOT NULL AND trim(CAST({raw} AS VARCHAR)) <> '')"
    checks = []
    if c.required:
        checks.append(f"CASE WHEN NOT {present} THEN '{c.name}: required value missing' END")
    raw_text, typed_text = f"CAST({raw} AS VARCHAR)", f"CAST({typed} AS VARCHAR)"
    checks.append(
        f"CASE WHEN {present} AND {typed} IS NULL THEN "
        f"'{c.name}: cannot read ' || {shown(raw_text)} || ' as {c.type}' END"
    )
    finite = "TRUE"
    if c.type == "double":
        finite = f"isfinite({typed})"
        checks.append(f"CASE WHEN NOT {finite} THEN '{c.name}: ' || {typed_text} || ' is not a finite number' END")
    if c.type == "json" and c.json_shape:
        want = JSON_SHAPES[c.json_shape]
        checks.append(f"CASE WHEN json_type({typed}) NOT IN ('{want}', 'NULL') THEN "
                      f"'{c.name}: expected a JSON {c.json_shape}, got ' || lower(json_type({typed})) END")
    if c.type == "timestamp" and c.naive:
        checks.append(f"CASE WHEN {_has_zone(raw_text)} THEN "
                      f"'{c.name}: time zone offsets are not allowed (the contract says local time)' END")
    if c.guarded and c.pii_guard_patterns:
        match = "regexp_full_match" if c.pii_guard == "whole_value" else "regexp_matches"
        patterns = c.pii_guard_patterns
        kinds = " ".join(f"WHEN {match}(trim({typed}), '{p}') THEN '{c.name}: holds what looks like a {k}; "
                         "value withheld'" for k, p in patterns.items())
        combined = "|".join(f"(?:{p})" for p in patterns.values())
        # one combined regex first: clean values (nearly all) cost a single match
        checks.append(f"CASE WHEN {match}(trim({typed}), '{combined}') THEN CASE {kinds} END END")
    if c.allowed is not None:
        allowed = ", ".join(_literal(v) for v in c.allowed)
        listed = ", ".join(str(v) for v in c.allowed).replace("'", "''")
        checks.append(
            f"CASE WHEN {typed} NOT IN ({allowed}) THEN "
            f"'{c.name}: value ' || {shown(typed_text)} || ' not allowed (allowed: {listed})' END"
        )
    for bound, op, word in ((c.min, "<", "below minimum"), (c.max, ">", "above maximum")):
        if bound is not None:
            lit = f"CAST({_literal(bound)} AS {c.duckdb_type})"
            checks.append(
                f"CASE WHEN {finite} AND {typed} {op} {lit} THEN "
                f"'{c.name}: ' || {shown(typed_text)} || ' {word} {bound}' END"
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
        if c.pii:
            return f"CASE WHEN {expr} IS NOT NULL THEN {hmac_sql(expr, token_key)} END"
        # Quarantine keeps the text as delivered, except values shaped like personal data (a phone in `city`)
        # and, outside free-text columns, Chinese text (a name shifted into `gender` cannot be told by shape).
        suspicious = f"regexp_matches({expr}, '{PII_SQL_REGEX}')"
        if not c.free_text:
            suspicious += f" OR regexp_matches({expr}, '{HAN_SQL_REGEX}')"
        return f"CASE WHEN {suspicious} THEN {hmac_sql(expr, token_key)} ELSE {expr} END"

    bronze_cols = ",\n  ".join(f"{bronze_value(c)} AS {_quote(c.bronze_name)}" for c in cols)
    # Text copies are for quarantine only: computed for rejected rows (the PII guards cost per value).
    text_cols = ",\n  ".join(f"CASE WHEN _reasons <> '' THEN {text_value(c)} END AS {_quote('raw__' + c.bronze_name)}"
                             for c in cols)
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
