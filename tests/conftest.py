"""Shared test setup: the dbt manifest is prepared once per test session, explicitly (importing
orchestration.dbt_assets only reads it). Safe under pytest-xdist: prepare_manifest holds a file lock."""
from __future__ import annotations


def pytest_configure(config):
    from orchestration.dbt_cli import prepare_manifest

    prepare_manifest()
