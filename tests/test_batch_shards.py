"""Batch scoring by customer shard gives the same decisions and scores as one pass over the whole book.

On a private copy of the session's shared trained world (tests/conftest.py `trained_world`): no world of its own."""
from __future__ import annotations

import pandas as pd
import pyarrow.parquet as pq
import pytest

from features.executor import DaskRunner, InProcessRunner
from models.batch import score_business_date
from tests.lakehelpers import copy_lake

BUSINESS_DATE = "2026-09-30"


@pytest.fixture(scope="module")
def lake(trained_world, tmp_path_factory):
    return copy_lake(trained_world, tmp_path_factory.mktemp("batch_shards") / "lake")


def _files(lake):
    return (pq.read_table(lake.scores_file(BUSINESS_DATE)).to_pandas(),
            pq.read_table(lake.decisions_file(BUSINESS_DATE)).to_pandas())


def test_per_shard_scores_equal_one_pass(lake, dask_client):
    # reference: one pass over every observation, in this process (reading only the columns scoring needs is
    # safe by construction: a model or a strategy rule missing a column raises instead of scoring)
    one = score_business_date(lake, BUSINESS_DATE, log=lambda *_: None, runner=InProcessRunner(1), n_shards=1)
    scores_1, decisions_1 = _files(lake)
    sharded = score_business_date(lake, BUSINESS_DATE, log=lambda *_: None, runner=DaskRunner(dask_client),
                                  n_shards=3)
    scores_3, decisions_3 = _files(lake)

    assert sharded.n_shards == 3 and sharded.runner.startswith("dask")
    assert sharded.rows_by_label == one.rows_by_label and sum(one.rows_by_label.values()) > 0
    assert len(decisions_1) > 0 and len(scores_1) > 0
    # identical files, row order included (canonical order whatever the shard count)
    pd.testing.assert_frame_equal(scores_3, scores_1)
    pd.testing.assert_frame_equal(decisions_3, decisions_1)
    pd.testing.assert_frame_equal(sharded.scored, one.scored, check_dtype=False)
    # every shard contributed and no observation is scored twice
    assert decisions_3.groupby("label")["obs_id"].apply(lambda s: s.is_unique).all()
    # the parts of the run are gone once the contract files are written
    assert not any(lake.scores_shards(BUSINESS_DATE).glob("*/*.parquet"))
