"""The lakehouse ``.duckdb`` file as what it is: a catalog of views over the lake's files, rebuildable at any
time (``python -m lake.catalog``), so it is never the only copy of anything.

dbt writes it while it builds (plus its staging tables, themselves rebuilt from bronze by ``dbt build``);
this module recreates the views without dbt: ``bronze.<table>`` / ``quarantine.<table>`` over the batch
folders, ``ops.ingest_log``, and one view per Parquet file of the marts (``marts.*``, ``labels.labels``) and of
the feature mart (``features.*``). It works the same on a local lake and on S3.
"""
from __future__ import annotations

import re

from lake import storage
from lake.layout import LakeLayout

_NAME = re.compile(r"^[a-z][a-z0-9_]*$")


def _folders(base) -> list[str]:
    return sorted(p.name for p in base.iterdir() if p.is_dir() and _NAME.match(p.name)) if base.exists() else []


def _files(base) -> list[str]:
    return sorted(p.stem for p in base.glob("*.parquet") if _NAME.match(p.stem)) if base.exists() else []


def rebuild_catalog(layout: LakeLayout) -> dict[str, int]:
    """(Re)create every view of the catalog from the lake's files; returns the number of views per schema."""
    layout.database.parent.mkdir(parents=True, exist_ok=True)
    con = storage.connect(layout.root, layout.database)
    made: dict[str, int] = {}

    def view(schema: str, name: str, source: str, **options: str) -> None:
        opts = "".join(f", {k} = {v}" for k, v in options.items())
        con.execute(f"CREATE SCHEMA IF NOT EXISTS {schema}")
        con.execute(f'CREATE OR REPLACE VIEW {schema}."{name}" AS SELECT * FROM read_parquet({storage.sql_string(source)}{opts})')
        made[schema] = made.get(schema, 0) + 1

    try:
        for schema, base in (("bronze", layout.bronze), ("quarantine", layout.quarantine)):
            for table in _folders(base):
                view(schema, table, f"{base / table}/*.parquet", union_by_name="true")
        if _folders(layout.ingest_log):
            view("ops", "ingest_log", f"{layout.ingest_log}/*/*.parquet", union_by_name="true", filename="true")
        for name in _files(layout.marts):
            view("labels" if layout.mart(name) == layout.labels else "marts", name, str(layout.mart(name)))
        for name in _files(layout.features):
            view("features", name, storage.parquet_source(layout.feature_table(name)))
    finally:
        con.close()
    return made


if __name__ == "__main__":
    lake = LakeLayout.from_env()
    print(f"{lake.database}: {rebuild_catalog(lake)} views over {lake.root}")
