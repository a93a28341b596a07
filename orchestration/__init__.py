"""Dagster orchestration of the risk lakehouse: ingestion to bronze, dbt layers and everything downstream."""
