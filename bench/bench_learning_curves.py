"""Learning curves: every label's OOT AUC against its true oracle at growing world sizes.

For each size, simulates a world into its own lake, runs the whole ``materialize_everything`` job
(landing -> ... -> features -> models) and reads the registry: per label and model type, the OOT AUC,
the oracle AUC on the same OOT rows and the gap. A gap that closes with size is data; a gap that stays
is method.

    .venv/bin/python bench/bench_learning_curves.py                       # 20k, 100k, 300k customers
    .venv/bin/python bench/bench_learning_curves.py --sizes 20000 100000 --root /tmp/curves

Sizes above ~100k customers take hours on a 2-core machine; run them in the background.
"""
from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import time
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

from lake.layout import LakeLayout  # noqa: E402
from models.registry import ModelRegistry  # noqa: E402


def build_world(root: Path, customers: int, seed: int) -> float:
    """Simulate and materialise every asset into ``root`` through the Makefile targets; returns seconds."""
    env = {**os.environ, "LAKE_ROOT": str(root), "DO_NOT_TRACK": "1"}
    t0 = time.perf_counter()
    for target in ("world", "materialize"):
        proc = subprocess.run(["make", "--no-print-directory", target, f"CUSTOMERS={customers}", f"SEED={seed}"],
                              cwd=REPO, env=env, capture_output=True, text=True)
        if proc.returncode != 0:
            raise RuntimeError(f"make {target} failed for {customers:,} customers:\n{proc.stdout[-3000:]}\n{proc.stderr[-3000:]}")
    return time.perf_counter() - t0


def curve_rows(root: Path, customers: int) -> list[dict]:
    """One row per label x model type from the newest versions in the lake's registry."""
    reg = ModelRegistry(LakeLayout(root=root).registry)
    rows = []
    for label in reg.labels():
        champ = reg.champion(label)
        latest: dict[str, dict] = {}
        for version in reg.list_versions(label):
            m = reg.metrics(label, version)
            latest[m["model_type"]] = m
        for model_type, m in sorted(latest.items()):
            oracle = m.get("oracle_auc")
            rows.append({"customers": customers, "label": label, "model_type": model_type, "version": m["version"],
                         "champion": m["version"] == champ, "n_train": m.get("n_train"), "n_oot": m.get("n_oot"),
                         "bads_train": round((m.get("bad_rate_train") or 0) * (m.get("n_train") or 0)),
                         "auc_train": m.get("auc_train"), "cv_auc": m.get("cv_auc"), "auc_valid": m.get("auc_valid"), "auc_oot": m.get("auc_oot"),
                         "oracle_auc": oracle,
                         "gap_to_oracle": None if oracle is None else oracle - m["auc_oot"]})
    return rows


def print_table(rows: list[dict]) -> None:
    head = f"{'customers':>9} {'label':<7} {'model':<9} {'n_train':>7} {'bads':>5} {'AUC train':>9} {'CV':>6} {'valid':>6} {'OOT':>6} {'oracle':>6} {'gap':>6}"
    print(head)
    print("-" * len(head))
    for r in rows:
        f = lambda v: "   n/a" if v is None else f"{v:6.3f}"  # noqa: E731
        star = "*" if r["champion"] else " "
        print(f"{r['customers']:>9,} {r['label']:<7} {r['model_type']:<8}{star} {r['n_train'] or 0:>7,} {r['bads_train']:>5} "
              f"{f(r['auc_train']):>9} {f(r['cv_auc'])} {f(r['auc_valid'])} {f(r['auc_oot'])} {f(r['oracle_auc'])} {f(r['gap_to_oracle'])}")
    print("* champion")


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--sizes", type=int, nargs="+", default=[20_000, 100_000, 300_000])
    ap.add_argument("--seed", type=int, default=42)
    ap.add_argument("--root", type=Path, default=Path("/tmp/lakehouse_learning_curves"),
                    help="one lake per size is built under this folder")
    ap.add_argument("--reuse", action="store_true", help="read lakes already built under --root instead of building")
    ap.add_argument("--existing", action="append", default=[], metavar="CUSTOMERS=LAKE_ROOT",
                    help="read a lake built elsewhere (e.g. by make demo) as the point for that size; repeatable")
    ap.add_argument("--json", type=Path, help="also write the rows as JSON here")
    args = ap.parse_args(argv)
    rows = []
    for item in args.existing:
        n, _, path = item.partition("=")
        rows += curve_rows(Path(path), int(n))
        print_table([r for r in rows if r["customers"] == int(n)])
    if args.existing and args.sizes == ap.get_default("sizes"):
        args.sizes = []
    for n in args.sizes:
        root = args.root / f"customers_{n}"
        if not args.reuse:
            seconds = build_world(root, n, args.seed)
            print(f"{n:,} customers: built and trained in {seconds / 60:.1f} min", flush=True)
        rows += curve_rows(root, n)
        print_table([r for r in rows if r["customers"] == n])
        sys.stdout.flush()
    print()
    print_table(rows)
    if args.json:
        args.json.write_text(json.dumps(rows, indent=1))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
