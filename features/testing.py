"""Test support for the feature mart: a tiny hand-written lake whose feature values are computed by hand
(tests/test_features_mart.py), the point-in-time truncation used by the leakage test, and a lock so that
pytest-xdist workers build each test lake once."""
from __future__ import annotations

import fcntl
import json
from collections.abc import Callable
from datetime import datetime
from pathlib import Path

NIDS = {c: f"1101011990010{i}123X"[:18] for i, c in enumerate(["C1", "C2", "C3", "C4", "C5"], start=1)}


def _customer(cid: str, i: int, **kw) -> dict:
    row = {"customer_id": cid, "name": f"Name{i}", "national_id": NIDS[cid], "phone": f"1380000000{i}",
           "bank_card": f"62220200000000000{i:02d}", "gender": "F", "birth_date": "1990-01-01", "city": "北京",
           "city_tier": 1, "education": "bachelor", "occupation": "it_engineer", "monthly_income": 8000,
           "channel": "app", "registered_at": "2026-01-01 10:00:00"}
    row.update(kw)
    return row


def _status(tail: str) -> str:
    return "*" * (24 - len(tail)) + tail


HAND_ROWS: dict[str, list[dict]] = {
    "customers": [
        _customer("C1", 1),
        _customer("C2", 2, gender="M", monthly_income=5000),
        _customer("C3", 3, registered_at="2026-04-01 10:00:00"),
        _customer("C4", 4, registered_at="2026-04-02 10:00:00"),
        _customer("C5", 5, registered_at="2026-04-03 10:00:00"),
    ],
    "orders": [
        {"order_id": "O1", "customer_id": "C1", "ordered_at": "2026-06-10 20:00:00", "amount": 100, "category": "groceries",
         "merchant_id": "M1", "channel": "app", "payment_method": "balance", "device_id": "D1"},
        {"order_id": "O2", "customer_id": "C1", "ordered_at": "2026-06-25 02:00:00", "amount": 30, "category": "gaming",
         "merchant_id": "M2", "channel": "web", "payment_method": "credit_line", "device_id": "D1"},
        {"order_id": "O3", "customer_id": "C1", "ordered_at": "2026-06-28 14:00:00", "amount": 2500, "category": "digital",
         "merchant_id": "M1", "channel": "app", "payment_method": "credit_card", "device_id": "D2"},
        {"order_id": "O4", "customer_id": "C1", "ordered_at": "2026-07-05 10:00:00", "amount": 999, "category": "luxury",
         "merchant_id": "M3", "channel": "app", "payment_method": "balance", "device_id": "D2"},
    ],
    "app_events": [
        {"event_id": "E1", "customer_id": "C1", "event_at": "2026-01-01 10:05:00", "event_type": "registration",
         "device_id": "D1", "ip": "1.2.3.4", "geo_lat": 39.9, "geo_lon": 116.4, "wifi_mac": "aa:aa:aa:aa:aa:09"},
        {"event_id": "E2", "customer_id": "C1", "event_at": "2026-06-30 21:00:00", "event_type": "login",
         "device_id": "D2", "ip": "5.6.7.8", "geo_lat": 39.9, "geo_lon": 116.4},
        # a planted ring: C3, C4, C5 share one phone (device DEVRING); C5 is on an industry fraud list
        {"event_id": "E3", "customer_id": "C3", "event_at": "2026-05-01 10:00:00", "event_type": "login",
         "device_id": "DEVRING", "ip": "9.9.9.1", "wifi_mac": "aa:aa:aa:aa:aa:01"},
        {"event_id": "E4", "customer_id": "C3", "event_at": "2026-05-02 10:00:00", "event_type": "login",
         "device_id": "DEVRING", "ip": "9.9.9.1", "wifi_mac": "aa:aa:aa:aa:aa:01"},
        {"event_id": "E5", "customer_id": "C4", "event_at": "2026-05-10 10:00:00", "event_type": "login",
         "device_id": "DEVRING", "ip": "9.9.9.2", "wifi_mac": "aa:aa:aa:aa:aa:01"},
        {"event_id": "E6", "customer_id": "C5", "event_at": "2026-06-05 08:00:00", "event_type": "login",
         "device_id": "DEVRING", "ip": "9.9.9.3"},
    ],
    "applications": [
        {"application_id": "A1", "customer_id": "C1", "applied_at": "2026-07-01 09:00:00", "product": "revolving",
         "channel": "app", "requested_limit": 12000, "decision": "approved", "approved_limit": 10000, "device_id": "D2"},
        {"application_id": "A2", "customer_id": "C2", "applied_at": "2026-07-10 09:00:00", "product": "revolving",
         "channel": "web", "requested_limit": 6000, "decision": "approved", "approved_limit": 5000, "device_id": "DC2"},
        {"application_id": "A3", "customer_id": "C3", "applied_at": "2026-06-10 10:00:00", "product": "installment",
         "channel": "app", "requested_limit": 5000, "decision": "rejected", "device_id": "DEVRING"},
        {"application_id": "A4", "customer_id": "C4", "applied_at": "2026-05-20 10:00:00", "product": "installment",
         "channel": "app", "requested_limit": 5000, "decision": "rejected", "device_id": "DEVRING"},
        {"application_id": "A5", "customer_id": "C5", "applied_at": "2026-06-05 08:00:00", "product": "installment",
         "channel": "app", "requested_limit": 5000, "decision": "rejected", "device_id": "DEVRING"},
        {"application_id": "A6", "customer_id": "C4", "applied_at": "2026-09-30 12:00:00", "product": "installment",
         "channel": "app", "requested_limit": 3000, "decision": "rejected", "device_id": "DC4"},
    ],
    "credit_lines": [
        {"line_id": "L1", "customer_id": "C1", "application_id": "A1", "product": "revolving",
         "opened_at": "2026-07-01 10:00:00", "initial_limit": 10000},
        {"line_id": "L2", "customer_id": "C2", "application_id": "A2", "product": "revolving",
         "opened_at": "2026-07-10 12:00:00", "initial_limit": 5000},
    ],
    "limit_events": [
        {"limit_event_id": "LE1", "line_id": "L1", "event_at": "2026-09-15 11:00:00", "event_type": "increase",
         "old_limit": 10000, "new_limit": 15000},
    ],
    "drawdowns": [
        {"loan_id": "LO1", "line_id": "L1", "customer_id": "C1", "drawdown_at": "2026-07-02 12:00:00", "amount": 3000,
         "term_months": 3, "annual_rate": 0.18, "declared_purpose": "travel", "partner_id": "PB01",
         "product": "revolving", "channel": "app"},
        {"loan_id": "LO2", "line_id": "L2", "customer_id": "C2", "drawdown_at": "2026-07-15 09:00:00", "amount": 2000,
         "term_months": 3, "annual_rate": 0.2, "declared_purpose": "digital", "partner_id": "PB02",
         "product": "revolving", "channel": "web"},
    ],
    "repayment_schedule": [
        {"loan_id": "LO1", "installment_no": 1, "due_date": "2026-08-02", "principal_due": 1000, "interest_due": 45},
        {"loan_id": "LO1", "installment_no": 2, "due_date": "2026-09-02", "principal_due": 1000, "interest_due": 45},
        {"loan_id": "LO1", "installment_no": 3, "due_date": "2026-10-02", "principal_due": 1000, "interest_due": 45},
        {"loan_id": "LO2", "installment_no": 1, "due_date": "2026-08-15", "principal_due": 666.67, "interest_due": 40},
        {"loan_id": "LO2", "installment_no": 2, "due_date": "2026-09-15", "principal_due": 666.67, "interest_due": 40},
        {"loan_id": "LO2", "installment_no": 3, "due_date": "2026-10-15", "principal_due": 666.66, "interest_due": 40},
    ],
    "repayments": [
        {"payment_id": "P1", "loan_id": "LO1", "paid_at": "2026-08-01 20:00:00", "amount": 1045, "payment_channel": "auto_debit"},
        {"payment_id": "P2", "loan_id": "LO1", "paid_at": "2026-09-10 10:00:00", "amount": 1045, "payment_channel": "app"},
    ],
    "fund_flows": [
        {"flow_id": "F1", "loan_id": "LO1", "customer_id": "C1", "flow_at": "2026-07-02 15:00:00", "amount": 1500,
         "mcc": "4511", "counterparty_id": "CP1"},
        {"flow_id": "F2", "loan_id": "LO1", "customer_id": "C1", "flow_at": "2026-07-03 09:00:00", "amount": 1200,
         "mcc": "7995", "counterparty_id": "CP2"},
    ],
    "credit_reports": [
        {"report_id": "R0", "customer_id": "C1", "national_id": NIDS["C1"], "reported_at": "2026-03-01 10:00:00",
         "tradelines": [{"tradeline_id": "T0", "institution_type": "bank", "product": "mortgage", "opened_on": "2020-01-01",
                         "credit_limit": 900000, "balance": 500000, "status": "normal", "monthly_status": _status("N" * 24)}],
         "inquiries": [], "public_records": []},
        {"report_id": "R1", "customer_id": "C1", "national_id": NIDS["C1"], "reported_at": "2026-06-30 10:00:00",
         "tradelines": [
             {"tradeline_id": "T1", "institution_type": "bank", "product": "credit_card", "opened_on": "2024-03-01",
              "credit_limit": 20000, "balance": 5000, "status": "normal", "monthly_status": _status("N" * 10 + "1N")},
             {"tradeline_id": "T2", "institution_type": "microloan", "product": "microloan", "opened_on": "2026-05-01",
              "credit_limit": 3000, "balance": 1500, "status": "overdue", "monthly_status": _status("N2")}],
         "inquiries": [
             {"inquired_at": "2026-06-20 08:00:00", "institution_type": "p2p", "institution_id": "I9", "reason": "loan_approval"},
             {"inquired_at": "2026-05-15 08:00:00", "institution_type": "bank", "institution_id": "I3", "reason": "credit_card_approval"},
             {"inquired_at": "2026-06-28 08:00:00", "institution_type": "p2p", "institution_id": "I9", "reason": "loan_approval"}],
         "public_records": [{"record_type": "court_enforcement", "filed_on": "2025-12-01", "amount": 5000}]},
        {"report_id": "R2", "customer_id": "C1", "national_id": NIDS["C1"], "reported_at": "2026-07-10 10:00:00",
         "tradelines": [], "inquiries": [
             {"inquired_at": "2026-07-09 08:00:00", "institution_type": "p2p", "institution_id": "I7", "reason": "loan_approval"}],
         "public_records": []},
    ],
    "telco": [
        {"check_id": "TC1", "customer_id": "C1", "phone": "13800000001", "checked_at": "2026-07-01 08:59:00",
         "carrier": "china_mobile", "tenure_months": 60, "name_match": "true", "status": "active"},
    ],
    "blacklist": [
        {"blacklist_id": "B1", "national_id": NIDS["C5"], "listed_at": "2026-06-01 00:00:00", "source": "industry_fraud_list",
         "reason": "gang fraud"},
    ],
}


def _build_locked(base: Path, name: str, build: Callable[[Path], None], blocking: bool) -> bool:
    """Build base/name under its lock unless built; False when not blocking and another worker holds the lock."""
    base.mkdir(parents=True, exist_ok=True)
    target = base / name
    with open(base / f"{name}.lock", "w") as fh:
        try:
            fcntl.flock(fh, fcntl.LOCK_EX | (0 if blocking else fcntl.LOCK_NB))
        except BlockingIOError:
            return False
        try:
            if not (target / ".built").exists():
                build(target)
                (target / ".built").write_text(datetime.now().isoformat())
        finally:
            fcntl.flock(fh, fcntl.LOCK_UN)
    return True


def shared_build(base: Path, name: str, build: Callable[[Path], None],
                 meanwhile: list[tuple[str, Callable[[Path], None]]] = ()) -> Path:
    """Build `base/name` once, even when several pytest-xdist workers ask for it at the same time.

    A worker that finds the build already running elsewhere first builds the `meanwhile` lakes nobody has
    started yet (so two workers build two lakes in parallel instead of one waiting), then waits."""
    if not _build_locked(base, name, build, blocking=False):
        for other, other_build in meanwhile:
            _build_locked(base, other, other_build, blocking=False)
        _build_locked(base, name, build, blocking=True)
    return base / name


def truncate_landing(rows: dict[str, list[dict]], cutoff: datetime, time_columns: dict[str, str]) -> dict[str, list[dict]]:
    """Keep only the records a source system had delivered before `cutoff` (by each contract's event time).

    Repayment schedules are known at disbursement, so they follow their loan; credit reports are kept whole."""
    def ts(v) -> datetime | None:
        if v is None or v == "":
            return None
        if isinstance(v, datetime):
            return v
        s = str(v).replace("T", " ")
        return datetime.fromisoformat(s[:19]) if len(s) > 10 else datetime.fromisoformat(s[:10])

    out: dict[str, list[dict]] = {}
    for table, rs in rows.items():
        if table == "repayment_schedule":
            continue
        col = time_columns[table]
        out[table] = [r for r in rs if (t := ts(r.get(col))) is not None and t < cutoff]
    loans = {r["loan_id"] for r in out.get("drawdowns", [])}
    out["repayment_schedule"] = [r for r in rows.get("repayment_schedule", []) if r["loan_id"] in loans]
    return out


def as_json_safe(rows: list[dict]) -> list[dict]:
    return json.loads(json.dumps(rows, default=str))


def random_orders_world(customers: int = 300, days: int = 400, seed: int = 0):
    """Random e-commerce orders and a random spine (application-like times) for the shard, incremental and
    point-in-time oracle tests: (spine, orders) as Arrow tables with the columns the `ecom` family reads."""
    import numpy as np
    import pyarrow as pa

    rng = np.random.default_rng(seed)
    start = np.datetime64("2025-06-01T00:00:00", "s")
    ids = np.array([f"C{i:05d}" for i in range(customers)])
    n_orders = customers * 12
    cust = ids[rng.integers(0, customers, n_orders)]
    # seconds since start; some orders on the very same second, some exactly at an observation time below
    secs = rng.integers(0, days * 86_400, n_orders)
    ordered_at = start + secs.astype("timedelta64[s]")
    cats = ["groceries", "apparel", "digital", "gaming", "luxury", "travel"]
    orders = pa.table({
        "order_id": [f"O{i}" for i in range(n_orders)],
        "customer_id": cust,
        "ordered_at": pa.array(ordered_at.astype("datetime64[us]")),
        "order_amount": np.round(rng.lognormal(4, 1.2, n_orders), 2),
        "category": np.array(cats)[rng.integers(0, len(cats), n_orders)],
        "channel": np.array(["app", "web", "mini_program"])[rng.integers(0, 3, n_orders)],
        "payment_method": np.array(["balance", "credit_card", "credit_line"])[rng.integers(0, 3, n_orders)],
        "merchant_id": np.array([f"M{i}" for i in range(20)])[rng.integers(0, 20, n_orders)],
        "device_id": np.array([f"D{i}" for i in range(customers // 2)])[rng.integers(0, customers // 2, n_orders)],
    })
    hours = ((secs % 86_400) // 3600).astype(np.int32)
    dates = ordered_at.astype("datetime64[D]")
    weekday = (dates.astype(np.int64) + 3) % 7  # 1970-01-01 was a Thursday
    orders = orders.append_column("order_hour", pa.array(hours)).append_column(
        "is_weekend", pa.array(weekday >= 5)).append_column("ordered_date", pa.array(dates))
    n_obs = customers * 3
    ocust = ids[rng.integers(0, customers, n_obs)]
    osecs = rng.integers(30 * 86_400, days * 86_400, n_obs)
    osecs[: n_obs // 10] = secs[: n_obs // 10]  # observations at exactly an order's time: strictly before T
    ocust[: n_obs // 10] = cust[: n_obs // 10]
    obs_at = start + osecs.astype("timedelta64[s]")
    spine = pa.table({"customer_id": ocust, "obs_at": pa.array(obs_at.astype("datetime64[us]"))})
    spine = spine.group_by(["customer_id", "obs_at"]).aggregate([])  # (customer, T) unique like the mart's spine
    obs_id = np.arange(spine.num_rows, dtype=np.int64) * 7919 + 13
    spine = spine.append_column("obs_id", pa.array(obs_id))
    return spine, orders
