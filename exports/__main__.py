"""Command line for partner exports (outside Dagster).

    python -m exports validate                      # check every spec in exports/specs
    python -m exports run --date 2026-03-01 [--spec pb01_a_card_daily ...] [--scores PATH]
    python -m exports verify --date 2026-03-01 [--spec ...]   # read back like a partner: checksums, rows
    python -m exports fake-scores --date 2026-03-01 --customers 20000   # contract-shaped fake scores

Storage from the environment: EXPORT_STORAGE=local|s3, S3_ENDPOINT_URL, EXPORT_LOCAL_ROOT, LAKE_ROOT,
EXPORT_BUCKET (used by the shipped specs), EXPORT_TOKEN_KEY.
"""
from __future__ import annotations

import argparse
import sys

from lake.scores import scores_path
from exports.exporter import ExportError, ExportVerificationError, export_partition, manifest_key, read_export
from exports.spec import SPECS_DIR, SpecError, load_specs
from exports.storage import StorageError, store_from_env


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(prog="python -m exports", description=__doc__.split("\n")[0])
    sub = ap.add_subparsers(dest="cmd", required=True)
    v = sub.add_parser("validate")
    v.add_argument("--specs", default=str(SPECS_DIR))
    for name in ("run", "verify"):
        p = sub.add_parser(name)
        p.add_argument("--date", required=True)
        p.add_argument("--spec", action="append", help="export name (repeatable); default all")
        p.add_argument("--specs", default=str(SPECS_DIR))
        if name == "run":
            p.add_argument("--scores", help="scores Parquet (default <LAKE_ROOT>/scores/business_date=<date>/scores.parquet)")
    f = sub.add_parser("fake-scores")
    f.add_argument("--date", required=True)
    f.add_argument("--customers", type=int, default=20000)
    f.add_argument("--seed", type=int, default=7)
    args = ap.parse_args(argv)

    try:
        if args.cmd == "fake-scores":
            from exports.fake import fake_scores, write_scores
            path = scores_path(args.date)
            table = fake_scores(args.customers, args.date, seed=args.seed)
            write_scores(table, path)
            print(f"wrote {table.num_rows:,} fake score rows to {path}")
            return 0
        specs = load_specs(args.specs)
        if args.cmd == "validate":
            for s in specs:
                print(f"ok  {s.path.name}: {s.name} -> {s.partner_id} {s.model_name}/{s.label}/{s.version} "
                      f"{s.format}/{s.compression} {s.bucket_template}/{s.prefix}")
            return 0
        if args.spec:
            unknown = sorted(set(args.spec) - {s.name for s in specs})
            if unknown:
                ap.error(f"unknown export(s): {', '.join(unknown)}")
            specs = [s for s in specs if s.name in args.spec]
        store = store_from_env()
        for s in specs:
            if args.cmd == "run":
                r = export_partition(s, args.date, store, scores=args.scores, log=print)
                print(f"{s.name}: {r.row_count:,} rows in {len(r.manifest['files'])} file(s), {r.timings['total_s']:.2f} s")
            else:
                m, t = read_export(store, s.bucket, manifest_key(s, args.date))
                print(f"ok  {s.name}: {m['row_count']:,} rows, {len(m['files'])} file(s), checksums verified")
        return 0
    except (SpecError, ExportError, ExportVerificationError, StorageError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1


if __name__ == "__main__":
    sys.exit(main())
