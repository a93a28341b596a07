"""Partner export specs: one YAML file per partner export in ``exports/specs/``.

A spec is data: who (partner), which population (that partner's customers, by the partner column the
simulator assigns), which model/label and version policy, which columns, file format, compression,
part size, schedule, and destination (bucket + prefix). Every mistake is reported as a
``SpecError`` naming the spec file and the field, before anything is written.
"""
from __future__ import annotations

import os
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pyarrow as pa
import yaml

from lake.scores import LABELS, SCORES_SCHEMA

SPECS_DIR = Path(__file__).resolve().parent / "specs"

#: Columns a partner may receive: output type and where the value comes from (a scores column, or
#: derived). `customer_id` is deliberately absent: the internal id never leaves the platform.
EXPORTABLE_COLUMNS: dict[str, pa.DataType] = {
    "customer_token": pa.string(),   # derived: per-partner keyed HMAC of customer_id
    "business_date": pa.date32(),
    "partner_id": pa.string(),
    "label": pa.string(),
    "model_name": pa.string(),
    "model_version": pa.string(),
    "probability": pa.float64(),
    "score": pa.int32(),
    "grade": pa.string(),
    "reason_1": pa.string(),
    "reason_2": pa.string(),
    "reason_3": pa.string(),
    "decision": pa.string(),
    "recommended_limit": pa.float64(),
}
NEVER_EXPORTED = {"customer_id": "the internal customer id never leaves the platform; export customer_token instead"}
FORMATS = {"csv": ("none", "gzip"), "parquet": ("none", "snappy", "zstd", "gzip")}
DEFAULT_COMPRESSION = {"csv": "gzip", "parquet": "zstd"}
DEFAULT_MAX_ROWS = 500_000
MAX_ROWS_LIMIT = 10_000_000
TOP_LEVEL = {"name", "partner_id", "description", "population", "model", "columns", "file", "schedule", "destination"}
_NAME = re.compile(r"^[a-z][a-z0-9_]{0,62}$")
_PARTNER = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_-]{0,31}$")
_ENV = re.compile(r"\$\{([A-Z_][A-Z0-9_]*)(?::-([^}]*))?\}")
_BUCKET = re.compile(r"^[a-z0-9][a-z0-9.-]{1,61}[a-z0-9]$")
_PREFIX = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_./=-]*$")
_DAILY_CRON = re.compile(r"^\s*(\d{1,2})\s+(\d{1,2})\s+\*\s+\*\s+\*\s*$")


class SpecError(ValueError):
    """A partner export spec is wrong. Names the spec file and the field."""

    def __init__(self, spec_file: str | Path, field: str, message: str):
        self.spec_file = str(spec_file)
        self.field = field
        self.message = message
        super().__init__(f"{self.spec_file}: field '{field}': {message}")


@dataclass(frozen=True)
class OutputColumn:
    name: str      # name in the partner file
    source: str    # exportable column it is taken from


@dataclass(frozen=True)
class ExportSpec:
    path: Path
    name: str
    partner_id: str
    description: str
    partner_column: str
    model_name: str
    label: str
    version: str            # "champion" or an exact model_version
    columns: tuple[OutputColumn, ...]
    format: str
    compression: str
    max_rows_per_file: int
    cron: str
    timezone: str
    bucket_template: str    # may hold ${ENV_VAR:-default}
    prefix: str

    @property
    def bucket(self) -> str:
        """The destination bucket, with environment references resolved now."""
        try:
            bucket = resolve_env(self.bucket_template)
        except KeyError as exc:
            raise SpecError(self.path, "destination.bucket", f"environment variable {exc.args[0]} is not set "
                                                             f"(in '{self.bucket_template}')") from None
        if not _BUCKET.match(bucket):
            raise SpecError(self.path, "destination.bucket", f"'{bucket}' (from '{self.bucket_template}') is not a valid bucket name")
        return bucket

    @property
    def hour_minute(self) -> tuple[int, int]:
        m = _DAILY_CRON.match(self.cron)
        return int(m.group(2)), int(m.group(1))

    @property
    def extension(self) -> str:
        ext = ".csv" if self.format == "csv" else ".parquet"
        return ext + (".gz" if self.format == "csv" and self.compression == "gzip" else "")

    def output_schema(self) -> pa.Schema:
        return pa.schema([pa.field(c.name, EXPORTABLE_COLUMNS[c.source]) for c in self.columns])

    def error(self, field: str, message: str) -> SpecError:
        return SpecError(self.path, field, message)


def resolve_env(value: str) -> str:
    """Expand ${VAR} and ${VAR:-default} from the environment."""
    def sub(m: re.Match) -> str:
        got = os.environ.get(m.group(1))
        if got:
            return got
        if m.group(2) is not None:
            return m.group(2)
        raise KeyError(m.group(1))
    return _ENV.sub(sub, value)


def _section(raw: dict, key: str, path: Path, allowed: set[str], required: bool = True) -> dict:
    value = raw.get(key)
    if value is None:
        if required:
            raise SpecError(path, key, "missing")
        return {}
    if not isinstance(value, dict):
        raise SpecError(path, key, f"must be a mapping, got {type(value).__name__}")
    unknown = sorted(set(value) - allowed)
    if unknown:
        raise SpecError(path, f"{key}.{unknown[0]}", f"unknown field (allowed: {', '.join(sorted(allowed))})")
    return value


def _str(section: dict, key: str, path: Path, field: str, default: Any = None) -> str:
    value = section.get(key, default)
    if value is None:
        raise SpecError(path, field, "missing")
    if not isinstance(value, (str, int)) or isinstance(value, bool):
        raise SpecError(path, field, f"must be a string, got {type(value).__name__}")
    value = str(value).strip()
    if not value:
        raise SpecError(path, field, "must not be empty")
    return value


def _columns(raw: Any, path: Path) -> tuple[OutputColumn, ...]:
    if not isinstance(raw, list) or not raw:
        raise SpecError(path, "columns", "must be a non-empty list of column names or {name, source} mappings")
    cols = []
    for i, item in enumerate(raw):
        field = f"columns[{i}]"
        if isinstance(item, str):
            name = source = item
        elif isinstance(item, dict) and set(item) <= {"name", "source"} and "source" in item:
            source = str(item["source"])
            name = str(item.get("name", source))
        else:
            raise SpecError(path, field, f"must be a column name or a mapping {{source: <column>, name: <output name>}}, got {item!r}")
        if source in NEVER_EXPORTED:
            raise SpecError(path, field, f"'{source}' cannot be exported: {NEVER_EXPORTED[source]}")
        if source not in EXPORTABLE_COLUMNS:
            raise SpecError(path, field, f"unknown column '{source}' (exportable: {', '.join(EXPORTABLE_COLUMNS)})")
        if not re.match(r"^[A-Za-z_][A-Za-z0-9_]{0,63}$", name):
            raise SpecError(path, field, f"output name '{name}' must be a plain identifier")
        cols.append(OutputColumn(name=name, source=source))
    names = [c.name for c in cols]
    dup = sorted({n for n in names if names.count(n) > 1})
    if dup:
        raise SpecError(path, "columns", f"duplicate output column(s): {', '.join(dup)}")
    if "customer_token" not in {c.source for c in cols}:
        raise SpecError(path, "columns", "must include customer_token (the partner's only key to a customer)")
    return tuple(cols)


def parse_spec(raw: Any, path: Path) -> ExportSpec:
    if not isinstance(raw, dict):
        raise SpecError(path, "<root>", "a spec must be a YAML mapping")
    unknown = sorted(set(raw) - TOP_LEVEL)
    if unknown:
        raise SpecError(path, unknown[0], f"unknown field (allowed: {', '.join(sorted(TOP_LEVEL))})")

    name = _str(raw, "name", path, "name")
    if not _NAME.match(name):
        raise SpecError(path, "name", f"'{name}' must be lower_snake_case (it becomes the Dagster asset name)")
    partner_id = _str(raw, "partner_id", path, "partner_id")
    if not _PARTNER.match(partner_id):
        raise SpecError(path, "partner_id", f"'{partner_id}' is not a valid partner id")

    pop = _section(raw, "population", path, {"partner_column"}, required=False)
    partner_column = _str(pop, "partner_column", path, "population.partner_column", default="partner_id")
    if partner_column not in SCORES_SCHEMA.names or not pa.types.is_string(SCORES_SCHEMA.field(partner_column).type) \
            or partner_column == "customer_id":
        raise SpecError(path, "population.partner_column",
                        f"'{partner_column}' is not a partner column of the scores table (use partner_id)")

    model = _section(raw, "model", path, {"name", "label", "version"})
    model_name = _str(model, "name", path, "model.name")
    label = _str(model, "label", path, "model.label")
    if label not in LABELS:
        raise SpecError(path, "model.label", f"unknown label '{label}' (labels: {', '.join(LABELS)})")
    version = _str(model, "version", path, "model.version", default="champion")

    columns = _columns(raw.get("columns"), path)

    file = _section(raw, "file", path, {"format", "compression", "max_rows_per_file"})
    fmt = _str(file, "format", path, "file.format").lower()
    if fmt not in FORMATS:
        raise SpecError(path, "file.format", f"unknown format '{fmt}' (formats: {', '.join(FORMATS)})")
    compression = _str(file, "compression", path, "file.compression", default=DEFAULT_COMPRESSION[fmt]).lower()
    if compression not in FORMATS[fmt]:
        raise SpecError(path, "file.compression", f"'{compression}' is not available for {fmt} (choose from {', '.join(FORMATS[fmt])})")
    max_rows = file.get("max_rows_per_file", DEFAULT_MAX_ROWS)
    if not isinstance(max_rows, int) or isinstance(max_rows, bool) or not 1 <= max_rows <= MAX_ROWS_LIMIT:
        raise SpecError(path, "file.max_rows_per_file", f"must be an integer from 1 to {MAX_ROWS_LIMIT:,}, got {max_rows!r}")

    sched = _section(raw, "schedule", path, {"cron", "timezone"})
    cron = _str(sched, "cron", path, "schedule.cron")
    m = _DAILY_CRON.match(cron)
    if not m or int(m.group(1)) > 59 or int(m.group(2)) > 23:
        raise SpecError(path, "schedule.cron", f"'{cron}' is not a daily cron 'MINUTE HOUR * * *' "
                                               "(exports run once per business date)")
    timezone = _str(sched, "timezone", path, "schedule.timezone", default="Asia/Shanghai")
    if timezone != "Asia/Shanghai":
        raise SpecError(path, "schedule.timezone", "business dates are Asia/Shanghai days; the schedule must use that time zone")

    dest = _section(raw, "destination", path, {"bucket", "prefix"})
    bucket_template = _str(dest, "bucket", path, "destination.bucket")
    try:
        resolved = _ENV.sub(lambda m: m.group(2) if m.group(2) is not None else "placeholder-bucket", bucket_template)
    except Exception:  # pragma: no cover - regex sub does not raise
        resolved = bucket_template
    if "$" in resolved or not _BUCKET.match(resolved):
        raise SpecError(path, "destination.bucket",
                        f"'{bucket_template}' is not a bucket name (3-63 chars a-z 0-9 . -; ${{VAR:-default}} allowed)")
    prefix = _str(dest, "prefix", path, "destination.prefix").strip("/")
    if not _PREFIX.match(prefix) or ".." in prefix.split("/") or "//" in prefix:
        raise SpecError(path, "destination.prefix", f"'{prefix}' is not a clean key prefix")

    return ExportSpec(
        path=path, name=name, partner_id=partner_id, description=str(raw.get("description", "")).strip(),
        partner_column=partner_column, model_name=model_name, label=label, version=version, columns=columns,
        format=fmt, compression=compression, max_rows_per_file=max_rows, cron=cron, timezone=timezone,
        bucket_template=bucket_template, prefix=prefix,
    )


def load_spec(path: Path | str) -> ExportSpec:
    path = Path(path)
    try:
        raw = yaml.safe_load(path.read_text(encoding="utf-8"))
    except yaml.YAMLError as exc:
        raise SpecError(path, "<yaml>", f"not valid YAML: {exc}") from None
    except OSError as exc:
        raise SpecError(path, "<file>", f"cannot read: {exc}") from None
    return parse_spec(raw, path)


def check_isolation(specs: list[ExportSpec]) -> None:
    """Across specs: unique names, and no two partners writing under overlapping prefixes of one bucket."""
    seen: dict[str, ExportSpec] = {}
    for s in specs:
        if s.name in seen:
            raise SpecError(s.path, "name", f"'{s.name}' is also used by {seen[s.name].path.name}")
        seen[s.name] = s
    for i, b in enumerate(specs):  # blame the later file of an overlapping pair
        for a in specs[:i]:
            if a.bucket_template != b.bucket_template:
                continue
            pa_, pb = a.prefix + "/", b.prefix + "/"
            if pa_.startswith(pb) or pb.startswith(pa_):
                why = "another partner's" if a.partner_id != b.partner_id else "another export's"
                raise SpecError(b.path, "destination.prefix",
                                f"'{b.prefix}' overlaps {why} prefix '{a.prefix}' ({a.path.name}) in the same bucket")


def load_specs(folder: Path | str = SPECS_DIR) -> list[ExportSpec]:
    """All specs of a folder (sorted by file name), checked one by one and against each other."""
    folder = Path(folder)
    specs = [load_spec(p) for p in sorted(folder.glob("*.yaml")) + sorted(folder.glob("*.yml"))]
    check_isolation(specs)
    return specs
