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
    in catalog order and columns sorted by name, so the same lake always gives the same frame.
    Families are read one at a time with a semi-join, so only the needed rows are materialised.
    `shard` = (k, n): every observation's customer is in customer shard k of n (models/batch.py)."""
    con = storage.connect(layout.root)
    con.register("wanted", obs[["obs_id"]])
    frames = [obs.reset_index(drop=True)]
    wanted_columns = None if columns is None else set(columns)
    for table in catalog().tables:
        source = _table_source(layout, table, shard)
        if wanted_columns is None:
            select = f"f.* EXCLUDE ({', '.join(c for c in KEY_COLUMNS if c != 'obs_id')})"
        else:  # only the named features (e.g. a model's own), much less to read
            have = [n for n in con.sql(f"DESCRIBE SELECT * FROM {source}").df()["column_name"]
                    if n in wanted_columns]
            if not have:
                continue
            select = ", ".join(["f.obs_id", *(f'f."{n}"' for n in have)])
        part = con.sql(f"SELECT {select} FROM {source} f SEMI JOIN wanted USING (obs_id)").df()
        part = part.set_index("obs_id").reindex(obs["obs_id"].to_numpy())
        part = part[sorted(part.columns)]  # a stable column order whatever order the file was written in
        num = part.select_dtypes(include=["number", "bool"]).columns
        part[num] = part[num].astype("float32")  # halves memory of thousands of columns
        frames.append(part.reset_index(drop=True))
    return pd.concat(frames, axis=1)
