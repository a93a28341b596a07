"""The one data-access layer of the dashboards: every page reads the lake through this module.

Paths come from :class:`lake.layout.LakeLayout` (root: ``LAKE_ROOT``, a local folder or ``s3://bucket/prefix``);
file operations go through the layout's path objects (``pathlib`` locally, ``upath`` on S3); SQL runs on one
in-memory DuckDB connection per lake with the lake's filesystem registered (``lake.storage``), never on the
lakehouse ``.duckdb`` file: Dagster / dbt hold that file's single-writer lock while they run, and it is only
a rebuildable catalog anyway. Each mart is a view over its Parquet file, re-read at every query, so the app
shows new data as soon as dbt rewrites a file (query results are cached for CACHE_TTL_S and keyed on the
files' modification times).

Every query takes its values as bound parameters ($name); page code never formats user input into SQL text.
"""
from __future__ import annotations

import json
import threading
import time
from dataclasses import dataclass, field
from typing import Any

import duckdb
import pandas as pd
import streamlit as st

from lake import storage
from lake.layout import REPO_ROOT, LakeLayout
from lake.storage import LakePath

CACHE_TTL_S = 60
__all__ = ["REPO_ROOT", "LakePath", "MartMissing", "Lake", "get_lake", "layout", "lake_root", "query", "sql",
           "fingerprint", "read_json", "read_bytes", "parquet_source", "subfolders", "files", "path", "registry", "connect",
           "ColumnMissing"]

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


def layout() -> LakeLayout:
    """The lake of the current environment (LAKE_ROOT)."""
    return LakeLayout.from_env()


def lake_root() -> str:
    """The lake root as text, for captions."""
    return str(layout().root)


def path(text: str) -> LakePath:
    """A lake path back from its text (cached functions take paths as strings)."""
    return storage.lake_path(text)


@dataclass
class Lake:
    """An in-memory DuckDB able to read the lake's files, with one view per mart file that exists."""

    layout: LakeLayout
    _views: set[str] = field(default_factory=set)

    def __post_init__(self) -> None:
        self._con = storage.connect(self.layout.root)
        self._lock = threading.Lock()

    @property
    def root(self) -> LakePath:
        return self.layout.root

    def mart_path(self, mart: str) -> LakePath:
        return self.layout.mart(mart)

    def has(self, *marts: str) -> bool:
        return all(self.mart_path(m).exists() for m in marts)

    def _ensure_views(self, marts: list[str]) -> None:
        missing = [m for m in marts if not self.mart_path(m).exists()]
        if missing:
            raise MartMissing(", ".join(missing))
        with self._lock:
            for m in marts:
                if m not in self._views:
                    self._con.execute(
                        f'CREATE OR REPLACE VIEW "{m}" AS SELECT * FROM '
                        f'read_parquet({storage.sql_string(self.mart_path(m))}) WHERE "{MARTS[m]}" IS NOT NULL')
                    self._views.add(m)

    def sql(self, sql: str, params: dict[str, Any] | list | None = None) -> pd.DataFrame:
        """Any parameterised read (file lists and values bound), on a cursor of its own."""
        for attempt in range(3):
            with self._lock:
                cur = self._con.cursor()  # a cursor per query: Streamlit sessions run in parallel threads
            try:
                return cur.execute(sql, params or {}).df()
            except (duckdb.IOException, duckdb.InvalidInputException):
                # dbt may be replacing a file at this very moment: read it again shortly
                if attempt == 2:
                    raise
                time.sleep(0.3)
            finally:
                cur.close()
        raise AssertionError("unreachable")

    def cursor(self) -> duckdb.DuckDBPyConnection:
        """A private connection to the same in-memory database: its own temp tables, the lake's filesystem."""
        with self._lock:
            return self._con.cursor()

    def query(self, sql: str, params: dict[str, Any] | None = None, marts: list[str] | None = None) -> pd.DataFrame:
        """A parameterised query over the mart views; `marts` names the views it reads (default: those in the SQL)."""
        self._ensure_views(marts if marts is not None else [m for m in MARTS if m in sql])
        return self.sql(sql, params)


_LAKES: dict[str, Lake] = {}
_LAKES_LOCK = threading.Lock()


def get_lake(root: str | LakePath | None = None) -> Lake:
    lake_layout = LakeLayout.at(root) if root is not None else layout()
    key = str(lake_layout.root)
    with _LAKES_LOCK:
        if key not in _LAKES:
            _LAKES[key] = Lake(lake_layout)
        return _LAKES[key]


sql_string = storage.sql_string
parquet_source = storage.parquet_source  # a Parquet file, or the glob of a folder of parts (what read_parquet takes)


def connect() -> duckdb.DuckDBPyConnection:
    """A private DuckDB connection able to read the current lake (local or S3); close it after use."""
    return get_lake().cursor()


# A query named a column the file does not have (e.g. an older file version).
ColumnMissing = duckdb.BinderException

# ------------------------------------------------------------------------------------------------ files


def fingerprint(paths) -> tuple:
    """(path, modification time) of the files a cached result depends on: a rewritten file is never served stale."""
    return tuple((str(p), storage.mtime(p)) for p in paths)


def read_json(p: LakePath) -> dict:
    """A JSON document of the lake; {} when it is missing or unreadable (a page shows what it has)."""
    try:
        return json.loads(p.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return {}


def read_bytes(p: LakePath) -> bytes | None:
    try:
        return p.read_bytes()
    except OSError:
        return None


def subfolders(base: LakePath, pattern: str | None = None) -> list[str]:
    """Names of the folders directly under `base` (matching the regex `pattern`), sorted."""
    import re

    if not base.exists():
        return []
    rx = re.compile(pattern) if pattern else None
    return sorted(p.name for p in base.iterdir() if p.is_dir() and (rx is None or rx.match(p.name)))


def files(base: LakePath, glob: str, *, folder_pattern: str | None = None) -> dict[str, list[str]]:
    """{folder: [files]} for base/<folder>/<glob>, folders with at least one file (paths as text, sorted)."""
    out = {}
    for name in subfolders(base, folder_pattern):
        found = sorted(str(p) for p in (base / name).glob(glob))
        if found:
            out[name] = found
    return out


def registry():
    """The model registry of the current lake (its layout lives in models/registry.py, not here)."""
    from models.registry import ModelRegistry

    return ModelRegistry(layout().registry)


# ------------------------------------------------------------------------------------------------ cache


def _freeze(params: dict[str, Any] | None) -> tuple:
    return tuple(sorted((k, tuple(v) if isinstance(v, list) else v) for k, v in (params or {}).items()))


@st.cache_data(ttl=CACHE_TTL_S, show_spinner=False, max_entries=512)
def _cached(root: str, sql_text: str, frozen: tuple, mtimes: tuple) -> pd.DataFrame:
    return get_lake(root).query(sql_text, {k: list(v) if isinstance(v, tuple) else v for k, v in frozen})


def query(sql_text: str, params: dict[str, Any] | None = None) -> pd.DataFrame:
    """Cached parameterised query over the marts of the current lake. Returns a copy callers may modify."""
    lake = get_lake()
    # the files' modification times are part of the cache key: a rebuilt mart is never served stale
    mtimes = fingerprint(lake.mart_path(m) for m in MARTS if m in sql_text)
    return _cached(str(lake.root), sql_text, _freeze(params), mtimes).copy()


def sql(sql_text: str, params: dict[str, Any] | list | None = None) -> pd.DataFrame:
    """Uncached parameterised read of lake files (pages cache it with the files' fingerprint)."""
    return get_lake().sql(sql_text, params)
