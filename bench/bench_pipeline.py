"""The whole pipeline step by step on one simulated world: wall time, CPU time and peak RSS of every step.

    python bench/bench_pipeline.py --customers 20000             # a fresh lake in /tmp/pipeline_bench_20000
    python bench/bench_pipeline.py --customers 100000 --skip-training   # scoring needs champions: skipped too
    python bench/bench_pipeline.py --customers 20000 --from-step marts  # reuse the lake's world, bronze, staging
    DASK_SCHEDULER_ADDRESS=tcp://host:8786 python bench/bench_pipeline.py ...   # mart + scoring on a cluster

Steps, each the library call the Dagster assets make (orchestration/* is wiring only):
  world     simulator.generate_world (landing files)
  ingest    orchestration.ingest.pipeline.ingest_table per contract (landing -> bronze)
  staging   dbt seed + dbt run --select staging
  marts     dbt run --select marts
  mart      dbt run --select features (the feature mart: inputs by shard, families, graph, cross)
  labels    dbt run --select labels (on the spine)
  stats     features.stats.compute_feature_stats + write_stats
  training  models.lake_training.train_label per label (LightGBM + scorecard, single node, early stopping)
  scoring   models.batch.score_business_date (by customer shard, on the feature mart's executor)
  export    exports.exporter.export_partition per partner spec (local object store)
The Great Expectations checks and the monitoring backfill of `make demo` are not in this list. Printed: a
table of the steps with the load average at the start and end of each (the machine may be shared: say so
beside any figure you quote).
"""
from __future__ import annotations

import argparse
import os
import resource
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "bench"))
from bench_mart_shards import PeakRSS  # noqa: E402  (one peak-memory sampler for the benchmarks)

BUSINESS_DATE = "2026-09-30"  # the simulated world ends on this date (Makefile)


class Step:
    """Times one step: wall, CPU of this process and its children, peak RSS (process tree, sampled)."""

    def __init__(self, name: str, rows: list):
        self.name, self.rows = name, rows

    def __enter__(self):
        self.rss = PeakRSS().__enter__()
        self.load0 = os.getloadavg()[0]
        self.cpu0 = self._cpu()
        self.t0 = time.perf_counter()
        print(f"--- {self.name} (load {self.load0:.1f})", flush=True)
        return self

    @staticmethod
    def _cpu() -> float:
        me, kids = resource.getrusage(resource.RUSAGE_SELF), resource.getrusage(resource.RUSAGE_CHILDREN)
        return me.ru_utime + me.ru_stime + kids.ru_utime + kids.ru_stime

    def __exit__(self, exc_type, *exc):
        wall = time.perf_counter() - self.t0
        self.rss.__exit__(exc_type, *exc)
        self.rows.append({"step": self.name, "wall_s": wall, "cpu_s": self._cpu() - self.cpu0,
                          "peak_gb": self.rss.peak / 2**30, "load0": self.load0, "load1": os.getloadavg()[0],
                          "ok": exc_type is None})
        print(f"    {self.name}: {wall:.1f} s", flush=True)


STEPS = ["world", "ingest", "staging", "marts", "mart", "labels", "stats", "training", "scoring", "export"]


def dbt(cfg, *select: str, command: str = "run") -> None:
    from orchestration.dbt_cli import DBT_DIR, DBT_EXECUTABLE, dbt_env

    sel = ["--select", *select] if select else []
    cmd = [DBT_EXECUTABLE, command, *sel, "--project-dir", str(DBT_DIR), "--profiles-dir", str(DBT_DIR),
           "--target-path", str(cfg.dbt_target), "--log-path", str(cfg.dbt_target.parent / "logs")]
    proc = subprocess.run(cmd, env={**os.environ, **dbt_env(cfg)}, cwd=DBT_DIR, capture_output=True, text=True)
    if proc.returncode != 0:
        raise SystemExit(f"dbt {command} {' '.join(select)} failed:\n{proc.stdout[-4000:]}")


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--customers", type=int, default=20_000)
    ap.add_argument("--months", type=int, default=24)
    ap.add_argument("--seed", type=int, default=42)
    ap.add_argument("--lake", default=None, help="lake root (default /tmp/pipeline_bench_<customers>; emptied "
                                                 "unless --from-step)")
    ap.add_argument("--from-step", choices=STEPS, default="world", help="skip the steps before this one (their "
                                                                        "output must be in the lake)")
    ap.add_argument("--skip-training", action="store_true", help="also skips scoring and export")
    args = ap.parse_args(argv)

    from lake import storage
    from lake.layout import LakeLayout

    lake = Path(args.lake or f"/tmp/pipeline_bench_{args.customers}")
    if args.from_step == "world":
        storage.remove_tree(lake)
    todo = set(STEPS[STEPS.index(args.from_step):])
    cfg = LakeLayout(root=lake)
    os.environ["LAKE_ROOT"] = str(lake)  # the dbt feature models read the lake layout from the environment
    rows: list[dict] = []
    load_start = os.getloadavg()
    print(f"pipeline bench: {args.customers:,} customers x {args.months} months -> {lake}; {os.cpu_count()} cores; "
          f"load average {load_start[0]:.1f}", flush=True)

    if "world" in todo:
        with Step("world", rows):
            from simulator import generate_world

            generate_world(cfg.landing, cfg.truth, customers=args.customers, months=args.months, seed=args.seed,
                           log=lambda *_: None)
    if "ingest" in todo:
        with Step("ingest", rows):
            from lake.contracts import load_contracts
            from orchestration.ingest.pipeline import ingest_table

            for contract in load_contracts().values():
                ingest_table(contract, cfg, "bench-key", progress=lambda _: None)
    if "staging" in todo:
        with Step("staging", rows):
            dbt(cfg, command="seed")
            dbt(cfg, "staging")
    for step, selector in (("marts", "marts"), ("mart", "features"), ("labels", "labels")):  # dbt selections
        if step in todo:
            with Step(step, rows):
                dbt(cfg, selector)
    if "stats" in todo:
        with Step("stats", rows):
            from features.stats import compute_feature_stats, write_stats

            stats, summary, labels = compute_feature_stats(cfg, log=lambda *_: None)
            write_stats(cfg, stats, summary, labels)
    if not args.skip_training:
        from models.lake_inputs import model_specs

        if "training" in todo:
            with Step("training", rows):
                from models.lake_training import train_label

                for label in model_specs()["labels"]:
                    train_label(cfg, label, log=lambda *_: None)
        with Step("scoring", rows):
            from models.batch import score_business_date

            scored = score_business_date(cfg, BUSINESS_DATE, log=lambda *_: None)
        with Step("export", rows):
            from exports.exporter import export_partition
            from exports.spec import load_specs
            from exports.storage import store_from_env

            store = store_from_env(backend="local", local_root=str(cfg.exports))
            exported = 0
            for spec in load_specs():
                exported += export_partition(spec, BUSINESS_DATE, store, lake_root=cfg.root,
                                             log=lambda *_: None).manifest["row_count"]

    total_wall = sum(r["wall_s"] for r in rows)
    print(f"\n=== pipeline, {args.customers:,} customers x {args.months} months, {os.cpu_count()} cores ===")
    print(f"{'step':<10} {'wall s':>8} {'share':>6} {'CPU s':>8} {'peak RSS GB':>12} {'load start/end':>15}")
    for r in rows:
        print(f"{r['step']:<10} {r['wall_s']:8.1f} {r['wall_s'] / total_wall:6.0%} {r['cpu_s']:8.1f} "
              f"{r['peak_gb']:12.2f} {r['load0']:7.1f}/{r['load1']:<7.1f}")
    print(f"{'total':<10} {total_wall:8.1f}")
    if not args.skip_training:
        print(f"scored rows: {len(scored.scored):,} on {scored.n_shards} shard(s), {scored.runner}; "
              f"exported rows: {exported:,}")
    print(f"load average at start {load_start[0]:.1f}, at end {os.getloadavg()[0]:.1f} (1-min)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
