"""Partner exports: batch score files + manifest per partner and business date, to a local folder or S3.

Modules: ``contract`` (the scores table the exporter reads), ``spec`` (partner export specs as YAML),
``tokens`` (pseudonymous per-partner customer tokens), ``storage`` (one object-store interface: local
folder / boto3 S3), ``exporter`` (write files then manifest; read back and verify), ``fake`` (fake
scores for tests and benchmarks). See exports/README.md.
"""
from lake.scores import (SCORES_COLUMNS, SCORES_SCHEMA, ScoresContractError, conform_scores_table, scores_path,
                              validate_scores_schema)
from exports.exporter import ExportError, ExportResult, export_partition, read_export
from exports.spec import ExportSpec, SpecError, load_spec, load_specs
from exports.storage import LocalFolderStore, ObjectStore, S3Store, store_from_env
from exports.tokens import partner_token

__all__ = [
    "SCORES_COLUMNS", "SCORES_SCHEMA", "ScoresContractError", "conform_scores_table", "scores_path",
    "validate_scores_schema",
    "ExportError", "ExportResult", "export_partition", "read_export", "ExportSpec", "SpecError", "load_spec", "load_specs",
    "LocalFolderStore", "ObjectStore", "S3Store", "store_from_env", "partner_token",
]
