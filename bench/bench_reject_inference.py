"""Benchmark: reject inference for the A-card, judged on the through-the-door population with the simulator truth.

    .venv/bin/python bench/bench_reject_inference.py --lake data            # an existing lake (after make demo)
    .venv/bin/python bench/bench_reject_inference.py --customers 20000      # simulate + build a fresh lake first

For the accepted-only model and each method (fuzzy augmentation, parcelling, reweighting) it prints, on every
application of the out-of-time window (booked and declined): the AUC against the realised counterfactual
outcome (with a bootstrap interval), the AUC against the true probability, the AUC on the booked and on the
declined alone, and the mean predicted vs true bad rate of the declined. The oracle row scores with the true
probability itself. The best method (by AUC against the true probability) is registered as an A-card challenger
unless --no-register. Results also go to bench/results/reject_inference.json.
"""
from __future__ import annotations

import argparse
import json
import sys
import tempfile
import time
from pathlib import Path

import pandas as pd

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

from lake.layout import LakeLayout  # noqa: E402
from models.lake_reject_inference import DEFAULT_METHODS, run_reject_inference  # noqa: E402


def build_lake(root: Path, customers: int, months: int, seed: int) -> LakeLayout:
    """Simulate a world and run the asset graph up to the feature mart (the models group is not needed)."""
    import dagster as dg

    from orchestration.definitions import build_definitions, unpartitioned
    from simulator import generate_world

    lake = LakeLayout(root=root)
    generate_world(lake.landing, lake.truth, customers=customers, months=months, seed=seed, log=None)
    selection = unpartitioned - dg.AssetSelection.groups("models")
    result = build_definitions(str(root), selection=selection).resolve_job_def("selected").execute_in_process()
    if not result.success:
        raise SystemExit("building the lake failed: see the Dagster log above")
    return lake


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--lake", type=Path, help="an existing lake root (default: build one in a temp folder)")
    ap.add_argument("--customers", type=int, default=20000)
    ap.add_argument("--months", type=int, default=24)
    ap.add_argument("--seed", type=int, default=42)
    ap.add_argument("--methods", nargs="+", default=list(DEFAULT_METHODS))
    ap.add_argument("--model-type", default=None, help="lightgbm (default: the spec's champion type) or scorecard")
    ap.add_argument("--n-boot", type=int, default=200)
    ap.add_argument("--no-register", action="store_true")
    ap.add_argument("--out", type=Path, default=REPO / "bench" / "results" / "reject_inference.json")
    args = ap.parse_args()

    t0 = time.perf_counter()
    if args.lake:
        lake, built = LakeLayout(root=args.lake.resolve()), None
    else:
        tmp = Path(tempfile.mkdtemp(prefix="bench_ri_"))
        lake = build_lake(tmp / "lake", args.customers, args.months, args.seed)
        built = round(time.perf_counter() - t0, 1)
        print(f"lake built in {built}s at {lake.root}")
    t1 = time.perf_counter()
    report = run_reject_inference(lake, methods=args.methods, model_type=args.model_type,
                                  register=not args.no_register, n_boot=args.n_boot)
    seconds = round(time.perf_counter() - t1, 1)
    with pd.option_context("display.width", 250, "display.max_columns", 30):
        print(report.table.round(4).to_string(index=False))
    print(json.dumps(report.info, indent=1))
    print(f"best method: {report.best_method}; challenger: {report.challenger_version or 'not registered'}; "
          f"reject inference {seconds}s")
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps({
        "lake": str(lake.root), "customers": None if args.lake else args.customers, "months": args.months,
        "seed": args.seed, "build_seconds": built, "reject_inference_seconds": seconds, **report.info,
        "best_method": report.best_method, "challenger_version": report.challenger_version,
        "fits": {m: f.info for m, f in report.fits.items()},
        "table": json.loads(report.table.to_json(orient="records")),
    }, indent=2, default=str))
    print(f"wrote {args.out}")


if __name__ == "__main__":
    main()
