"""The lake's layout: every folder and file of the lake is named here, and only here.

The root is resolved once (``LAKE_ROOT``, default ``<repo>/data``). Every other module asks a
:class:`LakeLayout` for its paths instead of joining folder names by hand, so a newcomer finds the whole
layout in this file and a change of layout is a change of this file.

```
<root>/landing/<system>/<table>/...        raw deliveries (contracts name the folder)
<root>/bronze/<table>/batch_*.parquet      typed, tokenised rows     <root>/quarantine/<table>/...
<root>/_meta/ingest_log/<table>/           one row per landed file   <root>/_meta/ge_results/<suite>/
<root>/marts/<model>.parquet               dbt marts and labels      <root>/features/<family>.parquet/part-k.parquet
<root>/features/_stats/                    feature statistics        <root>/models/registry/<label>/vNNNN/
<root>/scores/business_date=D/             scores + decisions        <root>/strategy/backtest/
<root>/exports/<bucket>/<key>              partner exports (local)   <root>/truth/  simulator truth (evaluation only)
<local>/lakehouse.duckdb                   a rebuildable catalog of views; <local>/_dbt/target dbt artefacts
```

The root is a local folder or ``s3://bucket/prefix`` (``lake/storage.py``); ``<local>`` is the root itself for
a local lake and a local working folder for an S3 lake (``LAKE_LOCAL_DIR``, default
``<repo>/.lake_local/<bucket>/<prefix>``): the DuckDB catalog and dbt's target files are rebuildable local
artefacts, never the only copy of any data.
"""
from __future__ import annotations

import os
from dataclasses import dataclass
from datetime import date
from pathlib import Path

from lake.storage import LakePath, is_remote, lake_path

REPO_ROOT = Path(__file__).resolve().parent.parent
DEFAULT_ROOT = REPO_ROOT / "data"


LOCAL_DIR_DEFAULT = REPO_ROOT / ".lake_local"


def lake_root() -> LakePath:
    """The lake root from the environment (``LAKE_ROOT``: a folder or s3://bucket/prefix), default ``<repo>/data``."""
    return lake_path(os.environ.get("LAKE_ROOT") or DEFAULT_ROOT)


def business_date_text(business_date: date | str) -> str:
    """A business date as YYYY-MM-DD; anything else is rejected."""
    text = business_date.isoformat() if isinstance(business_date, date) else str(business_date)
    date.fromisoformat(text)
    return text


@dataclass(frozen=True)
class LakeLayout:
    root: LakePath

    def __post_init__(self) -> None:
        if isinstance(self.root, str):  # LakeLayout("s3://bucket/prefix") or LakeLayout("/folder")
            object.__setattr__(self, "root", lake_path(self.root))

    @classmethod
    def from_env(cls) -> "LakeLayout":
        return cls(root=lake_root())

    @classmethod
    def at(cls, location: "str | os.PathLike") -> "LakeLayout":
        return cls(root=lake_path(location))

    @property
    def is_remote(self) -> bool:
        return is_remote(self.root)

    @property
    def local(self) -> Path:
        """Local working folder: the root of a local lake; for an S3 lake a folder per bucket/prefix."""
        if not self.is_remote:
            return self.root
        base = Path(os.environ.get("LAKE_LOCAL_DIR") or LOCAL_DIR_DEFAULT)
        return (base / str(self.root)[len("s3://"):]).resolve()

    # ---- landing and ingestion
    @property
    def landing(self) -> LakePath:
        return self.root / "landing"

    @property
    def bronze(self) -> LakePath:
        return self.root / "bronze"

    @property
    def quarantine(self) -> LakePath:
        return self.root / "quarantine"

    @property
    def meta(self) -> LakePath:
        return self.root / "_meta"

    def bronze_dir(self, table: str) -> LakePath:
        return self.bronze / table

    def quarantine_dir(self, table: str) -> LakePath:
        return self.quarantine / table

    @property
    def ingest_log(self) -> LakePath:
        return self.meta / "ingest_log"

    def ingest_log_dir(self, table: str) -> LakePath:
        return self.ingest_log / table

    def ingest_lock(self, table: str) -> Path:
        """Lake-level lock file serialising ingests of one table (two runs at once would duplicate keys).
        Always on local disk (file locks need one); for an S3 lake it serialises the ingests of this machine."""
        return self.local / "_meta" / "locks" / f"ingest_{table}.lock"

    @property
    def ge_results(self) -> LakePath:
        return self.meta / "ge_results"

    def ge_results_dir(self, suite: str) -> LakePath:
        return self.ge_results / suite

    def ge_validated_batches(self, table: str) -> LakePath:
        """The bronze batches of a table that passed its contract's row rules (a first line names the rules'
        fingerprint), one id a line: a daily check judges only the batches not listed (orchestration/quality_checks.py)."""
        return self.ge_results_dir("bronze") / table / "_validated_batches.txt"

    # ---- catalog and dbt
    @property
    def database(self) -> Path:
        return self.local / "lakehouse.duckdb"

    @property
    def dbt_target(self) -> Path:
        return self.local / "_dbt" / "target"

    @property
    def dagster_home(self) -> Path:
        return self.local / "dagster_home"

    def dbt_env(self) -> dict[str, str]:
        """The lake's locations as the environment of a dbt call: dbt's profile, macros and Python models read
        these variables and name no folder of their own (orchestration.dbt_assets scopes them to the call)."""
        return {
            "LAKE_ROOT": str(self.root),
            "LAKE_DBT_TARGET": "s3" if self.is_remote else "local",
            "LAKE_DATABASE": str(self.database),
            "LAKE_BRONZE_DIR": str(self.bronze),
            "LAKE_QUARANTINE_DIR": str(self.quarantine),
            "LAKE_INGEST_LOG_DIR": str(self.ingest_log),
            "LAKE_MARTS_DIR": str(self.marts),
            "LAKE_FEATURES_DIR": str(self.features),
        }

    # ---- marts, labels, features
    @property
    def marts(self) -> LakePath:
        return self.root / "marts"

    def mart(self, name: str) -> LakePath:
        return self.marts / f"{name}.parquet"

    @property
    def labels(self) -> LakePath:
        return self.mart("labels")

    @property
    def features(self) -> LakePath:
        return self.root / "features"

    def feature_table(self, table: str) -> LakePath:
        return self.features / f"{table}.parquet"

    @property
    def feature_spine(self) -> LakePath:
        return self.feature_table("feat_spine")

    @property
    def feature_shard_inputs(self) -> LakePath:
        # the mart's inputs laid out by customer shard (<input>/shard=k/*.parquet), rebuilt every run: scratch,
        # so always on the local disk (the lake's features folder for a local lake; the local working folder for
        # an S3 lake, where DuckDB's partitioned COPY and the shard tasks' reads stay off the network)
        return self.local / "features" / "_shards"

    def feature_table_files(self, table: str) -> list[LakePath]:
        # a family table is a folder of part files (one per customer shard); other tables are one file
        path = self.feature_table(table)
        return sorted(path.glob("part-*.parquet")) if path.is_dir() else ([path] if path.exists() else [])

    @property
    def feature_stats(self) -> LakePath:
        return self.features / "_stats"

    def feature_stats_file(self, name: str) -> LakePath:
        return self.feature_stats / f"{name}.parquet"

    def dataset(self, ref: "dict[str, str]") -> LakePath:
        """A Parquet dataset named in config as ``{<layout method>: <name>}``, e.g. ``{mart: labels}`` or
        ``{feature_table: feat_spine}`` (config names datasets, never folder paths)."""
        kinds = ("mart", "feature_table", "feature_stats_file", "truth_file")
        if not isinstance(ref, dict) or len(ref) != 1 or next(iter(ref)) not in kinds:
            raise ValueError(f"dataset reference {ref!r}: write one of {', '.join(f'{{{k}: <name>}}' for k in kinds)}")
        (kind, name), = ref.items()
        return getattr(self, kind)(name)

    # ---- models, scores, decisions, strategy
    @property
    def registry(self) -> LakePath:
        return self.root / "models" / "registry"

    def model_monitoring_dir(self, label: str, version: str) -> LakePath:
        # backfilled scores of past month-ends and the monitoring tables of one model version
        return self.root / "models" / "monitoring" / label / version

    @property
    def scores(self) -> LakePath:
        return self.root / "scores"

    def scores_dir(self, business_date: date | str) -> LakePath:
        return self.scores / f"business_date={business_date_text(business_date)}"

    def scores_file(self, business_date: date | str) -> LakePath:
        return self.scores_dir(business_date) / "scores.parquet"

    def decisions_file(self, business_date: date | str) -> LakePath:
        return self.scores_dir(business_date) / "decisions.parquet"

    def scores_shards(self, business_date: date | str) -> LakePath:
        # per-shard parts of a batch-scoring run (models/batch.py), removed once the contract files are written
        return self.scores / "_shards" / f"business_date={business_date_text(business_date)}"

    def scores_files(self) -> list[LakePath]:
        """Every business date's scores file, oldest first."""
        return sorted(self.scores.glob("business_date=*/scores.parquet"), key=str)

    @property
    def strategy(self) -> LakePath:
        return self.root / "strategy"

    @property
    def backtest(self) -> LakePath:
        return self.strategy / "backtest"

    @property
    def backtest_history(self) -> LakePath:
        # matured application observations scored point in time by the champions (replayed by every what-if)
        return self.backtest / "history.parquet"

    @property
    def backtest_history_grades(self) -> LakePath:
        return self.backtest / "history_grades.json"

    def backtest_table(self, candidate: str, table: str) -> LakePath:
        return self.backtest / f"candidate={candidate}" / f"{table}.parquet"

    # ---- exports and evaluation truth
    @property
    def exports(self) -> LakePath:
        return self.root / "exports"

    @property
    def truth(self) -> LakePath:
        # Simulator truth: evaluation code only, never an ingestion or model input.
        return self.root / "truth"

    def truth_file(self, name: str) -> LakePath:
        return self.truth / f"{name}.parquet"

