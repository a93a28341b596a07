"""Whole feature mart by customer shard: in-process vs a 2-worker Dask LocalCluster vs plain pandas, one run.

    python bench/bench_mart_shards.py --customers 100000                 # builds (or reuses) a simulated lake
    python bench/bench_mart_shards.py --customers 20000 --families ecom,tl
    python bench/bench_mart_shards.py --customers 100000 --prepare-only  # world + ingest + dbt inputs only

The lake gets the mart's inputs from dbt (staging, feat_src_*, feat_spine); then every family table is built
with features.shards.build_family_table (what the dbt models run) twice from the same lakehouse.duckdb:
  * in-process : the embedded default, runner_from_env() with no cluster (FEATURES_WORKERS worker processes);
  * dask       : a LocalCluster of 2 worker processes x 1 thread (its start-up timed apart), client.map;
and the part files of the two runs are compared. The pandas baseline (bench/bench_feature_mart.py's merge +
filter + groupby per slice and window) computes the `ecom` family from the same shard files, compared feature
by feature with the mart. Printed: wall, peak RSS (this process + its children, sampled), rows, features, and
the ratios, all measured in this run; plus the machine's load average before and after.
"""
from __future__ import annotations

import argparse
import os
import subprocess
import sys
import threading
import time
from pathlib import Path

import duckdb
import numpy as np
import pyarrow.parquet as pq

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "bench"))

from features.catalog import catalog  # noqa: E402


class PeakRSS:
    """Peak resident memory of this process and its children (Dask worker processes), sampled every 0.2 s."""

    def __init__(self):
        import psutil

        self.proc = psutil.Process()
        self.peak = 0
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def _sample(self) -> int:
        total = 0
        for p in [self.proc, *self.proc.children(recursive=True)]:
            try:
                total += p.memory_info().rss
            except Exception:  # noqa: BLE001 - a child that just exited
                pass
        return total

    def _run(self):
        while not self._stop.is_set():
            self.peak = max(self.peak, self._sample())
            time.sleep(0.2)

    def __enter__(self):
        self.peak = self._sample()
        self._thread.start()
        return self

    def __exit__(self, *exc):
        self._stop.set()
        self._thread.join()


def input_models() -> list[str]:
    cat = catalog()
    models = {"feat_spine", "feat_src_installments"}
    models |= {f.source for f in cat.families.values() if f.source.startswith("feat_src_")}
    return sorted(models)


def prepare_lake(lake: Path, customers: int, months: int, seed: int) -> None:
    """Simulated world -> bronze -> dbt staging + the mart's inputs (reused when present)."""
    from lake.contracts import load_contracts
    from lake.layout import LakeLayout
    from orchestration.dbt_cli import DBT_DIR, DBT_EXECUTABLE, dbt_env
    from orchestration.ingest.pipeline import ingest_table

    cfg = LakeLayout(root=lake)
    marker = lake / "_bench_inputs.done"
    if marker.exists():
        return
    if not cfg.landing.exists():
        from simulator import generate_world

        t = time.perf_counter()
        generate_world(cfg.landing, cfg.truth, customers=customers, months=months, seed=seed)
        print(f"world: {customers:,} customers in {time.perf_counter() - t:.0f} s", flush=True)
    if not (lake / "_bench_ingest.done").exists():
        t = time.perf_counter()
        for contract in load_contracts().values():
            ingest_table(contract, cfg, "bench-key", progress=lambda _: None)
        (lake / "_bench_ingest.done").write_text("ok")
        print(f"ingest: {time.perf_counter() - t:.0f} s", flush=True)
    env = {**os.environ, **dbt_env(cfg)}
    cmd = [DBT_EXECUTABLE, "run", "--select", "staging", *input_models(),
           "--project-dir", str(DBT_DIR), "--profiles-dir", str(DBT_DIR),
           "--target-path", str(cfg.dbt_target), "--log-path", str(cfg.dbt_target.parent / "logs")]
    t = time.perf_counter()
    proc = subprocess.run(cmd, env=env, cwd=DBT_DIR, capture_output=True, text=True)
    if proc.returncode != 0:
        raise SystemExit(proc.stdout[-4000:])
    marker.write_text("ok")
    print(f"dbt staging + mart inputs: {time.perf_counter() - t:.0f} s", flush=True)


def relations(con, names) -> dict[str, str]:
    out = {}
    for name in names:
        schema = con.execute("select table_schema from information_schema.tables where table_name = ?",
                             [name]).fetchall()
        if not schema:
            raise SystemExit(f"{name} is not in the lake: run with --prepare-only first")
        out[name] = f'select * from "{schema[0][0]}"."{name}"'
    return out


def build_mart(con, families, out: Path, runner, n: int) -> dict:
    from features.shards import build_family_table, family_inputs

    import psutil

    me = psutil.Process()

    def cpu() -> float:  # this process and its worker processes: the run's whole cost, whatever else loads the machine
        total = 0.0
        for p in [me, *me.children(recursive=True)]:
            try:
                t = p.cpu_times()
                total += t.user + t.system
            except psutil.Error:  # a child that just exited
                pass
        return total

    res = {}
    for name in families:
        fam = catalog().families[name]
        t, c = time.perf_counter(), cpu()
        m = build_family_table(name, con, relations(con, family_inputs(name)), out / f"{fam.table}.parquet",
                               out / "_shards", runner, n=n, incremental=False)
        res[name] = {"wall_s": time.perf_counter() - t, "cpu_s": cpu() - c, "rows": m["rows"], "features": m["features"],
                     "partition_s": m["partition_inputs_s"], "tasks": m["task_seconds"]}
        print(f"  {runner.kind:>10} {fam.table:<12} {m['features']:>5} features x {m['rows']:>9,} rows: "
              f"{res[name]['wall_s']:6.1f} s (inputs by shard {m['partition_inputs_s']:.1f} s; task time "
              + ", ".join(f"{k} {v:.1f}" for k, v in m["task_seconds"].items()) + ")", flush=True)
    return res


def part_difference(a: Path, b: Path) -> float:
    """Largest relative difference between the part files of two builds of one table (inf when the parts,
    keys or nulls differ). DuckDB sums in parallel threads in a different order, so floats may differ in
    the last bits between runs with different thread counts."""
    from features.shards import parquet_files

    fa, fb = parquet_files(a), parquet_files(b)
    if [p.name for p in fa] != [p.name for p in fb]:
        return float("inf")
    worst = 0.0
    for x, y in zip(fa, fb):
        ta, tb = pq.read_table(x), pq.read_table(y)
        if ta.column_names != tb.column_names or ta.num_rows != tb.num_rows:
            return float("inf")
        for col in ta.column_names:
            if ta[col].equals(tb[col]):
                continue
            if ta[col].null_count != tb[col].null_count or not ta[col].type.equals(tb[col].type) or col in (
                    "obs_id", "customer_id", "obs_at"):
                return float("inf")
            u = ta[col].to_numpy(zero_copy_only=False).astype(float)
            v = tb[col].to_numpy(zero_copy_only=False).astype(float)
            with np.errstate(invalid="ignore"):
                d = np.nanmax(np.abs(u - v) / np.maximum(1.0, np.abs(v)))
            worst = max(worst, float(d))
    return worst


def pandas_baseline(con, out: Path, family: str = "ecom") -> tuple[float, float, str]:
    """bench_feature_mart's pandas reference on every shard of the inputs laid out by the in-process run."""
    import pyarrow as pa

    from bench_feature_mart import _source_columns, compare, pandas_features
    from features.shards import parquet_files, spine_keys_sql

    fam = catalog().families[family]
    folder = out / "_shards"
    cols = [c for c in _source_columns(fam) if c != "customer_id"]
    src_cols = {d[0] for d in con.execute(f"select * from read_parquet('{folder / fam.source}/shard=0/*.parquet') "
                                          "limit 0").description}
    cols = [c for c in cols if c in src_cols]
    parts = parquet_files(out / f"{fam.table}.parquet")
    n = len(parts)
    total, worst, where = 0.0, 0.0, ""
    local = duckdb.connect()
    local.execute(f"SET VARIABLE features_nshards = {n}").fetchall()
    for k, part in enumerate(parts):
        local.execute(f"SET VARIABLE features_shard = {k}").fetchall()
        t = time.perf_counter()
        keys = local.sql(spine_keys_sql(f"read_parquet('{folder / 'feat_spine'}/shard={k}/*.parquet')")).df()
        src = local.sql(f"select customer_id, {', '.join(cols)} from "
                        f"read_parquet('{folder / fam.source}/shard={k}/*.parquet')").df()
        ref = pandas_features(fam, keys, src)
        total += time.perf_counter() - t
        mart = pq.read_table(part)
        d, name = compare(mart, ref)
        if d > worst:
            worst, where = d, name
        del ref, mart
        assert isinstance(keys, object) and pa is not None
    return total, worst, where


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--customers", type=int, default=100_000)
    ap.add_argument("--months", type=int, default=24)
    ap.add_argument("--seed", type=int, default=42)
    ap.add_argument("--lake", default=None, help="lake root (default /tmp/mart_bench_<customers>)")
    ap.add_argument("--families", default="all", help="comma-separated catalog families (default: all)")
    ap.add_argument("--shards", type=int, default=None, help="shards (default: the catalog's shard_rows)")
    ap.add_argument("--workers", type=int, default=2)
    ap.add_argument("--worker-memory", default="5GB")
    ap.add_argument("--skip-dask", action="store_true")
    ap.add_argument("--skip-pandas", action="store_true")
    ap.add_argument("--prepare-only", action="store_true")
    args = ap.parse_args(argv)
    lake = Path(args.lake or f"/tmp/mart_bench_{args.customers}")
    load0 = os.getloadavg()
    t = time.perf_counter()
    prepare_lake(lake, args.customers, args.months, args.seed)
    if args.prepare_only:
        print(f"prepared {lake} in {time.perf_counter() - t:.0f} s")
        return 0
    from features.engine import n_shards
    from features.executor import DaskRunner, runner_from_env

    families = list(catalog().families) if args.families == "all" else args.families.split(",")
    from lake.layout import LakeLayout

    con = duckdb.connect(str(LakeLayout(root=lake).database), read_only=True)
    con.execute(f"SET threads = {os.cpu_count()}").fetchall()
    spine_rows = con.execute("select count(*) from features.feat_spine").fetchall()[0][0]
    n = args.shards or n_shards(spine_rows)
    n_features = sum(len(catalog().families[f].features) for f in families)
    print(f"lake {lake}: spine {spine_rows:,} rows; {len(families)} families, {n_features:,} features; {n} shards; "
          f"{os.cpu_count()} cores; load average {load0[0]:.1f}", flush=True)
    out_a, out_b = lake / "_bench_inproc", lake / "_bench_dask"
    results = {}
    with PeakRSS() as rss:
        t = time.perf_counter()
        runner_a = runner_from_env({})  # what the dbt models get with no cluster configured
        print(f"in-process runner: {runner_a.describe()}", flush=True)
        fams_a = build_mart(con, families, out_a, runner_a, n)
        results["in-process"] = (time.perf_counter() - t, rss.peak, fams_a)
    if not args.skip_dask:
        from distributed import Client, LocalCluster

        t = time.perf_counter()
        cluster = LocalCluster(n_workers=args.workers, threads_per_worker=1, processes=True,
                               memory_limit=args.worker_memory, dashboard_address=None)
        client = Client(cluster)
        startup = time.perf_counter() - t
        with PeakRSS() as rss:
            t = time.perf_counter()
            fams_b = build_mart(con, families, out_b, DaskRunner(client), n)
            results["dask"] = (time.perf_counter() - t, rss.peak, fams_b)
        client.close()
        cluster.close()
        difference = max(part_difference(out_a / f"{catalog().families[f].table}.parquet",
                                         out_b / f"{catalog().families[f].table}.parquet") for f in families)
    pandas = None
    if not args.skip_pandas and "ecom" in families:
        with PeakRSS() as rss:
            tp, worst, where = pandas_baseline(con, out_a)
            pandas = (tp, rss.peak, worst, where)
    load1 = os.getloadavg()
    rows = results["in-process"][2][families[0]]["rows"]
    print(f"\n=== feature mart by shard: {args.customers:,} customers, {rows:,} observations, "
          f"{n_features:,} features in {len(families)} families, {n} shards ===")
    print(f"{'run':<34} {'wall s':>8} {'peak RSS GB':>12}")
    for k, (wall, peak, _) in results.items():
        print(f"{k:<34} {wall:8.1f} {peak / 2**30:12.2f}")
    cpu_a = sum(v["cpu_s"] for v in results["in-process"][2].values())
    print(f"in-process CPU time {cpu_a:.1f} s = {cpu_a / os.cpu_count():.1f} s of wall on {os.cpu_count()} idle cores "
          "(the quiet-machine bound)")
    if "dask" in results:
        print(f"{'dask LocalCluster start-up':<34} {startup:8.1f}")
        print(f"in-process / dask wall ratio: {results['in-process'][0] / results['dask'][0]:.2f}x; "
              f"in-process vs dask parts: max relative difference {difference:.1e}")
    if pandas:
        ecom_a = results["in-process"][2]["ecom"]["wall_s"]
        print(f"{'pandas baseline (ecom family)':<34} {pandas[0]:8.1f} {pandas[1] / 2**30:12.2f}")
        line = f"ecom family: pandas / mart in-process = {pandas[0] / ecom_a:.2f}x"
        if "dask" in results:
            line += f", pandas / mart dask = {pandas[0] / results['dask'][2]['ecom']['wall_s']:.2f}x"
        print(line + f"; max relative difference {pandas[2]:.1e} ({pandas[3] or '-'})")
    per = {f: results["in-process"][2][f]["wall_s"] for f in families}
    top = sorted(per.items(), key=lambda kv: -kv[1])[:5]
    print("where the in-process time goes (top families): " + ", ".join(f"{f} {s:.1f} s" for f, s in top))
    agg: dict = {}
    for f in families:
        for k, v in results["in-process"][2][f]["tasks"].items():
            agg[k] = agg.get(k, 0.0) + v
        agg["inputs_by_shard_s"] = agg.get("inputs_by_shard_s", 0.0) + results["in-process"][2][f]["partition_s"]
    print("in-process time by step (s): " + ", ".join(f"{k} {v:.1f}" for k, v in agg.items()))
    print(f"load average before {load0[0]:.1f} / after {load1[0]:.1f} (1-min), {os.cpu_count()} cores")
    return 0 if ("dask" not in results or difference < 1e-9) else 1


if __name__ == "__main__":
    np.seterr(all="ignore")
    sys.exit(main())
