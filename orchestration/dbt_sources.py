"""Generate dbt's bronze source declarations from the source contracts (declare once).

`python -m orchestration.dbt_sources` rewrites dbt_project/models/staging/_sources.yml;
a test fails when the committed file is out of date with the contracts.
"""
from __future__ import annotations

import yaml

from lake.layout import REPO_ROOT
from lake.contracts import load_contracts

SOURCES_FILE = REPO_ROOT / "dbt_project" / "models" / "staging" / "_sources.yml"
HEADER = "# GENERATED from lake/contracts/*.yaml by `python -m orchestration.dbt_sources`; do not edit.\n"


def _column(col) -> dict:
    entry: dict = {"name": col.bronze_name, "data_type": col.duckdb_type if col.type != "json" else "VARCHAR"}
    desc = "Keyed-hash token of the " + col.name.replace("_", " ") if col.pii else ""
    if desc:
        entry["description"] = desc
    # no dbt tests here: a contract's not-null and unique-key rules are checked once, by its Great Expectations
    # suite (orchestration/quality.py), a blocking check on the bronze asset before dbt reads it
    return entry


def sources_yaml() -> str:
    tables = []
    for contract in load_contracts().values():
        table = {
            "name": contract.table,
            "description": contract.description.strip(),
            "meta": {"system": contract.system, "format": contract.format,
                     "primary_key": list(contract.primary_key), "event_time": contract.event_time},
            "columns": [_column(c) for c in contract.columns],
        }
        tables.append(table)
    doc = {
        "version": 2,
        "sources": [{
            "name": "bronze",
            "schema": "bronze",
            "description": "Typed, contract-validated, PII-tokenised Parquet written by the Dagster ingest assets.",
            "config": {
                "loaded_at_field": "_ingested_at",
                "freshness": {"warn_after": {"count": 2, "period": "day"}, "error_after": {"count": 7, "period": "day"}},
            },
            "tables": tables,
        }],
    }
    return HEADER + yaml.safe_dump(doc, sort_keys=False, allow_unicode=True, width=120)


def main() -> None:
    SOURCES_FILE.write_text(sources_yaml())
    print(f"wrote {SOURCES_FILE.relative_to(REPO_ROOT)} ({len(load_contracts())} tables)")


if __name__ == "__main__":
    main()
