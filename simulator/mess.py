"""Deliberate mess in the landing zone, for testing ingestion (contract validation, quarantine).

    inject_mess(landing_dir, ["malformed_rows", "duplicates"], seed=0) -> list of dicts

Every kind touches one file of its target table (never one already touched in the same call)
and returns {kind, table, file, rows_affected, description}. Deterministic for a seed.

Kinds (target table in brackets):
  malformed_rows     [repayments]    rows with too few / too many CSV fields
  wrong_types        [drawdowns]     non-numeric amounts and impossible timestamps
  duplicates         [repayments]    existing rows re-delivered in a new file (same keys)
  late_file          [orders]        a file for an old day (before the window) delivered now, new ids
  schema_drift       [app_events]    an extra column appended to header and rows
  bad_encoding       [customers]     some lines re-encoded as GBK (Chinese names become invalid UTF-8)
  truncated_file     [credit_lines]  file cut in the middle of its last row
  empty_file         [limit_events]  a 0-byte file for a day that had none
  broken_json        [applications]  one JSON line cut in half
  nulls_in_required  [credit_lines]  required fields (customer_id, initial_limit) emptied
  negative_amounts   [repayments]    payment amounts made negative
  future_dates       [orders]        event timestamps moved to 2099
"""
from __future__ import annotations

import csv
import io
import json
import re
from pathlib import Path

import numpy as np

from .contracts import file_name, load_contracts, table_dir
from .fmt import stream

KINDS = {
    "malformed_rows": "repayments",
    "wrong_types": "drawdowns",
    "duplicates": "repayments",
    "late_file": "orders",
    "schema_drift": "app_events",
    "bad_encoding": "customers",
    "truncated_file": "credit_lines",
    "empty_file": "limit_events",
    "broken_json": "applications",
    "nulls_in_required": "credit_lines",
    "negative_amounts": "repayments",
    "future_dates": "orders",
}
_DAY_RE = re.compile(r"_(\d{8})\.\w+$")


class _Ctx:
    def __init__(self, landing: Path, seed: int):
        self.landing = landing
        self.contracts = load_contracts()
        self.rng = stream(seed, "mess")
        self.touched: set[Path] = set()

    def files(self, table):
        return sorted(table_dir(self.landing, self.contracts[table]).glob(f"{table}_*.*"))

    def pick(self, table, min_rows=3):
        """A not-yet-touched file with at least min_rows data rows (largest ones preferred)."""
        cands = [f for f in self.files(table) if f not in self.touched and f.stat().st_size > 0]
        if not cands:
            raise FileNotFoundError(f"no files left for {table} under {self.landing}")
        order = self.rng.permutation(len(cands))
        for i in order:
            if _n_rows(cands[i]) >= min_rows:
                self.touched.add(cands[i])
                return cands[i]
        self.touched.add(cands[order[0]])
        return cands[order[0]]

    def free_day_path(self, table, before_first=False):
        """Path for a day with no file: before the first file, or a gap inside the range."""
        files = self.files(table)
        days = sorted(np.datetime64(f"{m[:4]}-{m[4:6]}-{m[6:]}") for m in
                      (_DAY_RE.search(f.name).group(1) for f in files))
        spec = self.contracts[table]
        have = set(days)
        if before_first or not days:
            day = (days[0] if days else np.datetime64("2026-01-01")) - 30
        else:
            gaps = [d for d in np.arange(days[0], days[-1]) if d not in have]
            day = gaps[int(self.rng.integers(len(gaps)))] if gaps else days[0] - 1
        path = table_dir(self.landing, spec) / file_name(spec, str(day).replace("-", ""))
        self.touched.add(path)
        return path, day

    def sample(self, n_rows, k):
        k = max(1, min(k, n_rows))
        return sorted(self.rng.choice(n_rows, size=k, replace=False).tolist())


def _n_rows(path: Path) -> int:
    with open(path, "rb") as f:
        n = sum(1 for _ in f)
    return n - 1 if path.suffix == ".csv" else n


def _csv_lines(path):
    """Header and data lines of a CSV file, as raw text lines (newline kept)."""
    lines = path.read_text(encoding="utf-8").splitlines(keepends=True)
    return lines[0], lines[1:]


def _fields(line):
    return next(csv.reader([line]))


def _join(fields):
    buf = io.StringIO()
    csv.writer(buf, lineterminator="\n").writerow(fields)
    return buf.getvalue()


def _edit_csv(path, idx, edit):
    """Rewrite only the data rows in idx (edit(fields, header_fields) -> fields); every other
    byte of the file stays as delivered."""
    header, rows = _csv_lines(path)
    names = _fields(header)
    for i in idx:
        rows[i] = _join(edit(_fields(rows[i]), names))
    path.write_text(header + "".join(rows), encoding="utf-8")
    return names, len(rows)


def _read_jsonl(path):
    return [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines() if line]


def _write_jsonl(path, records):
    path.write_text("".join(json.dumps(r, ensure_ascii=False, separators=(",", ":")) + "\n" for r in records), encoding="utf-8")


def _result(kind, table, path, rows, description):
    return {"kind": kind, "table": table, "file": str(path), "rows_affected": rows,
            "description": f"{Path(path).name}: {description}"}


# --------------------------------------------------------------------------- kinds
def _malformed_rows(ctx, table):
    path = ctx.pick(table)
    idx = ctx.sample(_n_rows(path), 3)
    short = set(idx[::2])  # alternate: drop the last field / add two more
    rows = iter(idx)
    names, _ = _edit_csv(path, idx, lambda f, h: f[:-1] if next(rows) in short else f + ["EXTRA", "FIELD"])
    n = len(names)
    return _result("malformed_rows", table, path, len(idx),
                   f"{len(idx)} rows (data rows {idx}) have {n - 1} or {n + 2} fields instead of {n}")


def _wrong_types(ctx, table):
    path = ctx.pick(table)
    idx = ctx.sample(_n_rows(path), 2)
    bad = {idx[0]: ("amount", "12k"), idx[-1]: ("drawdown_at", "2025-02-30 25:61:00")}
    rows = iter(idx)

    def edit(f, h):
        col, val = bad[next(rows)]
        f[h.index(col)] = val
        return f
    _edit_csv(path, idx, edit)
    return _result("wrong_types", table, path, len(idx),
                   f"amount='12k' in data row {idx[0]}, drawdown_at='2025-02-30 25:61:00' in data row {idx[-1]}")


def _duplicates(ctx, table):
    src = ctx.pick(table)
    header, rows = _csv_lines(src)
    idx = ctx.sample(len(rows), max(2, len(rows) // 2))
    path, _ = ctx.free_day_path(table)
    path.write_text(header + "".join(rows[i] for i in idx), encoding="utf-8")
    return _result("duplicates", table, path, len(idx),
                   f"{len(idx)} rows copied from {src.name} (same primary keys) into a new file")


def _late_file(ctx, table):
    src = ctx.pick(table)
    spec = ctx.contracts[table]
    pk, et = spec["primary_key"][0], spec["event_time"]
    path, day = ctx.free_day_path(table, before_first=True)
    recs = _read_jsonl(src)
    for i, r in enumerate(recs):
        r[pk] = f"LATE{i + 1:010d}"
        r[et] = f"{day} {r[et][11:]}"
    _write_jsonl(path, recs)
    return _result("late_file", table, path, len(recs),
                   f"{len(recs)} new rows (ids LATE...) for old day {day}, delivered after the fact")


def _schema_drift(ctx, table):
    path = ctx.pick(table)
    header, rows = _csv_lines(path)
    vals = ctx.rng.integers(100, 999, len(rows))
    out = header.rstrip("\n") + ",app_version_code\n"
    out += "".join(f"{r.rstrip(chr(10))},{v}\n" for r, v in zip(rows, vals))
    path.write_text(out, encoding="utf-8")
    return _result("schema_drift", table, path, len(rows), f"extra column 'app_version_code' on all {len(rows)} rows")


def _bad_encoding(ctx, table):
    path = ctx.pick(table)
    lines = path.read_bytes().decode("utf-8").splitlines(keepends=True)
    idx = ctx.sample(len(lines) - 1, 3)
    out = [line.encode("gbk", errors="replace") if i - 1 in idx else line.encode("utf-8")
           for i, line in enumerate(lines)]
    path.write_bytes(b"".join(out))
    return _result("bad_encoding", table, path, len(idx), f"data rows {idx} encoded as GBK")


def _truncated_file(ctx, table):
    path = ctx.pick(table)
    data = path.read_bytes()
    last_start = data.rstrip(b"\n").rfind(b"\n") + 1
    cut = last_start + max(1, (len(data) - last_start) // 2)
    path.write_bytes(data[:cut])
    return _result("truncated_file", table, path, 1, f"cut at byte {cut} of {len(data)}, inside the last row")


def _empty_file(ctx, table):
    path, day = ctx.free_day_path(table)
    path.write_bytes(b"")
    return _result("empty_file", table, path, 0, f"0-byte file for {day}")


def _broken_json(ctx, table):
    path = ctx.pick(table)
    lines = path.read_text(encoding="utf-8").splitlines()
    i = ctx.sample(len(lines), 1)[0]
    lines[i] = lines[i][: len(lines[i]) // 2]
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return _result("broken_json", table, path, 1, f"line {i} cut in half")


def _nulls_in_required(ctx, table):
    path = ctx.pick(table)
    required = [c["name"] for c in ctx.contracts[table]["columns"] if c.get("required")]
    targets = [c for c in ("customer_id", "initial_limit") if c in required] or required[-1:]
    idx = ctx.sample(_n_rows(path), 3)
    rows = iter(range(len(idx)))

    def edit(f, h):
        f[h.index(targets[next(rows) % len(targets)])] = ""
        return f
    _edit_csv(path, idx, edit)
    return _result("nulls_in_required", table, path, len(idx), f"required {targets} emptied in data rows {idx}")


def _negative_amounts(ctx, table):
    path = ctx.pick(table)
    idx = ctx.sample(_n_rows(path), 3)

    def edit(f, h):
        a = h.index("amount")
        f[a] = "-" + f[a].lstrip("-")
        return f
    _edit_csv(path, idx, edit)
    return _result("negative_amounts", table, path, len(idx), f"amount negated in data rows {idx}")


def _future_dates(ctx, table):
    path = ctx.pick(table)
    et = ctx.contracts[table]["event_time"]
    lines = path.read_text(encoding="utf-8").splitlines(keepends=True)
    idx = ctx.sample(len(lines), 3)
    for i in idx:  # edit the text in place so the other lines stay byte-identical
        lines[i] = re.sub(f'("{et}":")\\d{{4}}', r"\g<1>2099", lines[i], count=1)
    path.write_text("".join(lines), encoding="utf-8")
    return _result("future_dates", table, path, len(idx), f"{et} moved to 2099 in lines {idx}")


_IMPL = {
    "malformed_rows": _malformed_rows, "wrong_types": _wrong_types, "duplicates": _duplicates,
    "late_file": _late_file, "schema_drift": _schema_drift, "bad_encoding": _bad_encoding,
    "truncated_file": _truncated_file, "empty_file": _empty_file, "broken_json": _broken_json,
    "nulls_in_required": _nulls_in_required, "negative_amounts": _negative_amounts,
    "future_dates": _future_dates,
}


def inject_mess(landing_dir, kinds, seed: int = 0) -> list[dict]:
    """Apply each kind once; returns what was done, in order."""
    if isinstance(kinds, str):
        kinds = [k for k in kinds.split(",") if k]
    unknown = [k for k in kinds if k not in KINDS]
    if unknown:
        raise ValueError(f"unknown mess kinds {unknown}; choose from {list(KINDS)}")
    ctx = _Ctx(Path(landing_dir), seed)
    return [_IMPL[k](ctx, KINDS[k]) for k in kinds]
