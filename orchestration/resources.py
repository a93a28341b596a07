"""Dagster resources: where the lake is, configurable by environment (LAKE_ROOT)."""
from __future__ import annotations

from pathlib import Path

import dagster as dg

from lake.layout import LakeLayout


class LakeResource(dg.ConfigurableResource):
    """Root folder of the lake (landing, bronze, quarantine, marts, lakehouse.duckdb)."""

    root: str

    def config(self) -> LakeLayout:
        return LakeLayout(root=Path(self.root).resolve())
