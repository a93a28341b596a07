"""The lake's layout: every folder and file of the lake is named here, and only here.

The root is resolved once (``LAKE_ROOT``, default ``<repo>/data``). Every other module asks a
:class:`LakeLayout` for its paths instead of joining folder names by hand, so a newcomer finds the whole
layout in this file and a change of layout is a change of this file.

```
<root>/landing/<system>/<table>/...        raw deliveries (contracts name the folder)
<root>/bronze/<table>/batch_*.parquet      typed, tokenised rows     <root>/quarantine/<table>/...
<root>/_meta/ingest_log/<table>/           one row per landed file   <root>/_meta/ge_results/<suite>/
<root>/marts/<model>.parquet               dbt marts and labels      <root>/features/<family>.parquet
<root>/features/_stats/                    feature statistics        <root>/models/registry/<label>/vNNNN/
<root>/scores/business_date=D/             scores + decisions        <root>/strategy/backtest/
<root>/exports/<bucket>/<key>              partner exports (local)   <root>/truth/  simulator truth (evaluation only)
<root>/lakehouse.duckdb                    a rebuildable catalog of views; <root>/_dbt/target dbt artefacts
```
"""
from __future__ import annotations

import os
from dataclasses import dataclass
from datetime import date
from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parent.parent
DEFAULT_ROOT = REPO_ROOT / "data"


def lake_root() -> Path:
    """The lake root from the environment (``LAKE_ROOT``), or the embedded default ``<repo>/data``."""
    return Path(os.environ.get("LAKE_ROOT") or DEFAULT_ROOT).resolve()


def business_date_text(business_date: date | str) -> str:
    """A business date as YYYY-MM-DD; anything else is rejected."""
    text = business_date.isoformat() if isinstance(business_date, date) else str(business_date)
    date.fromisoformat(text)
    return text


@dataclass(frozen=True)
class LakeLayout:
    root: Path

    @classmethod
    def from_env(cls) -> "LakeLayout":
        return cls(root=lake_root())

    # ---- landing and ingestion
    @property
    def landing(self) -> Path:
        return self.root / "landing"

    @property
    def bronze(self) -> Path:
        return self.root / "bronze"

    @property
    def quarantine(self) -> Path:
        return self.root / "quarantine"

    @property
    def meta(self) -> Path:
        return self.root / "_meta"

    def bronze_dir(self, table: str) -> Path:
        return self.bronze / table

    def quarantine_dir(self, table: str) -> Path:
        return self.quarantine / table

    def ingest_log_dir(self, table: str) -> Path:
        return self.meta / "ingest_log" / table

    @property
    def ge_results(self) -> Path:
        return self.meta / "ge_results"

    # ---- catalog and dbt
    @property
    def database(self) -> Path:
        return self.root / "lakehouse.duckdb"

    @property
    def dbt_target(self) -> Path:
        return self.root / "_dbt" / "target"

    # ---- marts, labels, features
    @property
    def marts(self) -> Path:
        return self.root / "marts"

    def mart(self, name: str) -> Path:
        return self.marts / f"{name}.parquet"

    @property
    def labels(self) -> Path:
        return self.mart("labels")

    @property
    def features(self) -> Path:
        return self.root / "features"

    def feature_table(self, table: str) -> Path:
        return self.features / f"{table}.parquet"

    @property
    def feature_spine(self) -> Path:
        return self.feature_table("feat_spine")

    @property
    def feature_stats(self) -> Path:
        return self.features / "_stats"

    # ---- models, scores, decisions, strategy
    @property
    def registry(self) -> Path:
        return self.root / "models" / "registry"

    @property
    def scores(self) -> Path:
        return self.root / "scores"

    def scores_dir(self, business_date: date | str) -> Path:
        return self.scores / f"business_date={business_date_text(business_date)}"

    def scores_file(self, business_date: date | str) -> Path:
        return self.scores_dir(business_date) / "scores.parquet"

    def decisions_file(self, business_date: date | str) -> Path:
        return self.scores_dir(business_date) / "decisions.parquet"

    @property
    def strategy(self) -> Path:
        return self.root / "strategy"

    @property
    def backtest(self) -> Path:
        return self.strategy / "backtest"

    @property
    def backtest_history(self) -> Path:
        # matured application observations scored point in time by the champions (replayed by every what-if)
        return self.backtest / "history.parquet"

    @property
    def backtest_history_grades(self) -> Path:
        return self.backtest / "history_grades.json"

    def backtest_table(self, candidate: str, table: str) -> Path:
        return self.backtest / f"candidate={candidate}" / f"{table}.parquet"

    # ---- exports and evaluation truth
    @property
    def exports(self) -> Path:
        return self.root / "exports"

    @property
    def truth(self) -> Path:
        # Simulator truth: evaluation code only, never an ingestion or model input.
        return self.root / "truth"

    def truth_file(self, name: str) -> Path:
        return self.truth / f"{name}.parquet"
