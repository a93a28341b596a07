"""Timings of the modelling library on synthetic data (not part of the test suite).

    python -m models.bench                       # all: train 50k x 500, select 50k x 3000, score 1M
    python -m models.bench train select score    # a subset
    python -m models.bench --rows 50000 --wide 3000 --score-rows 1000000

Prints one line per measurement: wall seconds and process CPU seconds (the CPU time of worker
processes is not included), so timings on a shared machine can be judged.
"""
from __future__ import annotations

import argparse
import resource
import tempfile
import time

import numpy as np
import pandas as pd


def _timed(label: str, fn):
    t0, c0 = time.perf_counter(), time.process_time()
    out = fn()
    wall, cpu = time.perf_counter() - t0, time.process_time() - c0
    rss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    print(f"{label:<58s} wall {wall:7.1f} s   cpu {cpu:7.1f} s   max rss {rss:7.0f} MB", flush=True)
    return out


def main(argv=None) -> None:
    from models.synthetic import make_credit_data

    ap = argparse.ArgumentParser()
    ap.add_argument("what", nargs="*", default=["train", "select", "score"])
    ap.add_argument("--rows", type=int, default=50_000)
    ap.add_argument("--features", type=int, default=500)
    ap.add_argument("--wide", type=int, default=3000)
    ap.add_argument("--score-rows", type=int, default=1_000_000)
    args = ap.parse_args(argv)
    what = set(args.what)

    if "train" in what or "score" in what:
        from models.train import train_model

        df = _timed(f"make data {args.rows} x {args.features}",
                    lambda: make_credit_data(args.rows, args.features, n_informative=40, seed=1, dtype=np.float32))
        results = {}
        for mt in ("lightgbm", "scorecard"):
            r = _timed(f"train_model {mt} {args.rows} x {args.features}",
                       lambda mt=mt: train_model(df, "bad", time_column="month", model_type=mt, label="a_card",
                                                 oracle_column="true_prob", exclude=["partner_id"]))
            print(f"    {mt}: features {r.metrics['n_features']}, auc_oot {r.metrics['auc_oot']:.4f}, "
                  f"oracle {r.metrics['oracle_auc']:.4f}, steps " + ", ".join(f"{k} {v:.1f}s" for k, v in r.timings.items()),
                  flush=True)
            results[mt] = r

    if "select" in what:
        from models.selection import select_features

        wide = _timed(f"make data {args.rows} x {args.wide}",
                      lambda: make_credit_data(args.rows, args.wide, n_informative=60, seed=2, dtype=np.float32))
        train = wide[wide["month"] < wide["month"].max() - pd.DateOffset(months=2)]
        oot = wide[wide["month"] >= wide["month"].max() - pd.DateOffset(months=2)]
        for label, opts in [("selection (prescreen top-400, IV, corr, cap 50)", {"max_features": 50}),
                            ("selection (cheap stages only: missing/constant/PSI)",
                             {"min_iv": None, "max_corr": None, "prescreen_top_k": None})]:
            res = _timed(f"{label} {len(train)} x {args.wide}",
                         lambda o=opts: select_features(train, "bad", exclude=["customer_id", "month", "partner_id", "true_prob"],
                                                        oot_frame=oot, **o))
            print("    steps: " + ", ".join(f"{k} {v:.1f}s" for k, v in res.timings.items())
                  + "; " + ", ".join(f"{k} {v}" for k, v in res.summary().items() if v), flush=True)
        del wide, train, oot

    if "score" in what:
        from models.grading import calibrate_registered
        from models.registry import ModelRegistry
        from models.scoring import score_frame
        from models.strategy import load_strategy

        reps = int(np.ceil(args.score_rows / len(df)))
        big = pd.concat([df] * reps, ignore_index=True).iloc[:args.score_rows]
        rng = np.random.default_rng(0)
        n = len(big)
        big = big.assign(age=rng.integers(18, 65, n), blacklist_hit=0, telco_name_match=1, id_bureau_hit=1,
                         id_name_match=1, id_number_match=1, id_phone_match=1, id_card_match=1,
                         inquiries_30d=rng.poisson(1.5, n), open_loans_other=rng.poisson(2, n), bureau_tradelines=3,
                         declared_income=rng.lognormal(8.5, 0.5, n))
        strategy = load_strategy()
        with tempfile.TemporaryDirectory() as tmp:
            reg = ModelRegistry(tmp)
            for mt, r in results.items():
                v = reg.register(r, label="a_card", plots=False)
                calibrate_registered(reg, "a_card", v, big)  # grade cut-offs from the strategy's targets
                model = reg.load("a_card", v)
                for reasons in (False, ["E"], True):
                    _timed(f"score_frame {mt} {n} rows, reasons={reasons}",
                           lambda m=model, rs=reasons: score_frame(big, m, "2026-10-01", strategy=strategy, reasons=rs))


if __name__ == "__main__":
    main()
