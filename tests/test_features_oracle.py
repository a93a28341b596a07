"""Point-in-time oracle: the mart against a brute-force, row-by-row reference on random data.

Beside the leakage test (which shows future records change nothing), this shows the values themselves are
right: for a random sample of observations, features of the `ecom` family (counts, sums, means, min / max,
std, shares, distinct counts, days since first / last, accelerations; all records and every value of the
category / channel / payment dimensions; every window) are recomputed in plain Python by scanning the
customer's orders one by one and keeping those strictly before T inside the window (as Chronon's
NaiveAggregator or Feast's find_asof_record do), then compared with the sharded mart."""
from __future__ import annotations

import math
import random
from datetime import timedelta

import duckdb
import pytest

from features.catalog import catalog
from features.executor import InProcessRunner
from features.shards import build_family_table, read_family_table
from features.testing import random_orders_world

FAMILY = "ecom"
AGGS = {"count", "sum", "mean", "max", "min", "std", "share", "distinct", "days_since_last", "days_since_first",
        "accel"}


@pytest.fixture(scope="module")
def mart_and_world(tmp_path_factory):
    spine, orders = random_orders_world(customers=120, days=420, seed=11)
    con = duckdb.connect()
    con.register("spine_in", spine)
    con.register("orders_in", orders)
    tmp = tmp_path_factory.mktemp("oracle")
    loc = tmp / "feat_ecom.parquet"
    build_family_table(FAMILY, con, {"feat_spine": "select * from spine_in", "stg_orders": "select * from orders_in"},
                       loc, tmp / "_shards", InProcessRunner(), n=3)
    return read_family_table(loc), spine, orders


def _days(w: str) -> int:
    return int(w.rstrip("d"))


def brute_force(f, fam, recs: list[dict], T) -> float | int | None:
    """One feature at one observation from the customer's raw orders, the slow obvious way."""
    lookback = fam.lookback

    def in_window(r, w: int) -> bool:
        if not r["ordered_at"] < T:  # strictly before T
            return False
        if w >= lookback:  # the widest window is the lookback: T - lookback <= t < T
            return r["ordered_at"] >= T - timedelta(days=lookback)
        return (T - r["ordered_at"]).total_seconds() / 86400 < w

    def in_slice(r, sl: str) -> bool:
        if sl == "all":
            return True
        dim, value = sl.split("=")
        return r[fam.dimensions[dim].column] == value

    def rows(sl, w):
        return [r for r in recs if in_slice(r, sl) and in_window(r, w)]

    col = fam.measures[f.measure].expr if f.measure in fam.measures else None
    if f.agg == "accel":
        a, b = (_days(x) for x in f.window.split("/"))
        na, nb = len(rows(f.slice, a)), len(rows(f.slice, b))
        return None if nb == 0 else (na / a) / (nb / b)
    rs = rows(f.slice, _days(f.window))
    if f.agg == "count":
        return len(rs)
    if f.agg == "share":  # of the count, or of a measure's sum
        everything = rows("all", _days(f.window))
        if col is None:
            return None if not everything else len(rs) / len(everything)
        total = sum(r[col] for r in everything if r[col] is not None)
        return None if total == 0 else sum(r[col] for r in rs if r[col] is not None) / total
    if f.agg == "distinct":
        return len({r[fam.distincts[f.measure].expr] for r in rs if r[fam.distincts[f.measure].expr] is not None})
    if f.agg in ("days_since_last", "days_since_first"):
        ages = [(T - r["ordered_at"]).total_seconds() / 86400 for r in rs]
        return None if not ages else (min(ages) if f.agg == "days_since_last" else max(ages))
    xs = [r[col] for r in rs if r[col] is not None]
    if f.agg == "sum":
        return sum(xs)
    if not xs:
        return None
    if f.agg == "mean":
        return sum(xs) / len(xs)
    if f.agg == "max":
        return max(xs)
    if f.agg == "min":
        return min(xs)
    if f.agg == "std":
        if len(xs) < 2:
            return None
        m = sum(xs) / len(xs)
        return math.sqrt(max(sum((x - m) ** 2 for x in xs) / (len(xs) - 1), 0.0))
    raise AssertionError(f.agg)


def _checked_features(fam):
    eq_dims = {k for k, d in fam.dimensions.items() if d.column}
    out = []
    for f in fam.features:
        if f.agg not in AGGS or (f.slice != "all" and f.slice.split("=")[0] not in eq_dims):
            continue
        out.append(f)
    return out


def test_mart_matches_a_row_by_row_reference(mart_and_world):
    mart, spine, orders = mart_and_world
    fam = catalog().families[FAMILY]
    feats = _checked_features(fam)
    assert len(feats) > 400 and {f.agg for f in feats} == AGGS
    by_customer: dict[str, list[dict]] = {}
    for r in orders.select(["customer_id", "ordered_at", "order_amount", "category", "channel", "payment_method",
                            "merchant_id", "device_id", "ordered_date", "order_hour"]).to_pylist():
        by_customer.setdefault(r["customer_id"], []).append(r)
    rows = mart.select(["customer_id", "obs_at", *(f.name for f in feats)]).to_pylist()
    rng = random.Random(5)
    sample = rng.sample(rows, 50)
    # always include observations at exactly the time of one of the customer's orders (must not see it)
    sample += [r for r in rows if any(o["ordered_at"] == r["obs_at"] for o in by_customer.get(r["customer_id"], []))][:10]
    checked, mismatches, nonzero = 0, [], 0
    for row in sample:
        recs = by_customer.get(row["customer_id"], [])
        for f in feats:
            want = brute_force(f, fam, recs, row["obs_at"])
            got = row[f.name]
            checked += 1
            if want is None or got is None:
                ok = want is None and got is None
            else:
                ok = math.isclose(got, want, rel_tol=1e-7, abs_tol=1e-6)
                nonzero += want != 0
            if not ok:
                mismatches.append((f.name, row["customer_id"], str(row["obs_at"]), got, want))
    assert checked > 20_000 and nonzero > 2_000  # a real sample with real values, not empty windows
    assert not mismatches, f"{len(mismatches)} of {checked} differ, e.g. {mismatches[:5]}"
