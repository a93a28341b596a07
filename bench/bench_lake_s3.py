"""Benchmark: the same asset graph on the same small world, lake on a local folder vs lake on S3 (a moto
server on 127.0.0.1 in a subprocess, spoken to over HTTP), wall time of each run in the same session.

    .venv/bin/python bench/bench_lake_s3.py                    # 2,000 customers, 14 months
    .venv/bin/python bench/bench_lake_s3.py --customers 5000 --months 24

Graph: the two jobs of `make materialize`: materialize_everything (landing -> bronze (+ GE checks) -> dbt
staging / marts / labels / features -> feature stats -> models and registry -> monitoring -> strategy
backtest) and score_and_export for the world's last business date (scores -> partner exports into the lake).
Results also go to bench/results/lake_s3.json. The ratio s3 / local is the figure to compare; absolute times
depend on load.
"""
from __future__ import annotations

import argparse
import json
import os
import shutil
import socket
import subprocess
import sys
import tempfile
import time
import urllib.request
import uuid
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
BUSINESS_DATE = "2026-09-30"  # the simulated world's last day (the Makefile's BUSINESS_DATE)


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _moto(port: int) -> subprocess.Popen:
    server = subprocess.Popen([str(Path(sys.executable).parent / "moto_server"), "-H", "127.0.0.1", "-p", str(port)],
                              stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    for _ in range(100):
        try:
            urllib.request.urlopen(f"http://127.0.0.1:{port}/moto-api/", timeout=1)
            return server
        except OSError:
            time.sleep(0.1)
    server.kill()
    raise SystemExit("moto_server did not start")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--customers", type=int, default=2000)
    ap.add_argument("--months", type=int, default=14)  # models need matured loans: 14 months at least
    ap.add_argument("--seed", type=int, default=11)
    args = ap.parse_args()

    port = _free_port()
    server = _moto(port)
    work = Path(tempfile.mkdtemp(prefix="bench_lake_s3_"))
    os.environ.update(AWS_ACCESS_KEY_ID="testing", AWS_SECRET_ACCESS_KEY="testing", AWS_DEFAULT_REGION="us-east-1",
                      AWS_ENDPOINT_URL=f"http://127.0.0.1:{port}", LAKE_LOCAL_DIR=str(work / "local"), DO_NOT_TRACK="1")
    try:
        import boto3
        import dagster as dg

        from lake import storage
        from lake.layout import LakeLayout
        from orchestration.dbt_cli import prepare_manifest
        from orchestration.definitions import build_definitions
        from simulator import generate_world

        prepare_manifest()
        bucket = f"bench-{uuid.uuid4().hex[:10]}"
        boto3.client("s3").create_bucket(Bucket=bucket)
        world = LakeLayout(root=work / "world")  # generated locally, then uploaded
        generate_world(world.landing, world.truth, customers=args.customers, months=args.months,
                       seed=args.seed, log=None)
        local = LakeLayout(root=work / "local_lake")
        shutil.copytree(world.landing, local.landing)
        remote = LakeLayout.at(f"s3://{bucket}/bench")
        t = time.perf_counter()
        files = storage.put_folder(world.landing, remote.landing)
        upload_s = time.perf_counter() - t
        out = {"customers": args.customers, "months": args.months, "landing_files": files,
               "upload_landing_s": round(upload_s, 1)}
        for name, lake in (("local", local), ("s3", remote)):
            os.environ["LAKE_ROOT"] = str(lake.root)  # what `LAKE_ROOT=... make materialize` sets
            defs = build_definitions(str(lake.root))
            t = time.perf_counter()
            for job, partition in (("materialize_everything", None), ("score_and_export", BUSINESS_DATE)):
                result = defs.resolve_job_def(job).execute_in_process(partition_key=partition, raise_on_error=True,
                                                                      instance=dg.DagsterInstance.ephemeral())
                assert result.success, job
            out[f"{name}_s"] = round(time.perf_counter() - t, 1)
            print(f"{name:<6} {out[f'{name}_s']:8.1f} s", flush=True)
        out["s3_over_local"] = round(out["s3_s"] / out["local_s"], 2)
        out["load_avg"] = os.getloadavg()
        print(json.dumps(out, indent=2))
        dest = REPO / "bench" / "results" / "lake_s3.json"
        dest.parent.mkdir(parents=True, exist_ok=True)
        dest.write_text(json.dumps(out, indent=2))
    finally:
        server.kill()
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
