"""Read one landed file into a raw Arrow table, one row per landed record, without losing any record.

Every reader returns the contract's columns as they arrived (text for CSV / JSON, native for Parquet)
plus `_source_line`, and lists the records it could not parse at all, each with its line and reason.
Columns the file lacks are reported; extra columns are reported as schema drift and dropped.
"""
from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path

import duckdb
import numpy as np
import pyarrow as pa
import pyarrow.csv as pacsv
import pyarrow.parquet as pq

from orchestration.contracts import Contract

LINE = "_source_line"


class UnreadableFile(Exception):
    """The file as a whole cannot be parsed (e.g. broken JSON document, not a Parquet file)."""


@dataclass
class RawFile:
    rows: pa.Table  # contract columns present in the file + _source_line
    landed_records: int  # every record the file holds, parsed or not
    rejects: list[tuple[int, str]] = field(default_factory=list)  # (line, reason) of unparseable records
    missing_columns: list[str] = field(default_factory=list)
    extra_columns: list[str] = field(default_factory=list)


def read_landed_file(path: Path, contract: Contract) -> RawFile:
    data = path.read_bytes()
    if not data.strip():
        return RawFile(rows=_empty(contract), landed_records=0)
    reader = {"csv": _read_csv, "jsonl": _read_jsonl, "json": _read_json_document, "parquet": _read_parquet}
    return reader[contract.format](path, data, contract)


def _empty(contract: Contract) -> pa.Table:
    fields = [pa.field(c, pa.string()) for c in contract.column_names] + [pa.field(LINE, pa.int64())]
    return pa.schema(fields).empty_table()


def _split_columns(found: list[str], contract: Contract) -> tuple[list[str], list[str]]:
    expected = contract.column_names
    return [c for c in expected if c not in found], [c for c in found if c not in expected]


def _line_bounds(data: bytes) -> tuple[np.ndarray, np.ndarray]:
    """Start and end offsets of every physical line (vectorised; handles a missing final newline)."""
    newlines = np.flatnonzero(np.frombuffer(data, dtype=np.uint8) == 10)
    starts = np.concatenate(([0], newlines + 1))
    ends = np.concatenate((newlines, [len(data)]))
    if starts[-1] == len(data):  # file ends with a newline: no extra line
        starts, ends = starts[:-1], ends[:-1]
    return starts, ends


def _drop_undecodable_lines(data: bytes) -> tuple[bytes, list[int], np.ndarray]:
    """Remove lines that are not valid UTF-8. Returns cleaned bytes, the bad line numbers and, for each
    kept line, its original 1-based line number. The per-line loop only runs on files that fail the
    whole-file decode, which clean deliveries never do."""
    starts, ends = _line_bounds(data)
    try:
        data.decode("utf-8")
        return data, [], np.arange(1, len(starts) + 1)
    except UnicodeDecodeError:
        pass
    kept, bad, kept_numbers = [], [], []
    for number, (s, e) in enumerate(zip(starts, ends), start=1):
        line = data[s:e]
        try:
            line.decode("utf-8")
        except UnicodeDecodeError:
            bad.append(number)
            continue
        kept.append(line)
        kept_numbers.append(number)
    return b"\n".join(kept) + b"\n", bad, np.array(kept_numbers, dtype=np.int64)


def _read_csv(path: Path, data: bytes, contract: Contract) -> RawFile:
    data, bad_encoding, line_numbers = _drop_undecodable_lines(data)
    rejects = [(n, "bad encoding: line is not valid UTF-8") for n in bad_encoding]
    starts, ends = _line_bounds(data)
    if len(starts) == 0:
        return RawFile(rows=_empty(contract), landed_records=len(rejects), rejects=rejects)
    header = data[starts[0]:ends[0]].decode("utf-8").strip("\r").split(",")
    header = [h.strip().strip('"') for h in header]
    malformed: list[tuple[int, str]] = []

    def on_invalid(row) -> str:  # pyarrow calls this for rows with the wrong number of fields
        malformed.append((int(row.number), f"malformed row: expected {row.expected_columns} fields, got {row.actual_columns}"))
        return "skip"

    try:
        table = pacsv.read_csv(
            pa.BufferReader(data),
            read_options=pacsv.ReadOptions(use_threads=False),
            parse_options=pacsv.ParseOptions(invalid_row_handler=on_invalid),
            convert_options=pacsv.ConvertOptions(
                column_types={h: pa.string() for h in header}, strings_can_be_null=True, null_values=[""]
            ),
        )
    except pa.ArrowInvalid as exc:
        raise UnreadableFile(f"cannot parse CSV: {exc}") from exc
    # Physical line numbers of the rows pyarrow kept: non-empty lines after the header, minus skipped ones.
    raw_bytes = np.frombuffer(data, dtype=np.uint8)
    length = ends - starts
    blank = (length == 0) | ((length == 1) & (raw_bytes[np.minimum(starts, len(data) - 1)] == 13))
    non_blank = np.flatnonzero(~blank) + 1  # 1-based line numbers in the cleaned bytes
    # pyarrow numbers rows by their index among non-blank lines (header = 1).
    malformed = [(int(non_blank[n - 1]), reason) for n, reason in malformed]
    candidate = non_blank[1:]
    kept_local = candidate[~np.isin(candidate, [n for n, _ in malformed])]
    if len(kept_local) != table.num_rows:
        raise UnreadableFile(f"cannot align CSV rows to lines ({table.num_rows} rows, {len(kept_local)} lines)")
    rejects += [(int(line_numbers[n - 1]), reason) for n, reason in malformed]
    table = table.append_column(LINE, pa.array(line_numbers[kept_local - 1], pa.int64()))
    missing, extra = _split_columns(header, contract)
    return RawFile(
        rows=table.drop_columns(extra), landed_records=table.num_rows + len(rejects), rejects=rejects,
        missing_columns=missing, extra_columns=extra,
    )


def _records_from_lines(lines: pa.Array, numbers: np.ndarray, contract: Contract, unit: str) -> RawFile:
    """Extract contract fields from JSON object texts in one vectorised DuckDB pass."""
    con = duckdb.connect()
    con.register("lines", pa.table({"line": lines, LINE: pa.array(numbers, pa.int64())}))
    valid = "CASE WHEN json_valid(line) THEN json_type(line) = 'OBJECT' ELSE false END"  # CASE: no short-circuit in AND
    found = [r[0] for r in con.sql(f"SELECT DISTINCT unnest(json_keys(line)) FROM lines WHERE {valid}").fetchall()]
    missing, extra = _split_columns(found, contract)
    picks = ", ".join(
        f"line->>'$.\"{c}\"' AS \"{c}\"" for c in contract.column_names if c not in missing
    )
    rows = con.sql(f"SELECT {picks + ',' if picks else ''} {LINE} FROM lines WHERE {valid} ORDER BY {LINE}").to_arrow_table()
    bad = con.sql(f"SELECT {LINE} FROM lines WHERE NOT ({valid}) ORDER BY {LINE}").fetchall()
    rejects = [(int(n), f"broken JSON: {unit} is not a valid JSON object") for (n,) in bad]
    return RawFile(rows=rows, landed_records=len(numbers), rejects=rejects, missing_columns=missing, extra_columns=extra)


def _read_jsonl(path: Path, data: bytes, contract: Contract) -> RawFile:
    data, bad_encoding, line_numbers = _drop_undecodable_lines(data)
    lines = data.decode("utf-8").split("\n")
    if lines and lines[-1] == "":
        lines.pop()
    keep = np.array([bool(s.strip()) for s in lines], dtype=bool) if lines else np.zeros(0, bool)
    arr = pa.array(lines, pa.string()).filter(pa.array(keep)) if lines else pa.array([], pa.string())
    raw = _records_from_lines(arr, line_numbers[: len(lines)][keep], contract, "line")
    raw.rejects = [(n, "bad encoding: line is not valid UTF-8") for n in bad_encoding] + raw.rejects
    raw.landed_records += len(bad_encoding)
    return raw


def _read_json_document(path: Path, data: bytes, contract: Contract) -> RawFile:
    try:
        doc = json.loads(data.decode("utf-8"))
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise UnreadableFile(f"broken JSON document: {exc}") from exc
    records = doc.get(contract.records_path) if isinstance(doc, dict) else None
    if not isinstance(records, list):
        raise UnreadableFile(f"JSON document has no array at key {contract.records_path!r}")
    # Re-serialise each record so nested and flat sources share one vectorised extraction.
    texts = pa.array([json.dumps(r, ensure_ascii=False) for r in records], pa.string())
    return _records_from_lines(texts, np.arange(1, len(records) + 1), contract, "record")


def _read_parquet(path: Path, data: bytes, contract: Contract) -> RawFile:
    try:
        table = pq.read_table(pa.BufferReader(data))
    except (pa.ArrowInvalid, OSError) as exc:
        raise UnreadableFile(f"not a readable Parquet file: {exc}") from exc
    missing, extra = _split_columns(table.column_names, contract)
    table = table.drop_columns(extra).append_column(LINE, pa.array(np.arange(1, table.num_rows + 1), pa.int64()))
    return RawFile(rows=table, landed_records=table.num_rows, missing_columns=missing, extra_columns=extra)
