"""Source contracts (lake/contracts/*.yaml): the single definition of every landing
table's system, file format, columns (in order) and event-time column."""
from __future__ import annotations

from pathlib import Path

import pyarrow as pa
import yaml

from lake.contracts import CONTRACTS_DIR

ARROW_TYPES = {
    "varchar": pa.string(), "double": pa.float64(), "integer": pa.int32(),
    "date": pa.date32(), "timestamp": pa.timestamp("us"), "boolean": pa.bool_(),
    "json": pa.string(),
}
EXTENSIONS = {"csv": "csv", "jsonl": "jsonl", "json": "json", "parquet": "parquet"}


def load_contracts(directory: str | Path | None = None) -> dict[str, dict]:
    directory = Path(directory) if directory else CONTRACTS_DIR
    out = {}
    for path in sorted(directory.glob("*.yaml")):
        spec = yaml.safe_load(path.read_text(encoding="utf-8"))
        out[spec["table"]] = spec
    if not out:
        raise FileNotFoundError(f"no contracts found in {directory}")
    return out


def column_names(contract: dict) -> list[str]:
    return [col["name"] for col in contract["columns"]]


def arrow_schema(contract: dict) -> pa.Schema:
    return pa.schema([(col["name"], ARROW_TYPES[col["type"]]) for col in contract["columns"]])


def table_dir(landing: str | Path, contract: dict) -> Path:
    return Path(landing) / contract["system"] / contract["table"]


def file_name(contract: dict, day_yyyymmdd: str) -> str:
    return f"{contract['table']}_{day_yyyymmdd}.{EXTENSIONS[contract['format']]}"
