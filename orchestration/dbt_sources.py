"""Generate dbt's bronze source declarations from the source contracts (declare once).

`python -m orchestration.dbt_sources` rewrites dbt_project/models/staging/_sources.yml;
a test fails when the committed file is out of date with the contracts.
"""
from __future__ import annotations

import yaml

from lake.layout import REPO_ROOT
from lake.contracts import Contract, load_contracts

SOURCES_FILE = REPO_ROOT / "dbt_project" / "models" / "staging" / "_sources.yml"
HEADER = "# GENERATED from lake/contracts/*.yaml by `python -m orchestration.dbt_sources`; do not edit.\n"


def _column(contract: Contract, col) -> dict:
    entry: dict = {"name": col.bronze_name, "data_type": col.duckdb_type if col.type != "json" else "VARCHAR"}
    desc = "Keyed-hash token of the " + col.name.replace("_", " ") if col.pii else ""
    if desc:
        entry["description"] = desc
    tests = []
    if col.required:
        tests.append("not_null")
    if contract.primary_key == (col.name,):
        tests.append("unique")
    if tests:
        entry["data_tests"] = tests
    return entry


def sources_yaml() -> str:
    tables = []
    for contract in load_contracts().values():
        table = {
            "name": contract.table,
            "description": contract.description.strip(),
            "meta": {"system": contract.system, "format": contract.format,
                     "primary_key": list(contract.primary_key), "event_time": contract.event_time},
            "columns": [_column(contract, c) for c in contract.columns],
        }
        if len(contract.primary_key) > 1:
            table["data_tests"] = [{"unique_combination": {"arguments": {"columns": list(contract.primary_key)}}}]
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
