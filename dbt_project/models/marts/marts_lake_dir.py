"""Create the folder the external marts are written to (<LAKE_ROOT>/marts).

dbt-duckdb's external materialisation COPYs to <external_root>/<model>.parquet but does not create the
folder, and SQL cannot; every mart depends on this model (through marts_as_of), so a fresh lake builds.
"""
import os


def model(dbt, session):
    dbt.config(materialized="table")
    # same resolution as profiles.yml: env LAKE_ROOT, else ../data relative to dbt's working directory
    path = os.path.abspath(os.path.join(os.environ.get("LAKE_ROOT", "../data"), "marts"))
    os.makedirs(path, exist_ok=True)
    return session.sql("select " + repr(path) + " as marts_dir")
