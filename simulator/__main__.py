"""CLI: python -m simulator --customers 20000 --seed 42 --months 24 --landing data/landing --truth data/truth"""
from __future__ import annotations

import argparse
import json
import sys
import time


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(prog="python -m simulator", description=__doc__)
    ap.add_argument("--customers", type=int, default=20_000)
    ap.add_argument("--months", type=int, default=24)
    ap.add_argument("--seed", type=int, default=42)
    ap.add_argument("--end-date", default="2026-09-30")
    ap.add_argument("--landing", default="data/landing")
    ap.add_argument("--truth", default="data/truth")
    ap.add_argument("--mess", default="", help="comma-separated mess kinds to inject after generating "
                    "(or 'all'); see simulator.mess.KINDS")
    ap.add_argument("--mess-only", action="store_true", help="only inject mess into an existing landing zone")
    args = ap.parse_args(argv)

    from .mess import KINDS, inject_mess
    from .world import generate_world

    kinds = list(KINDS) if args.mess == "all" else [k for k in args.mess.split(",") if k]
    unknown = [k for k in kinds if k not in KINDS]
    if unknown:
        ap.error(f"unknown mess kinds {unknown}; choose from {list(KINDS)}")
    if not args.mess_only:
        t0 = time.perf_counter()
        s = generate_world(args.landing, args.truth, customers=args.customers, months=args.months,
                           seed=args.seed, end_date=args.end_date)
        el = time.perf_counter() - t0
        print(json.dumps({"rows": s["rows"], "files": s["files"], "truth": s["truth"],
                          "elapsed_s": round(el, 2), "customers_per_s": round(args.customers / el, 1)},
                         indent=2, ensure_ascii=False))
    if kinds:
        for item in inject_mess(args.landing, kinds, seed=args.seed):
            print(f"mess {item['kind']}: {item['description']}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
