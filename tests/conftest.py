"""Shared test setup: the dbt manifest is prepared once per test session, explicitly (importing
orchestration.dbt_assets only reads it). Safe under pytest-xdist: prepare_manifest holds a file lock."""
from __future__ import annotations

import pytest


def pytest_configure(config):
    from orchestration.dbt_cli import prepare_manifest

    prepare_manifest()


@pytest.fixture(autouse=True)
def _main_module_restored():
    """Streamlit's AppTest leaves ``sys.modules["__main__"]`` set to the page script it ran. A process pool
    started later in the same test process with "spawn" (model training, shard workers) re-runs ``__main__`` in
    every child, so each child would run the dashboard outside Streamlit and die (BrokenProcessPool): put the
    test process's own ``__main__`` back after every test."""
    import sys

    main = sys.modules["__main__"]
    yield
    sys.modules["__main__"] = main


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
    from tests.lakehelpers import failures, run_graph

    generate_world(lake.landing, lake.truth, customers=3000, months=14, seed=5, log=lambda *_: None)
    # the strategy backtest needs every decision model's champion: not part of this world
    selection = unpartitioned - dg.AssetSelection.groups("models", "strategy") | dg.AssetSelection.assets(["models", "a_card"])
    result = run_graph(lake, selection)
    assert result.success, failures(result)


@pytest.fixture(scope="session")
def a_card_world(tmp_path_factory):
    """A 3,000-customer, 14-month world through the marts, features and a trained A-card, built once per test
    session (across xdist workers). Read-only: a test that adds to it takes `tests.lakehelpers.copy_lake`."""
    from tests.lakehelpers import shared_lake

    return shared_lake(tmp_path_factory, "a_card_world", _build_a_card_world)


def _build_trained_world(lake) -> None:
    import dagster as dg

    from models import lake_training
    from orchestration.definitions import unpartitioned
    from simulator import generate_world
    from tests.lakehelpers import LABELS, failures, run_graph, small_training

    generate_world(lake.landing, lake.truth, customers=3000, months=24, seed=42, log=None)
    result = run_graph(lake, unpartitioned - dg.AssetSelection.groups("models", "strategy"))
    assert result.success, failures(result)
    with pytest.MonkeyPatch.context() as mp:
        small_training(mp)
        for label in LABELS:
            lake_training.train_label(lake, label, log=lambda *_: None)


@pytest.fixture(scope="session")
def trained_world(tmp_path_factory):
    """A 3,000-customer, 24-month world through the marts, labels and features, with every label trained once
    (LightGBM + scorecard, `tests.lakehelpers.small_training`), built once per test session (across xdist
    workers). Read-only: a test module works on its own `tests.lakehelpers.copy_lake`."""
    from tests.lakehelpers import shared_lake

    return shared_lake(tmp_path_factory, "trained_world", _build_trained_world)


CHROMIUM = "/usr/bin/chromium"  # Debian's package (.ci/run installs it)


@pytest.fixture
def dashboard_in_browser():
    """Open the dashboards in headless Chromium: `with dashboard_in_browser(lake_root) as (page, base_url): ...`
    starts `streamlit run dashboards/app.py` on a free loopback port against that lake, waits for its health
    check, and stops both afterwards. Skips the test where Chromium is not installed."""
    import contextlib
    import os
    import socket
    import subprocess
    import sys
    import time
    import urllib.request

    from lake.layout import REPO_ROOT

    if not os.path.exists(CHROMIUM):
        pytest.skip(f"Debian's chromium ({CHROMIUM}) is not installed: apt-get install -y chromium")

    @contextlib.contextmanager
    def open_app(lake_root, viewport=(1500, 1000)):
        from playwright.sync_api import sync_playwright

        with socket.socket() as s:
            s.bind(("127.0.0.1", 0))
            port = s.getsockname()[1]
        server = subprocess.Popen(
            [sys.executable, "-m", "streamlit", "run", str(REPO_ROOT / "dashboards" / "app.py"), "--server.port",
             str(port), "--server.address", "127.0.0.1", "--server.headless", "true",
             "--browser.gatherUsageStats", "false"],
            env={**os.environ, "LAKE_ROOT": str(lake_root)}, cwd=REPO_ROOT,
            stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
        base_url = f"http://127.0.0.1:{port}"
        try:
            deadline = time.time() + 60
            while True:
                try:
                    urllib.request.urlopen(f"{base_url}/_stcore/health", timeout=1)
                    break
                except OSError:
                    assert server.poll() is None and time.time() < deadline, "streamlit did not start"
                    time.sleep(0.2)
            with sync_playwright() as pw:
                browser = pw.chromium.launch(executable_path=CHROMIUM, args=[
                    "--no-sandbox", "--disable-gpu", "--disable-background-networking", "--disable-component-update",
                    "--disable-sync", "--no-first-run"])
                try:
                    yield browser.new_page(viewport={"width": viewport[0], "height": viewport[1]}), base_url
                finally:
                    browser.close()
        finally:
            server.terminate()
            try:
                server.wait(timeout=10)
            except subprocess.TimeoutExpired:
                server.kill()

    return open_app


# A real S3 endpoint for tests (tests/s3server.py): one server per test process, a fresh bucket per test.
@pytest.fixture(scope="session")
def s3_server():
    """moto's standalone S3 server on 127.0.0.1 (a free port), one per test process (xdist worker)."""
    import logging

    from moto.server import ThreadedMotoServer

    from tests.s3server import S3Server

    logging.getLogger("werkzeug").setLevel(logging.WARNING)  # one access-log line per request otherwise
    server = ThreadedMotoServer(ip_address="127.0.0.1", port=0, verbose=False)
    server.start()
    host, port = server.get_host_and_port()
    try:
        yield S3Server(endpoint_url=f"http://{host}:{port}")
    finally:
        server.stop()


@pytest.fixture
def s3_client(s3_server, monkeypatch):
    from tests.s3server import FAKE_CREDENTIALS

    # Never let a test pick up real credentials or a real endpoint from the developer's environment.
    for var in ("AWS_PROFILE", "AWS_SESSION_TOKEN", "AWS_ROLE_ARN", "AWS_WEB_IDENTITY_TOKEN_FILE"):
        monkeypatch.delenv(var, raising=False)
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", FAKE_CREDENTIALS["aws_access_key_id"])
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", FAKE_CREDENTIALS["aws_secret_access_key"])
    monkeypatch.setenv("AWS_DEFAULT_REGION", "us-east-1")
    return s3_server.client()


@pytest.fixture
def s3_bucket(s3_client):
    """A fresh, empty bucket (unique name) on the test server."""
    import uuid

    name = f"test-{uuid.uuid4().hex[:20]}"
    s3_client.create_bucket(Bucket=name)
    return name
