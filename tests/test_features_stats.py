"""Feature stats (missing rate, distinct, IV, PSI), the Dagster asset + check, and the Features page."""
from __future__ import annotations

import os

import dagster as dg
import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from features.catalog import catalog
from features.stats import column_stats, optbinning_iv, psi, quick_iv
from features.testing import shared_build
from lake.layout import LakeLayout
from orchestration.feature_assets import MART_KEYS, feature_assets, feature_checks, feature_stats
from orchestration.resources import LakeResource
from tests.lakehelpers import failures
from tests.test_features_mart import _build


def test_psi_and_iv_behave():
    rng = np.random.default_rng(0)
    a = rng.normal(size=20_000)
    assert psi(a[:10_000], a[10_000:]) < 0.01  # same distribution: stable
    assert psi(a[:10_000], a[10_000:] + 1.0) > 0.25  # shifted by one sd: shift
    y = (rng.random(20_000) < 0.1).astype(float)
    noise = rng.normal(size=20_000)
    signal = noise + 2.0 * y
    assert quick_iv(noise, y) < 0.02 < 0.3 < quick_iv(signal, y)
    signal[:2000] = np.nan  # missing values get their own bin
    assert quick_iv(signal, y) > 0.3
    assert optbinning_iv(signal[:3000], y[:3000]) > 0.3


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_column_stats_equal_the_per_feature_reference(seed):
    """The vectorised statistics of a chunk of columns equal, column by column, numpy's reductions on the
    column's values and the one-column psi / quick_iv, on columns built to hit the edge cases: missing values,
    ties and repeated decile edges, a constant, an all-missing column, zeros, a binary flag, a column
    missing in the whole first period."""
    rng = np.random.default_rng(seed)
    n = 600
    in_first, in_last = rng.random(n) < 0.3, rng.random(n) < 0.3
    has_label = rng.random(n) < 0.5
    y = (rng.random(int(has_label.sum())) < 0.2).astype(float)
    cont = rng.normal(size=n)
    cont[rng.random(n) < 0.2] = np.nan
    counts = rng.poisson(0.7, size=n).astype(float)  # mostly 0/1/2: repeated deciles
    first_missing = rng.normal(size=n)
    first_missing[in_first] = np.nan
    signed_zero = np.where(rng.random(n) < 0.5, 0.0, -0.0)
    X = np.column_stack([cont, counts, np.full(n, 3.0), np.full(n, np.nan), (rng.random(n) < 0.1).astype(float),
                         first_missing, signed_zero, np.round(rng.exponential(size=n), 1)])
    st = column_stats(X, in_first, in_last, has_label, y)
    for j in range(X.shape[1]):
        x = X[:, j]
        ok = x[~np.isnan(x)]
        assert st["n_ok"][j] == ok.size
        assert st["distinct"][j] == np.unique(ok).size
        if ok.size:
            assert st["mean"][j] == pytest.approx(ok.mean(), rel=1e-12, abs=1e-15)
            assert st["std"][j] == pytest.approx(ok.std(), rel=1e-9, abs=1e-12)
            assert (st["min"][j], st["max"][j]) == (ok.min(), ok.max())
            assert [st[q][j] for q in ("p01", "p50", "p99")] == list(np.quantile(ok, [0.01, 0.5, 0.99]))
            assert st["zero_rate"][j] == (ok == 0).mean()
        else:
            assert np.isnan(st["mean"][j]) and np.isnan(st["p50"][j])
        assert st["psi"][j] == pytest.approx(psi(x[in_first], x[in_last]), rel=1e-12, abs=1e-15)
        assert st["iv_quick"][j] == pytest.approx(quick_iv(x[has_label], y), rel=1e-12, abs=1e-15)
    assert st["distinct"][2] == 1 and st["distinct"][3] == 0 and st["distinct"][6] == 1
    no_period = column_stats(X, np.zeros(n, bool), in_last, has_label, y)
    assert np.isnan(no_period["psi"]).all()
    one_class = column_stats(X, in_first, in_last, has_label, np.zeros_like(y))
    assert np.isnan(one_class["iv_quick"]).all()


@pytest.fixture(scope="module")
def lake(tmp_path_factory, worker_id) -> LakeLayout:
    base = tmp_path_factory.getbasetemp() if worker_id == "master" else tmp_path_factory.getbasetemp().parent
    return LakeLayout(root=shared_build(base, "features_hand_lake", _build))


def test_feature_stats_asset_and_check_on_the_hand_lake(lake):
    result = dg.materialize([feature_stats], resources={"lake": LakeResource(root=str(lake.root))},
                            selection=[feature_stats.key])
    assert result.success, failures(result)
    mat = result.asset_materializations_for_node(feature_stats.op.name)[0]
    assert mat.metadata["features"].value == len(catalog().features)
    assert mat.metadata["labelled_applications"].value == 0  # no loan has 6 months on book yet: IV stays missing
    stats = pq.read_table(lake.root / "features" / "_stats" / "feature_stats.parquet").to_pandas().set_index("name")
    assert len(stats) == len(catalog().features)
    assert stats["iv"].isna().all()
    # 12 spine rows; only C1 has a telco check (before all 4 of its observations): 8 of 12 missing
    assert stats.loc["telco_tenure", "missing_rate"] == pytest.approx(8 / 12)
    assert stats.loc["ecom_cnt_30d", "missing_rate"] == 0
    assert stats.loc["graph_cc_size", "distinct_count"] == 3  # sizes 1, 2, 3
    assert set(stats["psi_class"].dropna()) <= {"stable", "watch", "shift"}
    dictionary = pq.read_table(lake.root / "features" / "_stats" / "feature_dictionary.parquet")
    assert dictionary.num_rows == len(catalog().features)
    defs = dg.Definitions(assets=feature_assets, asset_checks=feature_checks,
                          resources={"lake": LakeResource(root=str(lake.root))})
    job = defs.resolve_implicit_global_asset_job_def()
    res = job.execute_in_process(asset_selection=[feature_stats.key])
    evals = [e.asset_check_evaluation_data for e in res.all_events if e.event_type_value == "ASSET_CHECK_EVALUATION"]
    assert evals and all(e.passed for e in evals), [e.metadata for e in evals]


def test_feature_assets_hang_off_the_dbt_feature_models():
    from orchestration.definitions import defs

    keys = {k for a in defs.assets for k in getattr(a, "keys", [])}
    missing = [k for k in MART_KEYS if k not in keys]
    assert not missing, f"dbt feature models not found as assets: {missing[:5]}"
    merged = dg.Definitions.merge(defs, dg.Definitions(assets=feature_assets, asset_checks=feature_checks))
    graph = merged.resolve_asset_graph()
    assert set(MART_KEYS) <= set(graph.get(feature_stats.key).parent_keys)


def test_features_page_search_and_detail(lake):
    from streamlit.testing.v1 import AppTest

    os.environ["LAKE_ROOT"] = str(lake.root)
    try:
        at = AppTest.from_file(str(__import__("dashboards.page_modules.features", fromlist=["x"]).__file__), default_timeout=60)
        at.run()
        assert not at.exception, at.exception
        metrics = {m.label: m.value for m in at.metric}
        assert metrics["Features"] == f"{len(catalog().features):,}"
        at.text_input(key="feat_search").input("connected component").run()
        assert not at.exception
        picked = at.selectbox(key="feat_pick").value
        assert picked.startswith("graph_cc_")
        assert any(picked in h.value for h in at.header)
        assert at.get("graphviz_chart")  # lineage
    finally:
        os.environ.pop("LAKE_ROOT", None)


def test_iv_is_measured_against_the_label_the_a_card_models_train_on(tmp_path):
    from features.stats import acard_labels, iv_target
    from models.lake_inputs import model_specs

    target = model_specs()["labels"]["a_card"]["target"]
    assert iv_target() == target
    path = tmp_path / "labels.parquet"
    pq.write_table(pa.table({"obs_id": pa.array([1, 2, 3, 4], pa.int64()),
                             target: pa.array([True, None, False, True]),
                             "bad_fraud": pa.array([False, True, True, None])}), path)
    got = acard_labels(path).to_pydict()
    assert got == {"obs_id": [1, 3, 4], "label": [1, 0, 1]}  # the A-card column, not a look-alike
    assert acard_labels(tmp_path / "missing.parquet").num_rows == 0
