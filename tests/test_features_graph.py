"""The point-in-time association-graph sweep on planted rings (no dbt): components grow only with links formed
before T, known-bad counts only bad known before T, hubs stop linking, ties are strict."""
from __future__ import annotations

from datetime import datetime, timedelta

import numpy as np
import pyarrow as pa

from features.graph import sweep

T0 = datetime(2026, 1, 1)
IDS = {"device": {"link": True, "max_members": 30}, "wifi": {"link": True, "max_members": 3},
       "ip": {"link": False, "max_members": 30}}


def day(n: float) -> datetime:
    return T0 + timedelta(days=n)


def run(queries, edges, bad):
    spine = pa.table({"customer_id": [q[0] for q in queries], "obs_at": pa.array([q[1] for q in queries], pa.timestamp("us"))})
    e = pa.table({"id_type": [x[0] for x in edges], "customer_id": [x[1] for x in edges], "id_value": [x[2] for x in edges],
                  "linked_at": pa.array([x[3] for x in edges], pa.timestamp("us"))})
    b = pa.table({"customer_id": [x[0] for x in bad], "bad_at": pa.array([x[1] for x in bad], pa.timestamp("us"))})
    return sweep(spine, e, b, IDS, growth_days=(30,))


def test_ring_components_grow_point_in_time_and_bad_counts_are_known_before_t():
    edges = [("device", "a", "d1", day(1)), ("device", "b", "d1", day(2)), ("device", "c", "d1", day(10)),
             ("device", "c", "d2", day(10)), ("device", "d", "d2", day(40)),  # d joins through c's second phone
             ("ip", "x", "ip1", day(1)), ("ip", "a", "ip1", day(1))]  # a shared IP: counted, never linked
    bad = [("c", day(20))]
    queries = [("a", day(1)), ("a", day(5)), ("a", day(15)), ("a", day(25)), ("a", day(45)), ("c", day(25)), ("x", day(45))]
    f = run(queries, edges, bad)
    # at exactly day 1 a's own link is not before T: alone
    assert f["graph_cc_size"].tolist() == [1, 2, 3, 3, 4, 3, 1]
    assert f["graph_cc_bad_cnt"].tolist() == [0, 0, 0, 1, 1, 0, 0]  # c known bad from day 20; never counts itself
    assert f["graph_cc_self_bad"].tolist() == [0, 0, 0, 0, 0, 1, 0]
    assert np.isnan(f["graph_cc_bad_density"][0]) and f["graph_cc_bad_density"][3] == 0.5
    assert f["graph_device_shared_sum"].tolist() == [0, 1, 2, 2, 2, 2, 0]  # d joins d2 only on day 40
    assert f["graph_device_shared_bad"].tolist() == [0, 0, 0, 1, 1, 0, 0]
    assert f["graph_ip_shared_sum"].tolist() == [0, 1, 1, 1, 1, 0, 1]  # shared IP counted ...
    assert f["graph_cc_size"][6] == 1  # ... but never links x to a
    assert f["graph_cc_growth_30d"].tolist() == [0, 1, 2, 2, 1, 2, 0]


def test_hub_identifiers_stop_linking_after_max_members():
    # a public Wi-Fi used by 6 customers: only the first 3 (max_members) are linked through it
    edges = [("wifi", f"c{i}", "pub", day(i + 1)) for i in range(6)]
    queries = [(f"c{i}", day(10)) for i in range(6)]
    f = run(queries, edges, [])
    assert f["graph_cc_size"].tolist() == [3, 3, 3, 1, 1, 1]
    assert f["graph_wifi_shared_sum"].tolist() == [5] * 6  # sharing still counts every user
    assert f["graph_cc_edges"].tolist() == [3, 3, 3, 0, 0, 0]
    assert f["graph_cc_ids"].tolist() == [1, 1, 1, 0, 0, 0]
