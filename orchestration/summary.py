"""Print what the lake holds after a run: rows per layer and table, quarantine by reason, where things are."""
from __future__ import annotations

import json

import duckdb

from lake import storage
from lake.layout import LakeLayout

LAYER_ORDER = ["bronze", "quarantine", "staging", "marts", "features", "models", "scores", "exports", "ops"]


def layer_counts(con: duckdb.DuckDBPyConnection) -> list[tuple[str, str, int]]:
    tables = con.sql(
        "SELECT table_schema, table_name FROM information_schema.tables "
        "WHERE table_catalog = current_database() AND table_schema NOT IN ('main', 'information_schema') "
        "ORDER BY table_schema, table_name"
    ).fetchall()
    return [(s, t, con.execute(f'SELECT count(*) FROM "{s}"."{t}"').fetchall()[0][0]) for s, t in tables]


def quarantine_reasons(con: duckdb.DuckDBPyConnection, tables: list[str]) -> list[tuple[str, str, int]]:
    if not tables:
        return []
    union = " UNION ALL ".join(f"SELECT '{t}' AS tbl, reason FROM quarantine.\"{t}\"" for t in tables)
    # Group by the check that failed ("amount: below minimum"), not by the offending value.
    return con.sql(
        f"SELECT tbl, regexp_replace(split_part(reason, ';', 1), ':.*', '') || ': ' || "
        f"regexp_extract(split_part(reason, ';', 1), '(required value missing|cannot read|not allowed|below minimum|"
        f"above maximum|in the future|duplicate key|malformed row|bad encoding|broken JSON|unreadable file)') AS why, "
        f"count(*) FROM ({union}) GROUP BY ALL ORDER BY tbl, 3 DESC"
    ).fetchall()


def print_models_and_exports(lake: LakeLayout) -> None:
    from models.registry import ModelRegistry

    registry = ModelRegistry(lake.registry)
    champions = [(label, registry.champion(label)) for label in registry.labels()]
    champions = [(label, version) for label, version in champions if version]
    if champions:
        print("\nchampion models (out-of-time):")
        for label, version in champions:
            m = registry.metrics(label, version)
            oracle = m.get("oracle_auc")
            print(f"  {m['label']:<8} {version} {m['model_type']:<9} AUC {m['auc_oot']:.3f}  KS {m['ks_oot']:.3f}  "
                  f"Gini {m['gini_oot']:.3f}  oracle AUC {'n/a' if oracle is None else format(oracle, '.3f')}")
    manifests = sorted(lake.exports.rglob("manifest.json"), key=str) if lake.exports.exists() else []
    if manifests:
        print("\npartner exports:")
        for path in manifests:
            m = json.loads(path.read_text())
            print(f"  {m['partner_id']:<6} {m['business_date']}  {m['row_count']:>7,} rows in {len(m['files'])} file(s)  "
                  f"{str(path.parent)[len(str(lake.root)) + 1:]}")


def main() -> None:
    lake = LakeLayout.from_env()
    if not lake.database.exists():
        raise SystemExit(f"No lakehouse at {lake.database}: run `make demo` (or `make materialize`) first.")
    landing_files = [p for p in lake.landing.rglob("*") if p.is_file()] if lake.landing.exists() else []
    # (on S3 a listing; sizes come with it)
    con = storage.connect(lake.root, lake.database, read_only=True)
    counts = layer_counts(con)
    print("\n=== Risk lakehouse summary ===")
    print(f"landing : {len(landing_files)} files, {sum(p.stat().st_size for p in landing_files) / 1e6:.1f} MB in {lake.landing}")
    by_layer: dict[str, list[tuple[str, int]]] = {}
    for schema, table, n in counts:
        by_layer.setdefault(schema, []).append((table, n))
    for layer in sorted(by_layer, key=lambda s: (LAYER_ORDER.index(s) if s in LAYER_ORDER else 99, s)):
        rows = by_layer[layer]
        print(f"\n[{layer}] {len(rows)} tables, {sum(n for _, n in rows):,} rows")
        for table, n in rows:
            print(f"  {table:<32} {n:>12,}")
    q_tables = [t for t, n in by_layer.get("quarantine", []) if n]
    if q_tables:
        print("\nquarantined rows by table and failed check:")
        for table, why, n in quarantine_reasons(con, q_tables):
            print(f"  {table:<24} {why:<48} {n:>8,}")
    else:
        print("\nquarantine: empty (every landed row passed its contract)")
    print_models_and_exports(lake)
    print(f"""
Where things are:
  lakehouse database : {lake.database}   (duckdb {lake.database}  ->  SHOW ALL TABLES;)
  bronze Parquet     : {lake.bronze}
  quarantine Parquet : {lake.quarantine}
  simulator truth    : {lake.truth}   (evaluation only)
  model registry     : {lake.registry}
  partner exports    : {lake.exports}   (laid out like the S3 bucket)
Next:
  Dagster UI         : make dev          (then open http://127.0.0.1:3000)
  Dashboards         : make dashboards   (then open http://127.0.0.1:8501)
""")


if __name__ == "__main__":
    main()
