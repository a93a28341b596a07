"""Landing-zone writer: one file per table per event day, in the contract's format.

Rows arrive sorted by day. Each block of days is rendered once into a single text buffer
(pyarrow CSV writer, or JSON lines built with Arrow string kernels) and then cut into daily
files by byte offsets, so writing ~730 files costs about as much as writing one.
"""
from __future__ import annotations

import io
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.csv as pacsv
import pyarrow.parquet as pq

from .contracts import arrow_schema, column_names, file_name, table_dir
from .fmt import DAY

CHUNK_ROWS = 1_000_000
FILE_DAY = "_file_day"  # optional helper column: deliver by this day instead of event time
_NEEDS_ESCAPE = r'["\\\x00-\x1f]'


def _day_strings(days: np.ndarray) -> list[str]:
    return [str(d).replace("-", "") for d in days.astype("datetime64[D]")]


def _file_days(contract: dict, table: pa.Table) -> np.ndarray:
    if FILE_DAY in table.column_names:
        return table[FILE_DAY].to_numpy().astype(np.int64)
    col = table[contract["event_time"]]
    if pa.types.is_date(col.type):
        return pc.cast(col, pa.int32()).to_numpy().astype(np.int64)
    return pc.cast(pc.cast(col, pa.timestamp("s")), pa.int64()).to_numpy() // DAY


def _plain(col):
    """Dictionary-encoded columns back to plain values for rendering."""
    if pa.types.is_dictionary(col.type):
        return pc.cast(col, col.type.value_type)
    return col


def _text(col, ctype: str):
    """Render a column as CSV / JSON text values (nulls stay null)."""
    col = _plain(col)
    if ctype == "timestamp":
        return pc.cast(pc.cast(col, pa.timestamp("s")), pa.string())  # YYYY-MM-DD HH:MM:SS
    if ctype in ("date", "double", "integer", "boolean"):
        return pc.cast(col, pa.string())
    return col


def _json_value(col, ctype: str):
    txt = _text(col, ctype)
    if ctype in ("varchar", "timestamp", "date"):
        if ctype == "varchar" and pc.any(pc.match_substring_regex(txt, _NEEDS_ESCAPE)).as_py():
            txt = pc.replace_substring(txt, "\\", "\\\\")
            txt = pc.replace_substring(txt, '"', '\\"')
            txt = pc.replace_substring_regex(txt, r"[\x00-\x1f]", " ")
        txt = pc.binary_join_element_wise('"', txt, '"', "")
    return pc.fill_null(txt, "null")


def _json_lines(block: pa.Table, contract: dict, terminator: str) -> pa.Array:
    pieces = []
    for i, col in enumerate(contract["columns"]):
        pieces.append(("{" if i == 0 else ",") + f'"{col["name"]}":')
        pieces.append(_json_value(block[col["name"]], col["type"]))
    pieces.append("}" + terminator)
    lines = pc.binary_join_element_wise(*pieces, "")
    if isinstance(lines, pa.ChunkedArray):
        lines = lines.combine_chunks()
    return lines


def _line_slices(arr: pa.Array):
    """(buffer, offsets) of a string array, for byte-range slicing of consecutive rows."""
    offsets = np.frombuffer(arr.buffers()[1], dtype=np.int32)[arr.offset: arr.offset + len(arr) + 1]
    return arr.buffers()[2], offsets.astype(np.int64)


def _csv_block(block: pa.Table, contract: dict):
    # native types: numbers / booleans / timestamps (second precision) / dates are written
    # unquoted in the expected text form; only strings are quoted
    cols = {}
    for c in contract["columns"]:
        col = _plain(block[c["name"]])
        cols[c["name"]] = pc.cast(col, pa.timestamp("s")) if c["type"] == "timestamp" else col
    sink = io.BytesIO()
    pacsv.write_csv(pa.table(cols), sink, pacsv.WriteOptions(include_header=False))
    data = np.frombuffer(sink.getbuffer(), dtype=np.uint8)
    ends = np.flatnonzero(data == 10) + 1
    if len(ends) != block.num_rows:  # a value with a line break would break the byte cut
        raise ValueError(f"{contract['table']}: CSV rows contain line breaks")
    return pa.py_buffer(sink.getvalue()), np.r_[0, ends]


def write_table(landing: str | Path, contract: dict, table: pa.Table) -> dict:
    """Write one table as daily files; returns {'rows': n, 'files': k}."""
    names = column_names(contract)
    have = [c for c in table.column_names if c != FILE_DAY]
    if have != names:
        raise ValueError(f"{contract['table']}: columns {have} != contract {names}")
    days = _file_days(contract, table)
    if len(days) and np.any(np.diff(days) < 0):
        order = np.argsort(days, kind="stable")
        table, days = table.take(pa.array(order)), days[order]
    out_dir = table_dir(landing, contract)
    out_dir.mkdir(parents=True, exist_ok=True)
    if table.num_rows == 0:
        return {"rows": 0, "files": 0}
    starts = np.flatnonzero(np.r_[True, days[1:] != days[:-1]])
    bounds = np.r_[starts, len(days)]
    day_names = _day_strings(days[starts])
    fmt = contract["format"]
    header = (",".join(names) + "\n").encode()
    schema = arrow_schema(contract)
    files = 0
    d = 0
    while d < len(starts):  # blocks of whole days, about CHUNK_ROWS rows each
        e = d + 1
        while e < len(starts) and bounds[e + 1] - bounds[d] <= CHUNK_ROWS:
            e += 1
        r0, r1 = int(bounds[d]), int(bounds[e])
        block = table.slice(r0, r1 - r0)
        if fmt == "parquet":
            for k in range(d, e):
                part = table.slice(int(bounds[k]), int(bounds[k + 1] - bounds[k]))
                part = pa.table({f.name: pc.cast(_plain(part[f.name]), f.type) for f in schema}, schema=schema)
                pq.write_table(part, out_dir / file_name(contract, day_names[k]), compression="zstd")
            files += e - d
            d = e
            continue
        if fmt == "csv":
            buf, offs = _csv_block(block, contract)
        else:
            buf, offs = _line_slices(_json_lines(block, contract, ",\n" if fmt == "json" else "\n"))
        for k in range(d, e):
            a, b = int(offs[bounds[k] - r0]), int(offs[bounds[k + 1] - r0])
            with open(out_dir / file_name(contract, day_names[k]), "wb") as f:
                if fmt == "csv":
                    f.write(header)
                    f.write(buf.slice(a, b - a))
                elif fmt == "jsonl":
                    f.write(buf.slice(a, b - a))
                else:  # json document per day: {"reports": [ ... ]}
                    key = contract.get("records_path", "records")
                    f.write(f'{{"{key}": [\n'.encode())
                    f.write(buf.slice(a, b - a - 2))  # drop the last ",\n"
                    f.write(b"\n]}\n")
        files += e - d
        d = e
    return {"rows": table.num_rows, "files": files}
