"""The Dask resource: where the feature mart's shard tasks run.

Unconfigured (the default), the mart runs in the Dagster step's own process, as it always has. With a scheduler
address (resource config `dask.scheduler_address`, or the `DASK_SCHEDULER_ADDRESS` environment variable) the
dbt step hands it to the feature models, whose shard tasks then go to that cluster with
`distributed.Client.map` (features/executor.py): still one Dagster run and one step in the UI, the cluster's
work visible on its own dashboard.
"""
from __future__ import annotations

import os

import dagster as dg

from features.executor import SCHEDULER_ENV


class DaskResource(dg.ConfigurableResource):
    """Dask scheduler for the feature mart's shard tasks; empty = in-process."""

    scheduler_address: str = ""

    def address(self) -> str:
        return (self.scheduler_address or os.environ.get(SCHEDULER_ENV, "")).strip()

    def dbt_env(self) -> dict[str, str]:
        """The variable the dbt subprocess's feature models read (empty: in-process), scoped to the dbt call
        like the lake's locations (orchestration.dbt_cli.scoped_env)."""
        return {SCHEDULER_ENV: self.address()}

    def describe(self) -> str:
        address = self.address()
        return (f"feature shards on the Dask cluster at {address}" if address
                else "feature shards in-process (no Dask scheduler configured)")
