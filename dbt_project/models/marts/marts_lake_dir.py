"""Create the folder the external marts are written to (LakeLayout.marts, env LAKE_MARTS_DIR).

dbt-duckdb's external materialisation COPYs to <external_root>/<model>.parquet but does not create the
folder, and SQL cannot; every mart depends on this model (through marts_as_of), so a fresh lake builds.
On S3 there is nothing to create (keys need no folders).
"""
import os


def model(dbt, session):
    dbt.config(materialized="table")
    path = os.environ["LAKE_MARTS_DIR"]  # set for every dbt call by LakeLayout.dbt_env()
    if "://" not in path:
        os.makedirs(path, exist_ok=True)
    return session.sql("select " + repr(path) + " as marts_dir")
