"""Shared test setup: the dbt manifest is prepared once per test session, explicitly (importing
orchestration.dbt_assets only reads it). Safe under pytest-xdist: prepare_manifest holds a file lock."""
from __future__ import annotations

import pytest


def pytest_configure(config):
    from orchestration.dbt_cli import prepare_manifest

    prepare_manifest()


@pytest.fixture(scope="session")
def dask_client():
    """A 2-worker Dask LocalCluster started once per test session (a start costs ~20 s on a loaded machine):
    threads, one per worker, in this process (no worker processes to spawn), no dashboard."""
    distributed = pytest.importorskip("distributed")
    cluster = distributed.LocalCluster(n_workers=2, threads_per_worker=1, processes=False, dashboard_address=None,
                                       memory_limit="2GB")
    client = distributed.Client(cluster, set_as_default=False)
    try:
        yield client
    finally:
        client.close()
        cluster.close()
