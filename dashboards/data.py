"""Shared data access for every dashboard page.

The app reads the marts' Parquet files (<LAKE_ROOT>/marts/<mart>.parquet) through an in-memory DuckDB
connection, never the lakehouse .duckdb file: Dagster / dbt hold that file's single-writer lock while
they run, and a read-only open would fail. Each mart is a view over its file, re-read at every query,
so the app shows new data as soon as dbt rewrites a file (query results are cached for CACHE_TTL_S).

Every query takes its filter values as bound parameters ($name); page code never formats user input
into SQL text.
"""
from __future__ import annotations

import os
import threading
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import duckdb
import pandas as pd
import streamlit as st

REPO_ROOT = Path(__file__).resolve().parent.parent
CACHE_TTL_S = 60

# Marts the dashboards read, with a key column: dbt-duckdb writes one all-null row when a mart is empty,
# and the views drop it.
MARTS: dict[str, str] = {
    "marts_as_of": "as_of_date",
    "loan_performance": "loan_id",
    "loan_month_end": "loan_id",
    "vintage_curves": "cohort_month",
    "delinquency_buckets": "month_end",
    "roll_rates": "month_end",
    "roll_rate_matrix": "month_end",
    "flow_rates": "month_end",
    "cure_rates": "month_end",
    "fpd_rates": "cohort_month",
    "fund_usage_flows": "flow_id",
    "fund_usage_loans": "loan_id",
    "fund_usage_categories": "cohort_month",
    "fund_usage_trends": "cohort_month",
}


class MartMissing(RuntimeError):
    """A mart the page needs has not been built yet."""


def lake_root() -> Path:
    return Path(os.environ.get("LAKE_ROOT", REPO_ROOT / "data")).resolve()


def _sql_string(value: str) -> str:
    return "'" + value.replace("'", "''") + "'"


@dataclass
class Lake:
    """An in-memory DuckDB with one view per mart file that exists."""

    root: Path

    def __post_init__(self) -> None:
        self._con = duckdb.connect(":memory:")
        self._lock = threading.Lock()
        self._views: set[str] = set()

    def mart_path(self, mart: str) -> Path:
        return self.root / "marts" / f"{mart}.parquet"

    def has(self, *marts: str) -> bool:
        return all(self.mart_path(m).exists() for m in marts)

    def _ensure_views(self, marts: list[str]) -> None:
        missing = [m for m in marts if not self.mart_path(m).exists()]
        if missing:
            raise MartMissing(", ".join(missing))
        with self._lock:
            for m in marts:
                if m not in self._views:
                    key = MARTS[m]
                    self._con.execute(
                        f'CREATE OR REPLACE VIEW "{m}" AS SELECT * FROM read_parquet({_sql_string(str(self.mart_path(m)))}) '
                        f'WHERE "{key}" IS NOT NULL')
                    self._views.add(m)

    def query(self, sql: str, params: dict[str, Any] | None = None, marts: list[str] | None = None) -> pd.DataFrame:
        """Run a parameterised query; `marts` names the views it reads (defaults: every mart named in the SQL)."""
        needed = marts if marts is not None else [m for m in MARTS if m in sql]
        self._ensure_views(needed)
        for attempt in range(3):
            with self._lock:
                cur = self._con.cursor()  # a cursor per query: Streamlit sessions run in parallel threads
            try:
                return cur.execute(sql, params or {}).df()
            except (duckdb.IOException, duckdb.InvalidInputException):
                # dbt may be replacing a mart file at this very moment: read it again shortly
                if attempt == 2:
                    raise
                time.sleep(0.3)
            finally:
                cur.close()
        raise AssertionError("unreachable")


_LAKES: dict[Path, Lake] = {}
_LAKES_LOCK = threading.Lock()


def get_lake(root: Path | None = None) -> Lake:
    root = (root or lake_root()).resolve()
    with _LAKES_LOCK:
        if root not in _LAKES:
            _LAKES[root] = Lake(root)
        return _LAKES[root]


def _freeze(params: dict[str, Any] | None) -> tuple:
    return tuple(sorted((k, tuple(v) if isinstance(v, list) else v) for k, v in (params or {}).items()))


@st.cache_data(ttl=CACHE_TTL_S, show_spinner=False, max_entries=512)
def _cached(root: str, sql: str, frozen: tuple, mtimes: tuple) -> pd.DataFrame:
    return get_lake(Path(root)).query(sql, {k: list(v) if isinstance(v, tuple) else v for k, v in frozen})


def query(sql: str, params: dict[str, Any] | None = None) -> pd.DataFrame:
    """Cached parameterised query against the current lake (LAKE_ROOT). Returns a copy callers may modify."""
    lake = get_lake()
    # the files' modification times are part of the cache key: a rebuilt mart is never served stale
    mtimes = tuple(
        (m, lake.mart_path(m).stat().st_mtime_ns if lake.mart_path(m).exists() else 0) for m in MARTS if m in sql)
    return _cached(str(lake.root), sql, _freeze(params), mtimes).copy()
