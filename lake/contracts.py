"""Source contracts: one YAML file per landed table, read by the generic ingestion code."""
from __future__ import annotations

from dataclasses import dataclass, field
from functools import lru_cache
from pathlib import Path
from typing import Any

import yaml

from lake.pii import PII_PATTERNS

CONTRACTS_DIR = Path(__file__).resolve().parent / "contracts"

# Contract type -> DuckDB type used for TRY_CAST and for the bronze Parquet schema.
DUCKDB_TYPES = {
    "varchar": "VARCHAR",
    "integer": "INTEGER",
    "bigint": "BIGINT",
    "double": "DOUBLE",
    "boolean": "BOOLEAN",
    "date": "DATE",
    "timestamp": "TIMESTAMP",
    "json": "JSON",
}
FORMATS = {"csv": ".csv", "jsonl": ".jsonl", "json": ".json", "parquet": ".parquet"}
# Suffixes a delivery may carry on top of the format's extension (content is recognised by its bytes).
COMPRESSED_SUFFIXES = (".gz",)
JSON_SHAPES = {"array": "ARRAY", "object": "OBJECT"}
# Timestamps in bronze are wall-clock time of the business (naive); offsets in a delivery are converted to it.
BUSINESS_TIME_ZONE = "Asia/Shanghai"


class ContractError(ValueError):
    """A contract file itself is wrong (not the data it describes)."""


@dataclass(frozen=True)
class Column:
    name: str
    type: str
    required: bool = False
    pii: bool = False
    allowed: tuple[Any, ...] | None = None
    min: Any = None
    max: Any = None
    not_future: bool = False
    free_text: bool = False  # free text (city, reasons): Chinese text is data here, not a misplaced name
    # Text columns reject values holding a PII shape (lake/pii.py). `whole_value`: only a value that is PII as a
    # whole (random hex ids such as device_id contain digit runs shaped like a phone by chance).
    pii_guard: bool | str = True
    # PII kinds a guarded column cannot be checked for: its own values have that shape by design (a 16-hex-digit
    # Android device id is all decimal digits about once in 1,800 ids, the shape of a 16-digit bank card)
    pii_guard_skip: tuple[str, ...] = ()
    json_shape: str | None = None  # json columns: the JSON type the value must have (array / object)
    naive: bool = False  # timestamps: reject offsets / zones instead of converting to BUSINESS_TIME_ZONE

    @property
    def duckdb_type(self) -> str:
        return DUCKDB_TYPES[self.type]

    @property
    def guarded(self) -> bool:
        """Text that may not carry PII-shaped values into bronze (PII columns are tokenised instead, columns with
        an allowed list reject anything else anyway)."""
        return self.type == "varchar" and not self.pii and self.allowed is None and self.pii_guard is not False

    @property
    def pii_guard_patterns(self) -> dict[str, str]:
        """The PII shapes this column is checked for (lake/pii.py), less the kinds its contract skips."""
        return {kind: p for kind, p in PII_PATTERNS.items() if kind not in self.pii_guard_skip}

    @property
    def bronze_name(self) -> str:
        """PII columns leave the landing boundary only as keyed-hash tokens, under a name that says so."""
        return f"{self.name}_token" if self.pii else self.name


@dataclass(frozen=True)
class Contract:
    table: str
    system: str
    format: str
    primary_key: tuple[str, ...]
    event_time: str
    columns: tuple[Column, ...]
    description: str = ""
    records_path: str | None = None
    path: Path = field(default=Path("."), compare=False)

    @property
    def column_names(self) -> list[str]:
        return [c.name for c in self.columns]

    @property
    def extension(self) -> str:
        return FORMATS[self.format]

    def landing_dir(self, landing_root: Path) -> Path:
        return landing_root / self.system / self.table

    def recognises(self, file_name: str) -> bool:
        """Whether a landed file name is one of this table's deliveries: the format's extension in any
        letter case, optionally compressed (`.csv`, `.CSV`, `.csv.gz`)."""
        name = file_name.lower()
        return any(name.endswith(self.extension + s) for s in ("", *COMPRESSED_SUFFIXES)) \
            and not name.startswith(".")

    def column(self, name: str) -> Column:
        for c in self.columns:
            if c.name == name:
                return c
        raise KeyError(name)


def _parse(path: Path) -> Contract:
    raw = yaml.safe_load(path.read_text())
    where = f"{path.name}"
    try:
        columns = tuple(
            Column(
                name=c["name"],
                type=c["type"],
                required=bool(c.get("required", False)),
                pii=bool(c.get("pii", False)),
                allowed=tuple(c["allowed"]) if "allowed" in c else None,
                min=c.get("min"),
                max=c.get("max"),
                not_future=bool(c.get("not_future", False)),
                free_text=bool(c.get("free_text", False)),
                pii_guard=c.get("pii_guard", True),
                pii_guard_skip=tuple(c.get("pii_guard_skip", ())),
                json_shape=c.get("json_shape"),
                naive=bool(c.get("naive", False)),
            )
            for c in raw["columns"]
        )
        contract = Contract(
            table=raw["table"],
            system=raw["system"],
            format=raw["format"],
            primary_key=tuple(raw["primary_key"]),
            event_time=raw["event_time"],
            columns=columns,
            description=raw.get("description", ""),
            records_path=raw.get("records_path"),
            path=path,
        )
    except KeyError as exc:
        raise ContractError(f"{where}: missing key {exc}; every contract needs table, system, format, "
                            "primary_key, event_time and columns (each with name and type)") from exc
    names = contract.column_names
    for c in columns:
        if c.type not in DUCKDB_TYPES:
            raise ContractError(f"{where}: column {c.name!r} has unknown type {c.type!r}; use one of {sorted(DUCKDB_TYPES)}")
    for c in columns:
        if c.json_shape is not None and (c.type != "json" or c.json_shape not in JSON_SHAPES):
            raise ContractError(f"{where}: column {c.name!r}: json_shape needs type json and one of {sorted(JSON_SHAPES)}")
        if c.pii_guard not in (True, False, "whole_value"):
            raise ContractError(f"{where}: column {c.name!r}: pii_guard is true, false or whole_value")
        unknown = set(c.pii_guard_skip) - set(PII_PATTERNS)
        if unknown:
            raise ContractError(f"{where}: column {c.name!r}: pii_guard_skip names unknown PII kinds {sorted(unknown)}; "
                                f"use some of {sorted(PII_PATTERNS)}")
        if c.free_text and c.type != "varchar":
            raise ContractError(f"{where}: column {c.name!r}: free_text applies to varchar columns only")
        if c.naive and c.type != "timestamp":
            raise ContractError(f"{where}: column {c.name!r}: naive applies to timestamp columns only")
    if contract.format not in FORMATS:
        raise ContractError(f"{where}: unknown format {contract.format!r}; use one of {sorted(FORMATS)}")
    for key in (*contract.primary_key, contract.event_time):
        if key not in names:
            raise ContractError(f"{where}: {key!r} is named as key/event time but is not a column")
    if len(set(names)) != len(names):
        raise ContractError(f"{where}: duplicate column names")
    if contract.format == "json" and not contract.records_path:
        raise ContractError(f"{where}: format json needs records_path (the array of records in each document)")
    return contract


@lru_cache(maxsize=1)
def load_contracts(directory: Path = CONTRACTS_DIR) -> dict[str, Contract]:
    contracts = {}
    for path in sorted(directory.glob("*.yaml")):
        contract = _parse(path)
        if contract.table in contracts:
            raise ContractError(f"{path.name}: table {contract.table!r} is declared twice")
        contracts[contract.table] = contract
    return contracts
