"""Feature-mart benchmark: the mart's engine vs a straightforward pandas groupby, same features, one run.

    python bench/bench_feature_mart.py --customers 100000            # builds (or reuses) a simulated lake
    python bench/bench_feature_mart.py --lake /path/to/lake --family ecom

What is timed, per customer shard (the mart's own hash(customer_id) shards, so both sides stay in memory):
  * bare scan   : a DuckDB scan of the family's source columns (no join, no grouping), and the point-in-time
                  join alone (spine x source, counted);
  * mart        : the generated dbt SQL (feat_<family>_long: one set-based pass) + the numpy reshape to the wide
                  table (features.engine), i.e. exactly what the dbt model runs; and separately the Parquet write;
  * pandas      : load the spine shard and the source rows into pandas, merge, filter strictly-before-T, and one
                  groupby per (slice, window) for the same features (counts, sums, means, min/max, std, shares,
                  distinct counts, days since, trends, accelerations).
Every feature is compared between the two (max relative difference printed), then the ratio pandas / mart.
"""
from __future__ import annotations

import argparse
import os
import re
import subprocess
import sys
import time
from pathlib import Path

import duckdb
import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from features.catalog import Family, catalog  # noqa: E402
from features.engine import _hugepages, _spine_keys_sql, key_schema, n_shards, reshape  # noqa: E402
from features.sqlgen import shard_predicate  # noqa: E402


# ----------------------------------------------------------------------------------------------- the lake
def prepare_lake(lake: Path, customers: int, months: int, seed: int, family: str) -> None:
    """Simulated world -> bronze -> dbt staging + the feature models the family needs (reused when present)."""
    from lake.layout import LakeLayout
    from lake.contracts import load_contracts
    from orchestration.dbt_cli import run_dbt
    from orchestration.ingest.pipeline import ingest_table

    cfg = LakeLayout(root=lake)
    marker = lake / "_bench_staging.done"
    if not marker.exists():
        if not cfg.landing.exists():
            from simulator import generate_world

            t = time.perf_counter()
            generate_world(cfg.landing, cfg.truth, customers=customers, months=months, seed=seed)
            print(f"world: {customers:,} customers in {time.perf_counter() - t:.0f} s", flush=True)
        t = time.perf_counter()
        for contract in load_contracts().values():
            ingest_table(contract, cfg, "bench-key", progress=lambda _: None)
        print(f"ingest: {time.perf_counter() - t:.0f} s", flush=True)
    fam = catalog().families[family]
    models = ["feat_src_installments", "feat_spine", fam.long_model]
    if fam.source.startswith("feat_src_"):
        models.append(fam.source)
    select = ["staging", *models] if not marker.exists() else models
    t = time.perf_counter()
    proc = run_dbt(cfg, "build", "--select", *select, "--indirect-selection", "cautious", check=False)
    if proc.returncode != 0:
        raise SystemExit(proc.stdout[-4000:])
    marker.write_text("ok")
    print(f"dbt ({' '.join(select)}): {time.perf_counter() - t:.0f} s", flush=True)


def compiled_long_sql(lake: Path, fam: Family) -> str:
    from lake.layout import LakeLayout

    compiled = LakeLayout(root=lake).dbt_target / "compiled" / "risk_lakehouse"
    path = compiled / "models" / "features" / f"{fam.long_model}.sql"
    return path.read_text()


# ------------------------------------------------------------------------------------ pandas reference
def _pandas_condition(sql: str) -> str:
    """The catalog's simple slice predicates (<, >=, between, and, not) as pandas.eval expressions."""
    expr = re.sub(r"(\w+) between (\S+) and (\S+)", r"((\1 >= \2) & (\1 <= \3))", sql)
    expr = expr.replace(" and ", " & ").replace(" or ", " | ")
    expr = re.sub(r"\bnot\s+", "~", expr)
    return expr.replace(" = ", " == ")


def _source_columns(fam: Family) -> list[str]:
    text = " ".join([*(m.expr for m in fam.measures.values()), *(d.expr for d in fam.distincts.values()),
                     *(c for d in fam.dimensions.values() for c in d.conditions),
                     *(d.column or "" for d in fam.dimensions.values()), fam.time])
    return sorted(set(re.findall(r"[a-z_][a-z0-9_]*", text)))


def pandas_features(fam: Family, spine: pd.DataFrame, src: pd.DataFrame) -> dict[str, np.ndarray]:
    """The family's features by merge + filter + one groupby per (slice, window): the straightforward way."""
    R = len(spine)
    spine = spine.assign(row=np.arange(R))
    time_col = fam.time
    j = spine[["row", "customer_id", "obs_at"]].merge(src, on="customer_id")
    j = j[j[time_col] < j["obs_at"]]
    if fam.lookback is not None:
        j = j[j[time_col] >= j["obs_at"] - pd.Timedelta(days=fam.lookback)]
    j = j.assign(_age=(j["obs_at"] - j[time_col]).dt.total_seconds() / 86400.0)
    for m in fam.measures.values():
        j[f"m_{m.name}"] = j.eval(m.expr) if not re.fullmatch(r"\w+", m.expr) else j[m.expr].astype(float)
    masks = {"all": np.ones(len(j), dtype=bool)}
    for d in fam.dimensions.values():
        for v, cond in zip(d.values, d.conditions):
            masks[f"{d.name}={v}"] = (j[d.column] == v).to_numpy() if d.column else j.eval(_pandas_condition(cond)).to_numpy()
    wins = {w: (j["_age"] < w).to_numpy() if w is not None else np.ones(len(j), bool) for w in fam.windows}
    cache: dict[tuple, pd.DataFrame] = {}

    def agg(slice_label: str, w) -> pd.DataFrame:
        key = (slice_label, w)
        if key not in cache:
            sub = j[masks[slice_label] & wins[w]]
            g = sub.groupby("row")
            parts = {"n": g.size()}
            for m in fam.measures:
                col = g[f"m_{m}"]
                parts.update({f"s_{m}": col.sum(), f"c_{m}": col.count(), f"lo_{m}": col.min(), f"hi_{m}": col.max(),
                              f"sd_{m}": col.std()})
            parts["lo_age"] = g["_age"].min()
            parts["hi_age"] = g["_age"].max()
            cache[key] = pd.DataFrame(parts).reindex(range(R))
        return cache[key]

    out: dict[str, np.ndarray] = {}
    last = fam.windows[-1]
    for f in fam.features:
        w = None if f.window == "all" else (int(f.window[:-1]) if re.fullmatch(r"\d+d", f.window) else last)
        sl = f.slice
        if f.agg == "count":
            v = agg(sl, w)["n"].fillna(0).to_numpy()
        elif f.agg == "sum":
            v = agg(sl, w)[f"s_{f.measure}"].fillna(0).to_numpy()
        elif f.agg == "mean":
            a = agg(sl, w)
            v = (a[f"s_{f.measure}"] / a[f"c_{f.measure}"].where(a[f"c_{f.measure}"] > 0)).to_numpy()
        elif f.agg in ("min", "max", "value"):
            v = agg(sl, w)[f"{'lo' if f.agg == 'min' else 'hi'}_{f.measure}"].to_numpy()
        elif f.agg == "std":
            v = agg(sl, w)[f"sd_{f.measure}"].to_numpy()
        elif f.agg == "share":
            a, tot = agg(sl, w), agg("all", w)
            col = "n" if f.measure is None else f"s_{f.measure}"
            v = (a[col].fillna(0) / tot[col].where(tot[col] != 0)).to_numpy()
        elif f.agg == "distinct":
            sub = j[wins[w]]
            v = sub.groupby("row")[fam.distincts[f.measure].expr].nunique().reindex(range(R)).fillna(0).to_numpy()
        elif f.agg in ("days_since_last", "days_since_first"):
            v = agg(sl, last)["lo_age" if f.agg == "days_since_last" else "hi_age"].to_numpy()
        elif f.agg == "trend":
            k = int(f.window[:-1])
            sxx = k * (k * k - 1) / 12.0
            sub = j[masks[sl] & (j["_age"] < 30 * k).to_numpy()]
            coef = ((k - 1 - np.floor(sub["_age"] / 30)) - (k - 1) / 2) / sxx
            weight = 1.0 if f.measure is None else sub[f"m_{f.measure}"].fillna(0)
            v = (coef * weight).groupby(sub["row"]).sum().reindex(range(R)).fillna(0).to_numpy()
        elif f.agg == "accel":
            a, b = (int(x[:-1]) for x in f.window.split("/"))
            na, nb = agg(sl, a)["n"].fillna(0), agg(sl, b)["n"].fillna(0)
            v = ((na / a) / (nb / b).where(nb > 0)).to_numpy()
        else:  # ratio / cross-family features need other tables: the pandas baseline covers windowed families
            raise ValueError(f"{f.name}: aggregation {f.agg!r} has no pandas baseline in this benchmark; "
                             "benchmark a plain windowed family (e.g. ecom) instead")
        out[f.name] = np.asarray(v, dtype=float)
    return out


def compare(mart: pa.Table, ref: dict[str, np.ndarray]) -> tuple[float, str]:
    worst, where = 0.0, ""
    for name, v in ref.items():
        m = mart.column(name).to_numpy(zero_copy_only=False).astype(float)
        both_nan = np.isnan(m) & np.isnan(v)
        diff = np.where(both_nan, 0.0, np.abs(m - v) / np.maximum(1.0, np.abs(v)))
        diff = np.where(np.isnan(diff), np.inf, diff)  # one missing, the other not
        d = float(diff.max()) if len(diff) else 0.0
        if d > worst:
            worst, where = d, name
    return worst, where


# ------------------------------------------------------------------------------------------------- main
def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--customers", type=int, default=100_000)
    ap.add_argument("--months", type=int, default=24)
    ap.add_argument("--seed", type=int, default=42)
    ap.add_argument("--lake", default=None, help="lake root (default /tmp/feature_bench_<customers>)")
    ap.add_argument("--family", default="ecom", help="catalog family benchmarked (default ecom, 1,541 features)")
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--shard-rows", type=int, default=None, help="spine rows per shard (default: catalog setting)")
    ap.add_argument("--skip-pandas", action="store_true")
    args = ap.parse_args(argv)
    lake = Path(args.lake or f"/tmp/feature_bench_{args.customers}")
    fam = catalog().families[args.family]
    if fam.asof:
        raise SystemExit("choose a family without `asof` (the pandas reference implements plain windows)")
    prepare_lake(lake, args.customers, args.months, args.seed, args.family)
    long_sql = compiled_long_sql(lake, fam)
    from lake.layout import LakeLayout

    con = duckdb.connect(str(LakeLayout(root=lake).database), read_only=True)
    con.execute(f"SET threads = {args.threads}").fetchall()
    spine_sql = "select * from features.feat_spine"
    source = (f"features_work.{fam.source}" if fam.source.startswith("feat_src_") else f"staging.{fam.source}")
    cols = [c for c in _source_columns(fam) if c in {d[0] for d in con.execute(f"select * from {source} limit 0").description}]
    total = con.execute(f"select count(*) from ({spine_sql})").fetchall()[0][0]
    n_src = con.execute(f"select count(*) from {source}").fetchall()[0][0]
    shards = n_shards(total, args.shard_rows)
    print(f"\nlake {lake}: spine {total:,} rows, {source} {n_src:,} rows; family {fam.name}: "
          f"{len(fam.features):,} features; {shards} shards; {args.threads} DuckDB threads", flush=True)

    t = time.perf_counter()
    con.execute("select " + ", ".join(f"count({c})" for c in ["customer_id", *cols]) + f" from {source}").fetchall()
    t_scan = time.perf_counter() - t
    t = time.perf_counter()
    lb = "" if fam.lookback is None else f" and e.{fam.time} >= s.obs_at - interval {fam.lookback} day"
    n_join = con.execute(f"select count(*) from ({spine_sql}) s join {source} e on e.customer_id = s.customer_id "
                         f"and e.{fam.time} < s.obs_at{lb}").fetchall()[0][0]
    t_join = time.perf_counter() - t

    timings = {"mart_sql": 0.0, "mart_reshape": 0.0, "mart_write": 0.0, "pandas_load": 0.0, "pandas_compute": 0.0,
               "dense_s": 0.0, "columns_s": 0.0}
    worst, worst_name = 0.0, ""
    pool: dict = {}
    out = lake / "_bench_out" / f"{fam.table}.parquet"
    out.parent.mkdir(parents=True, exist_ok=True)
    writer = None
    rows = 0
    con.execute(f"SET VARIABLE features_nshards = {shards}").fetchall()
    _hugepages(False)  # as features.engine.iter_family does for the dbt model
    for i in range(shards):
        con.execute(f"SET VARIABLE features_shard = {i}").fetchall()
        t = time.perf_counter()
        keys = con.sql(_spine_keys_sql(spine_sql)).to_arrow_table().cast(key_schema())
        lt = con.sql(f"select * from ({long_sql})").to_arrow_table()
        long = {c: lt.column(c).to_numpy() for c in lt.column_names}
        t1 = time.perf_counter()
        table = reshape(fam, keys, long, timings=timings, pool=pool)
        t2 = time.perf_counter()
        timings["mart_sql"] += t1 - t
        timings["mart_reshape"] += t2 - t1
        if writer is None:
            writer = pq.ParquetWriter(out, table.schema, compression="zstd", use_dictionary=["customer_id"])
        writer.write_table(table, row_group_size=table.num_rows)
        rows += table.num_rows
        timings["mart_write"] += time.perf_counter() - t2
        if not args.skip_pandas:
            t = time.perf_counter()
            spine_df = keys.to_pandas()
            src_df = con.sql(f"select customer_id, {', '.join(c for c in cols if c != 'customer_id')} from {source} "
                             f"where {shard_predicate('customer_id')}").df()
            t1 = time.perf_counter()
            ref = pandas_features(fam, spine_df, src_df)
            t2 = time.perf_counter()
            timings["pandas_load"] += t1 - t
            timings["pandas_compute"] += t2 - t1
            d, name = compare(table, ref)
            if d > worst:
                worst, worst_name = d, name
        print(f"  shard {i + 1}/{shards}: mart {sum(v for k, v in timings.items() if k in ('mart_sql', 'mart_reshape')):.1f} s, "
              f"pandas {timings['pandas_load'] + timings['pandas_compute']:.1f} s (cumulative)", flush=True)
    writer.close()
    t_write = timings["mart_write"]

    mart = timings["mart_sql"] + timings["mart_reshape"]
    print('reshape detail: dense %.2f s, columns %.2f s' % (timings['dense_s'], timings['columns_s']))
    pandas_total = timings["pandas_load"] + timings["pandas_compute"]
    cells = rows * len(fam.features)
    print(f"""
=== feature-mart benchmark: family {fam.name}, {len(fam.features):,} features x {rows:,} observations ({cells / 1e6:,.0f}M values)
bare DuckDB scan of {source} ({n_src:,} rows, {len(cols) + 1} columns) : {t_scan:8.2f} s
point-in-time join only (spine x source, {n_join:,} pairs, counted) : {t_join:8.2f} s
mart: generated SQL (long aggregate)                        : {timings['mart_sql']:8.2f} s
mart: numpy reshape to wide                                 : {timings['mart_reshape']:8.2f} s
mart total (in memory)                                      : {mart:8.2f} s
mart Parquet write (pyarrow, zstd, {out.stat().st_size / 1e6:,.0f} MB; the dbt model overlaps it) : {t_write:8.2f} s""")
    if not args.skip_pandas:
        print(f"""pandas: load spine + source shard                          : {timings['pandas_load']:8.2f} s
pandas: merge + filter + groupby per slice x window         : {timings['pandas_compute']:8.2f} s
pandas total                                                : {pandas_total:8.2f} s
same features: max relative difference {worst:.2e} ({worst_name or '-'})
ratio pandas / mart (in memory)                             : {pandas_total / mart:8.1f} x""")
    return 0


if __name__ == "__main__":
    sys.exit(main())
