"""Feature catalog -> SQL and documentation generation, and the vectorised reshape (no dbt needed)."""
from __future__ import annotations

import csv
import io
import math
import textwrap

import numpy as np
import pyarrow as pa
import pytest

from features.catalog import CatalogError, catalog, load_catalog
from features.docs import dictionary_csv
from features.engine import reshape
from features.generate import diff
from features.sqlgen import generated_files, long_sql

MINI = """
version: 1
families:
  shop:
    group: ecommerce
    source: stg_orders
    time: ordered_at
    windows: [7, 30]
    subject: orders
    measures:
      amt: {expr: order_amount, label: order amount}
    dimensions:
      cat: {column: category, phrase: "in category {value}", values: [books, games]}
      tod: {phrase: "at {value}", cases: {night: "order_hour < 6", day: "order_hour >= 6"}}
    distinct:
      merchant: {expr: merchant_id, label: merchants}
    features:
      - count
      - sum(amt)
      - mean(amt)
      - {agg: std(amt), by: [all]}
      - {agg: min(amt), by: [all]}
      - {agg: share(count), by: dims}
      - distinct(merchant)
      - days_since_last
      - {agg: accel(count), pairs: [[7, 30]], by: [all]}
"""


def mini(tmp_path, text=MINI):
    p = tmp_path / "catalog.yaml"
    p.write_text(textwrap.dedent(text))
    return load_catalog(p)


def test_committed_generated_files_equal_the_generator_output():
    assert diff(catalog()) == [], "generated files are stale: run `python -m features.generate`"


def test_thousands_of_features_each_documented():
    cat = catalog()
    feats = cat.features
    assert len(feats) >= 3000
    names = [f.name for f in feats]
    assert len(set(names)) == len(names)
    assert all(f.description and f.source and f.window and f.aggregation for f in feats)
    per_table = cat.by_table()
    assert max(len(v) for v in per_table.values()) <= 2000  # DuckDB slows near 10,000 columns
    families = {f.group for f in feats}
    assert {"ecommerce", "bureau", "multi_lending", "repayment", "fund_usage", "device_graph", "cross"} <= families
    rows = list(csv.DictReader(io.StringIO(dictionary_csv(cat))))
    assert [r["name"] for r in rows] == names
    assert set(rows[0]) >= {"name", "description", "source", "window", "aggregation", "family"}


def test_catalog_expands_into_named_documented_features(tmp_path):
    cat = mini(tmp_path)
    fam = cat.families["shop"]
    names = [f.name for f in fam.features]
    # 5 slices (all + 2 categories + 2 times of day) x 2 windows for count / sum / mean
    assert sum(f.agg == "count" for f in fam.features) == 10
    assert {"shop_cnt_7d", "shop_cat_books_sum_amt_30d", "shop_tod_night_avg_amt_7d", "shop_std_amt_30d",
            "shop_cat_games_shr_cnt_7d", "shop_dst_merchant_30d", "shop_dsl", "shop_acc_cnt_7v30"} <= set(names)
    f = cat.feature("shop_cat_books_sum_amt_30d")
    assert f.description == "Total order amount of orders in category books in the 30 days before the observation time"
    assert (f.window, f.aggregation, f.source, f.family) == ("30d", "sum(amt)", "stg_orders", "shop")


def test_one_line_adds_a_window_or_a_category(tmp_path):
    base = len(mini(tmp_path).features)
    more_windows = mini(tmp_path, MINI.replace("windows: [7, 30]", "windows: [7, 30, 90]"))
    more_values = mini(tmp_path, MINI.replace("values: [books, games]", "values: [books, games, toys]"))
    assert len(more_windows.features) > base and "shop_cat_books_cnt_90d" in {f.name for f in more_windows.features}
    assert "shop_cat_toys_avg_amt_7d" in {f.name for f in more_values.features}
    # per window: count, sum, mean x 5 slices + std, min + 4 shares + distinct = 22 features
    assert len(more_windows.features) - base == 22
    assert "when _age < 30 then 1" in long_sql(more_windows.families["shop"])


def test_generated_sql_is_one_point_in_time_pass_per_source(tmp_path):
    cat = mini(tmp_path)
    sql = long_sql(cat.families["shop"])
    assert sql.count("{{ ref('stg_orders') }}") == 1  # one scan of the source for all windows and slices
    assert "e._event_time < s.obs_at" in sql  # strictly before T
    assert "e._event_time >= s.obs_at - interval 30 day" in sql  # nothing older than the largest window is read
    assert "case when _age < 7 then 0 else 1 end as b" in sql
    assert "case when category = 'books' then 1 when category = 'games' then 2 end as d_cat" in sql
    assert "case when order_hour < 6 then 3 when order_hour >= 6 then 4 end as d_tod" in sql
    assert "group by r, d_cat, b" in sql and "group by r, d_tod, b" in sql
    assert "filter (where" not in sql.lower()  # no per-feature FILTER aggregates
    assert "min(b) as b from rows where x_merchant is not null group by r, x_merchant" in sql
    files = generated_files(cat)
    assert set(files) == {"dbt_project/models/features/feat_shop_long.sql", "dbt_project/models/features/feat_shop.py",
                          "dbt_project/models/features/_features.yml"}
    assert 'build_family("shop"' in files["dbt_project/models/features/feat_shop.py"]


def test_asof_family_joins_the_latest_parent_before_t():
    sql = long_sql(catalog().families["tl"])
    assert "asof join parent p on p.customer_id = s.customer_id and p._parent_time < s.obs_at" in sql
    assert "from snap join src e on e.report_id = snap._key" in sql


@pytest.mark.parametrize("bad,message", [
    ("      - max(nope)\n", "needs a declared measure"),
    ("      - {agg: count, windows: [90]}\n", "does not declare"),
    ("      - count\n", "declared twice"),
    ("      - {agg: share(count), by: [all]}\n", "always 1"),
    ("      - {agg: ratio(sum(amt), count)}\n", "needs two arguments and a `name`"),
])
def test_catalog_errors_are_explained(tmp_path, bad, message):
    with pytest.raises(CatalogError, match=message):
        mini(tmp_path, MINI + bad)


def test_reshape_cumulates_buckets_into_windows_and_derives_features(tmp_path):
    cat = mini(tmp_path)
    fam = cat.families["shop"]
    # one observation; orders: 10 (books, night, 2 days before T), 30 (games, day, 20 days before T),
    # 50 (books, day, 25 days before T); merchants M1, M2, M1
    slot = {s.label: s.index for s in fam.slots}
    rows = []  # (r, slot, b, n, s_amt, q_amt, c_amt, lo_amt, lo__age)

    def add(sl, b, amts, ages):
        rows.append((0, sl, b, len(amts), sum(amts), sum(a * a for a in amts), len(amts), min(amts), min(ages)))

    add(slot["all"], 0, [10], [2])
    add(slot["all"], 1, [30, 50], [20, 25])
    add(slot["cat=books"], 0, [10], [2])
    add(slot["cat=books"], 1, [50], [25])
    add(slot["cat=games"], 1, [30], [20])
    add(slot["tod=night"], 0, [10], [2])
    add(slot["tod=day"], 1, [30, 50], [20, 25])
    nan = float("nan")  # distinct merchants: each counted once, in the bucket of its latest order (M1: 0, M2: 1)
    rows += [(0, slot["distinct merchant"], 0, 1, nan, nan, nan, nan, nan),
             (0, slot["distinct merchant"], 1, 1, nan, nan, nan, nan, nan)]
    cols = ["r", "slot", "b", "n", "s_amt", "q_amt", "c_amt", "lo_amt", "lo__age"]
    long = {c: np.array([row[i] for row in rows], dtype=float) for i, c in enumerate(cols)}
    for c in ("r", "slot", "b"):
        long[c] = long[c].astype(np.int64)
    keys = pa.table({"obs_id": pa.array([1], pa.int64()), "customer_id": ["C"], "obs_at": pa.array([0], pa.timestamp("us"))})
    out = reshape(fam, keys, long).to_pylist()[0]
    assert out["shop_cnt_7d"] == 1 and out["shop_cnt_30d"] == 3
    assert out["shop_sum_amt_30d"] == 90 and out["shop_avg_amt_30d"] == 30
    assert math.isclose(out["shop_std_amt_30d"], 20.0)
    assert out["shop_std_amt_7d"] is None  # one order: no sample std
    assert out["shop_min_amt_30d"] == 10
    assert out["shop_cat_books_cnt_30d"] == 2 and out["shop_cat_games_cnt_7d"] == 0
    assert out["shop_cat_games_avg_amt_7d"] is None and out["shop_cat_games_avg_amt_30d"] == 30
    assert math.isclose(out["shop_cat_books_shr_cnt_30d"], 2 / 3)
    assert out["shop_dst_merchant_7d"] == 1 and out["shop_dst_merchant_30d"] == 2
    assert out["shop_dsl"] == 2
    assert math.isclose(out["shop_acc_cnt_7v30"], (1 / 7) / (3 / 30))
