"""Read one landed file into a raw Arrow table of text, one row per landed record, without losing any record.

CSV and Parquet readers return the contract's columns as text plus `_source_line`; JSON readers return the
object texts, extracted for a whole batch at once by `extract_json_batch`. Every reader lists the records it
could not parse at all, each with its line and reason. Columns a file lacks are reported; extra columns are
reported as schema drift and dropped.

What is read although unusual (noted on the file): gzip content under any name, a UTF-8 byte-order mark,
CR-only line endings, RFC-4180 quoted fields spanning lines, column names padded with spaces.
What rejects the whole file (`UnreadableFile`, with the lines of its records so the ledger still counts
them): no header line, duplicated column names, nested or non-UTF-8 Parquet columns, broken documents.
No message quotes a data value: names found in a header are redacted (a headerless file's first record).
"""
from __future__ import annotations

import csv
import gzip
import io
import json
import zlib
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path

import duckdb
import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.csv as pacsv
import pyarrow.parquet as pq

from lake.contracts import BUSINESS_TIME_ZONE, Contract
from lake.pii import redact

LINE = "_source_line"
GZIP_MAGIC = b"\x1f\x8b"
UTF8_BOM = b"\xef\xbb\xbf"


class UnreadableFile(Exception):
    """The file as a whole cannot be read. `lines` are the (1-based) lines of the records it holds, as far as
    they can be told, so the ledger counts them as landed and quarantined; [0] when nothing can be told."""

    def __init__(self, reason: str, lines: list[int] | np.ndarray | None = None):
        super().__init__(redact(reason))
        self.lines = [int(n) for n in lines] if lines is not None and len(lines) else [0]


@dataclass
class RawFile:
    rows: pa.Table  # contract columns present in the file (as text) + _source_line
    landed_records: int  # every record the file holds, parsed or not
    rejects: list[tuple[int, str]] = field(default_factory=list)  # (line, reason) of unparseable records
    missing_columns: list[str] = field(default_factory=list)
    extra_columns: list[str] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)  # unusual but valid: bom, gzip, CR line ends, ...


def read_landed_file(path: Path, contract: Contract) -> RawFile:
    data = path.read_bytes()
    notes = []
    if data[:2] == GZIP_MAGIC:
        try:
            data = gzip.decompress(data)
        except (OSError, EOFError, zlib.error) as exc:
            raise UnreadableFile(f"gzip content is corrupt or truncated ({exc})") from None
        notes.append("gzip-compressed content decompressed")
    if contract.format != "parquet" and data.startswith(UTF8_BOM):
        data = data[len(UTF8_BOM):]
        notes.append("UTF-8 byte-order mark removed")
    if contract.format != "parquet" and not data.strip():
        return RawFile(rows=_empty(contract), landed_records=0, notes=notes)
    if contract.format in ("csv", "jsonl") and b"\r" in data and b"\n" not in data:
        data = data.replace(b"\r", b"\n")
        notes.append("CR-only line endings read as line breaks")
    reader = {"csv": _read_csv, "jsonl": _read_jsonl, "json": _read_json_document, "parquet": _read_parquet}
    raw = reader[contract.format](data, contract)
    raw.notes = notes + raw.notes
    return raw


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


def _non_blank_lines(data: bytes) -> np.ndarray:
    """1-based numbers of the physical lines holding something other than whitespace."""
    starts, ends = _line_bounds(data)
    if not len(starts):
        return np.array([], dtype=np.int64)
    is_space = np.isin(np.frombuffer(data, dtype=np.uint8), [9, 10, 13, 32])
    content = np.concatenate(([0], np.cumsum(~is_space)))
    return np.flatnonzero(content[ends] - content[starts] > 0) + 1


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


# ----------------------------------------------------------------------------------------------------- CSV


def _header(data: bytes, first_line: int, contract: Contract, record_lines: np.ndarray) -> tuple[list[str], list[str]]:
    """The header's column names (trimmed), or UnreadableFile when there is no usable header."""
    text = data.split(b"\n", 1)[0].decode("utf-8").rstrip("\r")
    names = next(csv.reader([text]), [])
    trimmed = [n.strip() for n in names]
    notes = []
    if trimmed != names:
        notes.append(f"line {first_line}: column names padded with spaces, read trimmed")
    known = set(contract.column_names)
    if not known.intersection(trimmed):
        for sep in (";", "\t", "|"):
            if known.intersection(n.strip() for n in text.split(sep)):
                raise UnreadableFile(f"line {first_line}: fields are separated by {sep!r}, not by commas; deliver the "
                                     "file comma-separated", record_lines[1:])
        raise UnreadableFile(
            f"line {first_line}: no header line (the first line names none of the contract's columns "
            f"{contract.column_names[:3]}...); deliver the file with its header. All {len(record_lines)} "
            "lines are counted as records", record_lines)
    dups = sorted(n for n, k in Counter(trimmed).items() if k > 1)
    if dups:
        raise UnreadableFile(f"line {first_line}: duplicated column name(s) {redact(str(dups))} in the header; "
                             "which copy holds the value is ambiguous", record_lines[1:])
    return trimmed, notes


def _quoted_newlines(data: bytes, starts: np.ndarray, ends: np.ndarray) -> bool:
    """True when some physical line has an odd number of quote characters (a quoted field spans lines)."""
    quotes = np.concatenate(([0], np.cumsum(np.frombuffer(data, dtype=np.uint8) == 34)))
    return bool(np.any((quotes[ends] - quotes[starts]) % 2))


def _read_csv(data: bytes, contract: Contract) -> RawFile:
    data, bad_encoding, line_numbers = _drop_undecodable_lines(data)
    rejects = [(n, "bad encoding: line is not valid UTF-8") for n in bad_encoding]
    starts, ends = _line_bounds(data)
    non_blank = _non_blank_lines(data)  # 1-based line numbers in the cleaned bytes
    if len(non_blank) == 0:
        return RawFile(rows=_empty(contract), landed_records=len(rejects), rejects=rejects)
    if non_blank[0] != 1:  # leading blank lines: the header is the first non-blank line
        data = data[starts[non_blank[0] - 1]:]
        line_numbers = line_numbers[non_blank[0] - 1:]
        starts, ends = _line_bounds(data)
        non_blank = _non_blank_lines(data)
    original = line_numbers[non_blank - 1]
    header, notes = _header(data, int(original[0]), contract, np.concatenate((original, bad_encoding)))
    if _quoted_newlines(data, starts, ends):
        table, lines, malformed = _read_csv_records(data, header)
        notes.append("quoted values span lines (RFC 4180)")
    else:
        table, lines, malformed = _read_csv_lines(data, header, non_blank)
    rejects += [(int(line_numbers[n - 1]), reason) for n, reason in malformed]
    table = table.rename_columns(header).append_column(LINE, pa.array(line_numbers[lines - 1], pa.int64()))
    missing, extra = _split_columns(header, contract)
    return RawFile(
        rows=table.drop_columns(extra), landed_records=table.num_rows + len(rejects), rejects=rejects,
        missing_columns=missing, extra_columns=extra, notes=notes,
    )


def _read_csv_lines(data: bytes, header: list[str], non_blank: np.ndarray) -> tuple[pa.Table, np.ndarray, list]:
    """Fast path (one record per physical line): pyarrow's reader, rows mapped back to their lines."""
    malformed: list[tuple[int, str]] = []

    def on_invalid(row) -> str:  # pyarrow calls this for rows with the wrong number of fields
        malformed.append((int(row.number), f"malformed row: expected {row.expected_columns} fields, got {row.actual_columns}"))
        return "skip"

    names = [f"c{i}" for i in range(len(header))]  # positional: header names may need trimming
    try:
        table = pacsv.read_csv(
            pa.BufferReader(data),
            read_options=pacsv.ReadOptions(use_threads=False, column_names=names, skip_rows=1),
            parse_options=pacsv.ParseOptions(invalid_row_handler=on_invalid),
            convert_options=pacsv.ConvertOptions(
                column_types={n: pa.string() for n in names}, strings_can_be_null=True, null_values=[""]
            ),
        )
    except pa.ArrowInvalid as exc:
        raise UnreadableFile(f"cannot parse CSV: {exc}", non_blank[1:]) from None
    # pyarrow numbers rows by their index among non-blank lines, the (skipped) header being row 1.
    malformed = [(int(non_blank[n - 1]), reason) for n, reason in malformed]
    candidate = non_blank[1:]
    kept = candidate[~np.isin(candidate, [n for n, _ in malformed])]
    if len(kept) != table.num_rows:
        raise UnreadableFile(f"cannot align CSV rows to lines ({table.num_rows} rows, {len(kept)} lines)", candidate)
    return table, kept, malformed


def _read_csv_records(data: bytes, header: list[str]) -> tuple[pa.Table, np.ndarray, list]:
    """RFC-4180 path for files whose quoted values hold line breaks: the csv module knows where each record
    starts. Python-level, but only such (rare, small) files take it."""
    reader = csv.reader(io.StringIO(data.decode("utf-8"), newline=""), strict=False)
    columns: list[list] = [[] for _ in header]
    lines, malformed = [], []
    previous_end = 0
    try:
        for record in reader:
            start, previous_end = previous_end + 1, reader.line_num
            if start == 1 or not record or (len(record) == 1 and not record[0].strip()):
                continue  # the header, or a blank line
            if len(record) != len(header):
                malformed.append((start, f"malformed row: expected {len(header)} fields, got {len(record)}"))
                continue
            for values, v in zip(columns, record):
                values.append(v if v != "" else None)
            lines.append(start)
    except csv.Error as exc:
        raise UnreadableFile(f"cannot parse CSV after line {previous_end}: {exc}", _non_blank_lines(data)[1:]) from None
    table = pa.table({f"c{i}": pa.array(v, pa.string()) for i, v in enumerate(columns)})
    return table, np.array(lines, dtype=np.int64), malformed


# ---------------------------------------------------------------------------------------------------- JSON


JSON_TEXT = "_json"


def _json_rows(texts: pa.Array, numbers: np.ndarray) -> pa.Table:
    """JSON sources stay as object texts here; `extract_json_batch` extracts all files of a batch at once."""
    return pa.table({JSON_TEXT: texts, LINE: pa.array(numbers, pa.int64())})


def _read_jsonl(data: bytes, contract: Contract) -> RawFile:
    data, bad_encoding, line_numbers = _drop_undecodable_lines(data)
    lines = data.decode("utf-8").split("\n")
    if lines and lines[-1] == "":
        lines.pop()
    arr = pa.array(lines, pa.string())
    keep = pc.not_equal(pc.utf8_trim_whitespace(arr), "").fill_null(False)  # blank lines are not records
    numbers = line_numbers[: len(lines)][keep.to_numpy(zero_copy_only=False)]
    rejects = [(n, "bad encoding: line is not valid UTF-8") for n in bad_encoding]
    return RawFile(rows=_json_rows(arr.filter(keep), numbers), landed_records=len(numbers) + len(rejects), rejects=rejects)


def _read_json_document(data: bytes, contract: Contract) -> RawFile:
    try:
        doc = json.loads(data.decode("utf-8"))
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise UnreadableFile(f"broken JSON document: {exc}") from None
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
    def pick(c) -> str:  # json columns keep their JSON text; scalars their value as text
        op = "->" if c.type == "json" else "->>"
        return f"{JSON_TEXT}{op}'$.\"{c.name}\"' AS \"{c.name}\""

    picks = ", ".join(pick(c) for c in contract.columns)
    rows = con.sql(f"SELECT {picks}, * EXCLUDE ({JSON_TEXT}) FROM batch WHERE {valid}").to_arrow_table()
    rows = rows.cast(pa.schema([pa.field(f.name, pa.string() if f.name in contract.column_names else f.type)
                                for f in rows.schema]))
    bad = con.execute(f"SELECT {file_column}, {LINE} FROM batch WHERE NOT ({valid}) ORDER BY 1, 2").fetchall()
    keys: dict[str, set[str]] = {}
    for f, k in con.execute(f"SELECT DISTINCT {file_column}, unnest(json_keys({JSON_TEXT})) FROM batch WHERE {valid}").fetchall():
        keys.setdefault(f, set()).add(k)
    unit = "record" if contract.format == "json" else "line"
    rejects = [(f, int(n), f"broken JSON: {unit} is not a valid JSON object") for f, n in bad]
    return rows, rejects, keys


# ------------------------------------------------------------------------------------------------- Parquet


def _read_parquet(data: bytes, contract: Contract) -> RawFile:
    try:
        table = pq.read_table(pa.BufferReader(data))
    except Exception as exc:  # noqa: BLE001 - any reader failure means the file cannot be read
        raise UnreadableFile(f"not a readable Parquet file: {exc}", _parquet_row_lines(data)) from None
    lines = np.arange(1, table.num_rows + 1)
    names = [n.strip() for n in table.column_names]
    notes = ["column names padded with spaces, read trimmed"] if names != table.column_names else []
    dups = sorted(n for n, k in Counter(names).items() if k > 1)
    if dups:
        raise UnreadableFile(f"duplicated column name(s) {redact(str(dups))}; which copy holds the value is ambiguous", lines)
    table = table.rename_columns(names)
    missing, extra = _split_columns(names, contract)
    table = table.drop_columns(extra)
    columns = {}
    for c in contract.columns:
        if c.name in missing:
            continue
        try:
            columns[c.name] = _as_text(table.column(c.name), c.name, c.type)
        except UnreadableFile as exc:
            raise UnreadableFile(str(exc), lines) from None
        except (pa.ArrowInvalid, pa.ArrowNotImplementedError, pa.ArrowTypeError) as exc:
            raise UnreadableFile(f"column {c.name!r} cannot be read as text: {exc}", lines) from None
    columns[LINE] = pa.array(lines, pa.int64())
    return RawFile(rows=pa.table(columns), landed_records=table.num_rows, missing_columns=missing,
                   extra_columns=extra, notes=notes)


def _parquet_row_lines(data: bytes) -> np.ndarray | None:
    try:
        return np.arange(1, pq.read_metadata(pa.BufferReader(data)).num_rows + 1)
    except Exception:  # noqa: BLE001 - not even the footer: the record count is unknown
        return None


def _as_text(col: pa.ChunkedArray, name: str, contract_type: str) -> pa.ChunkedArray:
    """A native Parquet column as text, so one SQL validates every source alike. Nested values and text that
    is not UTF-8 cannot be read; time-zone-aware timestamps become business-local wall time."""
    t = col.type
    if pa.types.is_nested(t) or pa.types.is_dictionary(t) and pa.types.is_nested(t.value_type):
        if contract_type == "json":
            return pa.chunked_array([pa.array([None if v is None else json.dumps(v, default=str, ensure_ascii=False)
                                               for v in col.to_pylist()], pa.string())])
        raise UnreadableFile(f"column {name!r} is nested ({t}); the contract expects a flat {contract_type}")
    if pa.types.is_dictionary(t):
        col, t = col.cast(t.value_type), t.value_type
    if pa.types.is_binary(t) or pa.types.is_large_binary(t):
        try:
            return col.cast(pa.string())
        except pa.ArrowInvalid:
            raise UnreadableFile(f"column {name!r} holds text that is not valid UTF-8") from None
    if pa.types.is_string(t) or pa.types.is_large_string(t):
        try:
            col.validate(full=True)
        except pa.ArrowInvalid:
            raise UnreadableFile(f"column {name!r} holds text that is not valid UTF-8") from None
        return col.cast(pa.string())
    if pa.types.is_timestamp(t):
        if t.tz is not None:
            col = pc.local_timestamp(col.cast(pa.timestamp(t.unit, tz=BUSINESS_TIME_ZONE)))
        return col.cast(pa.timestamp("us")).cast(pa.string())
    if pa.types.is_floating(t):
        # repr-exact text; NaN / inf stay readable so validation rejects them by name
        return pa.chunked_array([pa.array([None if v is None else repr(v) for v in col.to_pylist()], pa.string())]) \
            if contract_type in ("integer", "bigint") else col.cast(pa.string())
    return col.cast(pa.string())
