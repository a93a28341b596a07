"""What the models read from the lake: the model specs, the feature mart and the feature dictionary."""
from __future__ import annotations

from functools import lru_cache
from pathlib import Path

import pandas as pd
import yaml

from features.catalog import KEY_COLUMNS, catalog
from features.docs import DICTIONARY_CSV
from lake import storage
from lake.layout import LakeLayout
from models.registry import ModelRegistry

SPECS_DIR = Path(__file__).resolve().parent / "specs"
FEATURE_DICTIONARY = DICTIONARY_CSV


class ModelDataError(ValueError):
    """The lake does not hold what a model step needs (too few labels, a missing feature, ...)."""


@lru_cache(maxsize=1)
def model_specs() -> dict:
    """Which models are trained on the feature mart (models/specs/model_specs.yaml)."""
    return yaml.safe_load((SPECS_DIR / "model_specs.yaml").read_text())


def lake_registry(layout: LakeLayout) -> ModelRegistry:
    return ModelRegistry(layout.registry)


@lru_cache(maxsize=1)
def feature_dictionary() -> dict[str, str]:
    table = pd.read_csv(FEATURE_DICTIONARY, usecols=["name", "description"])
    return dict(zip(table["name"], table["description"]))


def _table_source(layout: LakeLayout, table: str, shard: tuple[int, int] | None) -> str:
    """read_parquet(...) of a feature table; with `shard` = (k, n), only part k of a family table built in n
    customer shards (features/shards.py), since the observations asked for all belong to that shard."""
    from features.shards import read_manifest

    path = layout.feature_table(table)
    if shard is not None:
        manifest = read_manifest(path)
        if manifest and int(manifest.get("n_shards", 0)) == int(shard[1]):
            part = next((p["file"] for p in manifest["parts"] if int(p["shard"]) == int(shard[0])), None)
            if part is not None:
                return f"read_parquet({storage.sql_string(path / part)})"
    return f"read_parquet({storage.sql_string(storage.parquet_source(path))})"  # one file or a folder of parts


def load_features(layout: LakeLayout, obs: pd.DataFrame, columns: list[str] | None = None,
                  shard: tuple[int, int] | None = None) -> pd.DataFrame:
    """Every family table's features for the given observations, one row per obs_id (same order), families
    in catalog order and columns sorted by name, so the same lake always gives the same frame; numeric and
    bool features as float32 (halves the memory of thousands of columns), NaN where a table has no row.
    Families are read one at a time with a semi-join, so only the needed rows are materialised; DuckDB
    orders the rows and casts the columns (a pandas reindex and astype of a wide frame cost seconds).
    `shard` = (k, n): every observation's customer is in customer shard k of n (models/batch.py)."""
    import pyarrow as pa

    con = storage.connect(layout.root)
    con.register("wanted", pa.table({"obs_id": pa.array(obs["obs_id"].to_numpy()),
                                     "_pos": pa.array(range(len(obs)), pa.int64())}))
    frames = [obs.reset_index(drop=True)]
    wanted_columns = None if columns is None else set(columns)
    keys = set(KEY_COLUMNS)
    for table in catalog().tables:
        source = _table_source(layout, table, shard)
        described = con.sql(f"DESCRIBE SELECT * FROM {source}").fetchall()
        types = {name: kind for name, kind, *_ in described if name not in keys}
        names = sorted(types) if wanted_columns is None else sorted(n for n in types if n in wanted_columns)
        if not names:
            continue
        select = ", ".join(f'CAST(f."{n}" AS FLOAT) AS "{n}"' if _is_numeric_sql(types[n]) else f'f."{n}"'
                           for n in names)
        part = con.sql(f"SELECT {select} FROM wanted w LEFT JOIN {source} f USING (obs_id) ORDER BY w._pos").df()
        frames.append(part)
    return pd.concat(frames, axis=1)


_NUMERIC_SQL = ("BOOLEAN", "TINYINT", "SMALLINT", "INTEGER", "BIGINT", "HUGEINT", "UTINYINT", "USMALLINT", "UINTEGER",
                "UBIGINT", "FLOAT", "DOUBLE", "REAL")


def _is_numeric_sql(kind: str) -> bool:
    return kind.upper() in _NUMERIC_SQL or kind.upper().startswith("DECIMAL")
