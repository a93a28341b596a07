"""E-commerce behaviour (orders) and app events (registration, logins) with device footprint."""
from __future__ import annotations

import numpy as np
import pyarrow as pa

from . import catalog as K
from .fmt import (DAY, HOUR, choice_p, choice_rows, dict_strings, prefixed_ids, seg, sigmoid,
                  stream, ts_array, with_nulls)
from .lending import _mobile_ip
from .people import device_at, ip_col, wifi_strings

MAX_ORDERS = 600


def day_weights(p, first_day: int, last_day: int) -> np.ndarray:
    """Relative order volume per calendar day: weekends, 6-18 and 11-11 festivals, December,
    the Spring Festival lull and business growth."""
    days = np.arange(first_day, last_day + 1)
    d = days.astype("datetime64[D]")
    month = d.astype("datetime64[M]").astype(np.int64) % 12 + 1
    dom = (d - d.astype("datetime64[M]")).astype(np.int64) + 1
    dow = (days + 3) % 7  # 0 = Monday (1970-01-01 was a Thursday)
    w = np.ones(len(days))
    w *= np.where(dow >= 5, 1.15, 1.0)
    w *= np.where((month == 11) & (dom <= 10), 1.5, 1.0)
    w *= np.where((month == 11) & (dom == 11), 5.0, 1.0)
    w *= np.where((month == 6) & (dom < 18), 1.3, 1.0)
    w *= np.where((month == 6) & (dom == 18), 3.5, 1.0)
    w *= np.where((month == 12) & (dom == 12), 2.0, 1.0)
    w *= np.where((month == 2) & (dom <= 10), 0.6, 1.0)
    w *= 1 + 0.3 * (days - first_day) / max(last_day - first_day, 1)
    return w


def _hours(rng, night: np.ndarray) -> np.ndarray:
    day_w = np.array(K.HOUR_WEIGHTS[6:])
    h_day = 6 + choice_p(rng, len(night), day_w)
    h_night = choice_p(rng, len(night), [0.35, 0.25, 0.18, 0.12, 0.10])
    return np.where(night, h_night, h_day)


def orders(p, c) -> dict:
    rng = stream(p.seed, "orders")
    n, z, inc = c["n"], c["z"], c["inc_std"]
    has = rng.random(n) < np.where(c["is_ring"], 0.3, 0.85)  # rings have thin shopping history
    since = c["reg"] // DAY - rng.integers(0, 3 * 365, n)
    a_day = np.maximum(since, p.start_day)
    lam = np.exp(rng.normal(-0.05 + 0.25 * inc, 0.6))  # orders per month
    cnt = np.where(has, np.minimum(rng.poisson(lam * (p.end_day - a_day + 1) / 30.44), MAX_ORDERS), 0)
    cust, _ = seg(cnt)
    m = len(cust)
    # per-customer tastes; the risky ones lean to night, gaming / virtual goods / luxury and
    # many small credit-line payments, but only as a tilt buried in noise
    p_night = sigmoid(-2.6 - 0.35 * z + rng.normal(0, 0.5, n))
    w_risky = sigmoid(-2.4 - 0.45 * z + rng.normal(0, 0.6, n))
    w_aff = sigmoid(-2.0 + 0.6 * inc + rng.normal(0, 0.5, n))
    basket = np.exp(0.3 * inc + rng.normal(0, 0.25, n))
    p_cl = 0.35 * np.exp(0.5 * -z + rng.normal(0, 0.5, n))
    p_cc = 0.15 * np.exp(0.5 * inc)
    p_live = 0.12 * np.exp(0.3 * -z + rng.normal(0, 0.4, n))

    w = day_weights(p, p.start_day, p.end_day)
    cdf = np.r_[0.0, np.cumsum(w)]
    lo, hi = cdf[a_day - p.start_day][cust], cdf[p.end_day - p.start_day + 1]
    day = p.start_day + np.searchsorted(cdf, lo + rng.random(m) * (hi - lo), side="right") - 1
    day = np.clip(day, a_day[cust], p.end_day)
    t = day * DAY + _hours(rng, rng.random(m) < p_night[cust]) * HOUR + rng.integers(0, HOUR, m)

    base_w = np.maximum(1 - w_risky[cust] - 0.5 * w_aff[cust], 0.05)
    comp = choice_rows(rng, np.stack([base_w, w_risky[cust], 0.5 * w_aff[cust]], 1))
    cat = np.select([comp == 1, comp == 2],
                    [choice_p(rng, m, K.ORDER_RISKY_MIX), choice_p(rng, m, K.ORDER_AFFLUENT_MIX)],
                    choice_p(rng, m, K.ORDER_BASE_MIX))
    amount = np.round(np.array(K.ORDER_MEDIAN_AMOUNT)[cat] * basket[cust] * np.exp(rng.normal(0, 0.6, m)), 2)
    amount = np.maximum(amount, 0.01)
    pm_w = np.stack([np.full(m, 0.35), np.full(m, 0.30), p_cc[cust],
                     p_cl[cust] * np.where(amount < 200, 1.5, 0.7),
                     np.where(amount > 600, 0.6, 0.0)], 1)
    pay = choice_rows(rng, pm_w)
    ch_w = np.stack([np.full(m, 0.62), np.full(m, 0.08), np.full(m, 0.18), p_live[cust]], 1)
    channel = choice_rows(rng, ch_w)
    merchant = cat * 100_000 + np.minimum(rng.zipf(1.4, m), 99_999)
    device = device_at(c, cust, t)
    o = np.argsort(t, kind="stable")
    return dict(cust=cust[o], t=t[o], amount=amount[o], cat=cat[o], pay=pay[o], channel=channel[o],
                merchant=merchant[o], device=device[o],
                nulls=rng.random((4, m)) < np.array([[0.01], [0.02], [0.10], [0.01]]))


def orders_table(c, O) -> pa.Table:
    m = len(O["t"])
    nl = O["nulls"]
    return pa.table({
        "order_id": prefixed_ids("OD", np.arange(1, m + 1), 12),
        "customer_id": dict_strings(O["cust"], c["customer_id"]),
        "ordered_at": ts_array(O["t"]),
        "amount": pa.array(O["amount"]),
        "category": dict_strings(O["cat"], K.ORDER_CATEGORIES),
        "merchant_id": with_nulls(prefixed_ids("SHOP", O["merchant"], 7), nl[0]),
        "channel": dict_strings(O["channel"], K.ORDER_CHANNELS, mask=nl[1]),
        "payment_method": dict_strings(O["pay"], K.PAY_METHODS, mask=nl[3]),
        "device_id": dict_strings(O["device"], c["device_ids"], mask=nl[2]),
    })


def app_events(p, c, apps, L) -> dict:
    """Registration, background logins, and a login just before each application / drawdown."""
    rng = stream(p.seed, "app_events")
    n = c["n"]
    active_from = np.maximum(c["reg"], p.start_s)
    lam = np.exp(rng.normal(0.2, 0.6, n))  # logins per month
    lam[c["is_ring"]] *= 0.3
    cnt = np.minimum(rng.poisson(lam * (p.end_s - active_from) / (30.44 * DAY)), 300)
    lc, _ = seg(cnt)
    t_login = active_from[lc] + (rng.random(len(lc)) * (p.end_s - active_from[lc])).astype(np.int64)
    t_login = (t_login // DAY) * DAY + _hours(rng, rng.random(len(lc)) < 0.08) * HOUR + rng.integers(0, HOUR, len(lc))
    t_login = np.clip(t_login, active_from[lc], p.end_s)
    t_app = np.maximum(apps["t"] - rng.integers(60, 1800, len(apps["t"])), c["reg"][apps["cust"]])
    t_draw = L["t"] - rng.integers(60, 1200, len(L["t"]))
    cust = np.concatenate([np.arange(n), lc, apps["cust"], L["cust"]])
    t = np.concatenate([c["reg"], t_login, t_app, t_draw])
    etype = np.concatenate([np.zeros(n, int), np.ones(len(t) - n, int)])
    m = len(t)
    ring = c["is_ring"][cust]
    ip, home = _event_ip(rng, c, cust, ring)
    travel = rng.random(m) < 0.04
    cities = np.array([(x[2], x[3]) for x in K.CITIES])
    tc = cities[rng.integers(0, len(cities), m)]
    spread = np.where(home, 0.01, 0.05)
    lat = np.where(travel, tc[:, 0], c["home_lat"][cust]) + rng.normal(0, 1, m) * spread
    lon = np.where(travel, tc[:, 1], c["home_lon"][cust]) + rng.normal(0, 1, m) * spread
    has_wifi = c["wifi"][cust] >= 0
    public = rng.random(m) < 0.15
    wifi = np.where(home & has_wifi, c["wifi"][cust], c["n_wifi"] + rng.integers(0, 50_000, m))
    wifi_ok = (home & has_wifi) | public
    device = device_at(c, cust, t)
    o = np.argsort(t, kind="stable")
    geo_null = rng.random(m) < 0.08
    return dict(cust=cust[o], t=t[o], etype=etype[o], device=device[o], ip=ip[o],
                ip_null=(rng.random(m) < 0.03)[o], lat=np.clip(lat, 18, 50)[o],
                lon=np.clip(lon, 75, 134)[o], geo_null=geo_null[o], wifi=wifi[o], wifi_ok=wifi_ok[o])


def _event_ip(rng, c, cust, ring):
    home = (rng.random(len(cust)) < 0.55) | (ring & (rng.random(len(cust)) < 0.85))
    return np.where(home, c["home_ip"][cust], _mobile_ip(rng, len(cust))), home


def app_events_table(p, c, E) -> pa.Table:
    m = len(E["t"])
    return pa.table({
        "event_id": prefixed_ids("EV", np.arange(1, m + 1), 12),
        "customer_id": dict_strings(E["cust"], c["customer_id"]),
        "event_at": ts_array(E["t"]),
        "event_type": dict_strings(E["etype"], ["registration", "login"]),
        "device_id": dict_strings(E["device"], c["device_ids"]),
        "ip": ip_col(E["ip"], ~E["ip_null"]),
        "geo_lat": pa.array(np.round(E["lat"], 5), mask=E["geo_null"]),
        "geo_lon": pa.array(np.round(E["lon"], 5), mask=E["geo_null"]),
        "wifi_mac": wifi_strings(p, E["wifi"], E["wifi_ok"]),
    })
