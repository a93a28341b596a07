"""Dagster resources: where the lake is, configurable by environment (LAKE_ROOT)."""
from __future__ import annotations

import dagster as dg

from lake.layout import LakeLayout


class LakeResource(dg.ConfigurableResource):
    """Root of the lake: a local folder or s3://bucket/prefix (every location in it: lake.layout.LakeLayout)."""

    root: str

    def config(self) -> LakeLayout:
        return LakeLayout.at(self.root)
