"""Read one landed file into a raw Arrow table, one row per landed record, without losing any record.

CSV and Parquet readers return the contract's columns as they arrived (text / native) plus `_source_line`;
JSON readers return the object texts, extracted for a whole batch at once by `extract_json_batch`.
Every reader lists the records it could not parse at all, each with its line and reason.
Columns a file lacks are reported; extra columns are reported as schema drift and dropped.
"""
from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path

import duckdb
import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.csv as pacsv
import pyarrow.parquet as pq

from lake.contracts import Contract

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


JSON_TEXT = "_json"


def _json_rows(texts: pa.Array, numbers: np.ndarray) -> pa.Table:
    """JSON sources stay as object texts here; `extract_json_batch` extracts all files of a batch at once."""
    return pa.table({JSON_TEXT: texts, LINE: pa.array(numbers, pa.int64())})


def _read_jsonl(path: Path, data: bytes, contract: Contract) -> RawFile:
    data, bad_encoding, line_numbers = _drop_undecodable_lines(data)
    lines = data.decode("utf-8").split("\n")
    if lines and lines[-1] == "":
        lines.pop()
    arr = pa.array(lines, pa.string())
    keep = pc.not_equal(pc.utf8_trim_whitespace(arr), "").fill_null(False)  # blank lines are not records
    numbers = line_numbers[: len(lines)][keep.to_numpy(zero_copy_only=False)]
    rejects = [(n, "bad encoding: line is not valid UTF-8") for n in bad_encoding]
    return RawFile(rows=_json_rows(arr.filter(keep), numbers), landed_records=len(numbers) + len(rejects), rejects=rejects)


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
    return RawFile(rows=_json_rows(texts, np.arange(1, len(records) + 1)), landed_records=len(records))


def extract_json_batch(batch: pa.Table, contract: Contract, file_column: str) -> tuple[pa.Table, list[tuple[str, int, str]], dict[str, set[str]]]:
    """Extract the contract's fields from the JSON texts of every file in a batch in one DuckDB pass.
    Returns the extracted rows, the (file, line, reason) of texts that are not JSON objects, and the keys
    each file used (to report missing / extra columns per file)."""
    con = duckdb.connect()
    con.register("batch", batch)
    valid = f"CASE WHEN json_valid({JSON_TEXT}) THEN json_type({JSON_TEXT}) = 'OBJECT' ELSE false END"  # AND does not short-circuit
    picks = ", ".join(f"{JSON_TEXT}->>'$.\"{c}\"' AS \"{c}\"" for c in contract.column_names)
    rows = con.sql(f"SELECT {picks}, * EXCLUDE ({JSON_TEXT}) FROM batch WHERE {valid}").to_arrow_table()
    bad = con.execute(f"SELECT {file_column}, {LINE} FROM batch WHERE NOT ({valid}) ORDER BY 1, 2").fetchall()
    keys: dict[str, set[str]] = {}
    for f, k in con.execute(f"SELECT DISTINCT {file_column}, unnest(json_keys({JSON_TEXT})) FROM batch WHERE {valid}").fetchall():
        keys.setdefault(f, set()).add(k)
    unit = "record" if contract.format == "json" else "line"
    rejects = [(f, int(n), f"broken JSON: {unit} is not a valid JSON object") for f, n in bad]
    return rows, rejects, keys


def _read_parquet(path: Path, data: bytes, contract: Contract) -> RawFile:
    try:
        table = pq.read_table(pa.BufferReader(data))
    except (pa.ArrowInvalid, OSError) as exc:
        raise UnreadableFile(f"not a readable Parquet file: {exc}") from exc
    missing, extra = _split_columns(table.column_names, contract)
    table = table.drop_columns(extra).append_column(LINE, pa.array(np.arange(1, table.num_rows + 1), pa.int64()))
    return RawFile(rows=table, landed_records=table.num_rows, missing_columns=missing, extra_columns=extra)
