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


def _build_a_card_world(lake) -> None:
    import dagster as dg

    from orchestration.definitions import unpartitioned
    from simulator import generate_world
    from tests.lakehelpers import run_graph

    generate_world(lake.landing, lake.truth, customers=3000, months=14, seed=5, log=lambda *_: None)
    # the strategy backtest needs every decision model's champion: not part of this world
    selection = unpartitioned - dg.AssetSelection.groups("models", "strategy") | dg.AssetSelection.assets(["models", "a_card"])
    assert run_graph(lake, selection).success


@pytest.fixture(scope="session")
def a_card_world(tmp_path_factory):
    """A 3,000-customer, 14-month world through the marts, features and a trained A-card, built once per test
    session (across xdist workers). Read-only: a test that adds to it takes `tests.lakehelpers.copy_lake`."""
    from tests.lakehelpers import shared_lake

    return shared_lake(tmp_path_factory, "a_card_world", _build_a_card_world)
