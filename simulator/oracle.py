"""The true probability of each label's event, from the simulator's own hazard model (truth, evaluation only).

For every observation the labels mart can have, the Bayes posterior of the label's event given the latent
state the simulator drew (each loan's true_pd, term, ring flag, late-payment propensity, the line's
drawdown plan) and what has happened up to the observation time (paid / late / unpaid installments,
prepayments, cures, collection-call results). The fate of a loan (simulate_fate) is drawn once up front:

* default within 6 MOB with probability true_pd at installment k ~ DEFAULT_INSTALLMENT_W (k <= min(term, 5);
  rings k = 1 (90 %) or 2), or a late default (k uniform on 7..term, term >= 9) with probability
  (1 - true_pd) * 0.3 * true_pd; a defaulted installment stays unpaid until a cure 31-90 days later
  (25 %, rings 5 %) or never;
* installment k-1 of a defaulting loan is paid late with probability 0.35, any other with the loan's p_late;
  a late payment comes 1-20 days after its due date (geometric(0.25), capped at 20);
* collection calls answer with weights that depend on whether the episode will be cured; 30 % of the
  defaults that never cure make a partial payment 5-60 days after the due date.

Each label's event is measured as the labels mart measures it (``dbt_project/models/labels/labels.sql``):

* a_card: the application's first loan reaches 30 DPD by the end of MOB 6;
* fraud: its first installment is unpaid 30 days after the due date (FPD30);
* b_card (customer current at a month-end d): DPD >= 30 at one of the month-ends in (d, last_day(d + 6 months)],
  over the loans outstanding at d and the drawdowns the line's plan would make in the window (lines
  not frozen by a default at d);
* c_card (customer in M1 at d): DPD >= 31 at the next month-end.

Written to ``truth/application_oracle.parquet`` (application_id) and ``truth/month_end_oracle.parquet``
(customer_id, month_end). Nothing here draws random numbers: the landing output is unchanged.
"""
from __future__ import annotations

import numpy as np
import pyarrow as pa

from .fmt import DAY, add_months_day, month_end_day, prefixed_ids
from .performance import DEFAULT_INSTALLMENT_W, RESULT_W, RESULTS

K_MAX = 12            # longest term (lending.TERMS)
P_LATE_BEFORE_DEFAULT = 0.35
LATE_CONTINUE = 0.75  # P(delay > x) = 0.75**x for a geometric(0.25) delay, capped at MAX_DELAY
MAX_DELAY = 20
CURE_P_RING, CURE_P = 0.05, 0.25
PARTIAL_P = 0.30
CHUNK = 400_000


def _month(day):
    return np.asarray(day, dtype=np.int64).astype("datetime64[D]").astype("datetime64[M]").astype(np.int64)


def default_prior(pd, term, ring):
    """(n, K_MAX) probability that the loan defaults at installment k (1-based column k-1), and P(no default)."""
    n = len(pd)
    k = np.arange(1, K_MAX + 1)[None, :]
    cap = np.minimum(term, 5)[:, None]
    w = np.zeros(K_MAX)
    w[:len(DEFAULT_INSTALLMENT_W)] = DEFAULT_INSTALLMENT_W
    w_cap = np.where(k <= cap, w[None, :], 0.0)
    d6 = pd[:, None] * w_cap / w_cap.sum(axis=1, keepdims=True)
    ring_k = np.zeros((n, K_MAX))
    ring_k[:, 0], ring_k[:, 1] = 0.9, 0.1
    d6 = np.where(ring[:, None], pd[:, None] * ring_k, d6)
    late_mass = np.where(term >= 9, (1 - pd) * 0.3 * pd, 0.0)
    late = np.where((k >= 7) & (k <= term[:, None]), (late_mass / np.maximum(term - 6, 1))[:, None], 0.0)
    prior = d6 + late
    return prior, 1.0 - prior.sum(axis=1)


def _due_days(draw_day):
    k = np.arange(1, K_MAX + 1)
    return add_months_day(np.repeat(draw_day, K_MAX), np.tile(k, len(draw_day))).reshape(len(draw_day), K_MAX)


def _cure_by(v):
    """P(cure delay U <= v) for U uniform on 31..90 days."""
    return np.clip(v - 30, 0, 60) / 60.0


def _hit_in_window(due, d, w_end, cure_p):
    """P(a default at due day ``due`` shows DPD >= 30 at a month-end in (d, w_end]) (cure may come first)."""
    e = month_end_day(_month(due + 30))
    ok = (e > d[:, None]) & (e <= w_end[:, None])
    return ok * (1.0 - cure_p[:, None] * _cure_by(e - due))


def application_oracle(p, c, apps, lines, L) -> pa.Table:
    """A-card and fraud truth per application with a first loan."""
    order = np.lexsort((L["t"], L["line"]))
    line_sorted = L["line"][order]
    first = order[np.r_[True, line_sorted[1:] != line_sorted[:-1]]] if len(order) else order
    prior, _ = default_prior(L["true_pd"][first], L["term"][first], L["is_ring"][first])
    draw_day = L["t"][first] // DAY
    due = _due_days(draw_day)
    mob6_end = month_end_day(_month(draw_day) + 6)
    p_a = (prior * (due + 30 <= mob6_end[:, None])).sum(axis=1)
    app = lines["app"][L["line"][first]]
    o = np.argsort(app, kind="stable")
    return pa.table({
        "application_id": prefixed_ids("AP", app[o] + 1, 10),
        "customer_id": c["customer_id"].take(pa.array(apps["cust"][app[o]])),
        "first_loan_id": prefixed_ids("LO", first[o] + 1, 10),
        "p_a_card": pa.array(p_a[o]),
        "p_fraud": pa.array(prior[o, 0]),
    })


def _result_loglik(C, L):
    """Per collection action: log P(result | episode cured) and log P(result | not cured)."""
    ring = L["is_ring"][C["loan"]]
    base = RESULT_W[C["action"]].copy()
    paid = C["result"] == RESULTS.index("paid")
    out = []
    for cured in (True, False):
        w = base.copy()
        w[:, 1] *= 1.6 if cured else 0.8
        w[:, 2] *= 0.8 if cured else 1.5
        w[:, 0] *= 0.9 if cured else 1.3
        w[:, 3] *= np.where(ring, 6.0, 1.0)
        w[:, 4] = np.where(paid & cured, w[:, 4], 0.0)
        prob = w[np.arange(len(w)), C["result"]] / w.sum(axis=1)
        ll = np.log(np.maximum(prob, 1e-12))
        out.append(np.where(C["result_null"], 0.0, ll))
    return out


def month_end_oracle(p, c, lines, L, S, episodes, C, L_cand, cut) -> pa.Table:
    """B-card and C-card truth per customer x month-end at which the customer has an outstanding loan."""
    nl = len(L["t"])
    draw_day = L["t"] // DAY
    due_all = _due_days(draw_day)
    term = L["term"]
    last_due = due_all[np.arange(nl), term - 1]
    open_default = L["default_any"] & ~L["cured"]
    first_m = _month(draw_day)
    end_m = np.where(open_default, _month(np.array([p.end_day]))[0], _month(last_due) + 1)
    end_m = np.minimum(end_m, _month(np.array([p.end_day]))[0])
    counts = np.maximum(end_m - first_m + 1, 0)
    cure_p_loan = np.where(L["is_ring"], CURE_P_RING, CURE_P)
    prior_all, none_all = default_prior(L["true_pd"], term, L["is_ring"])

    # late installments: (loan, installment) -> delay; the month-end (if any) at which it is unpaid
    lr = episodes["late_row"]
    n_late = len(lr)
    late_loan, late_inst = S["loan"][lr], S["inst"][lr]
    late_due, late_delay = S["due_day"][lr], episodes["length"][:n_late]
    late_key = late_loan * 16 + late_inst
    late_me = month_end_day(_month(late_due))
    unpaid_at_me = late_me < late_due + late_delay
    late_me_key = (late_loan * 10_000 + _month(late_due))[unpaid_at_me]
    late_me_x = (late_me - late_due)[unpaid_at_me]
    late_me_inst = late_inst[unpaid_at_me]
    o = np.argsort(late_me_key)
    late_me_key, late_me_x, late_me_inst = late_me_key[o], late_me_x[o], late_me_inst[o]
    late_key.sort()

    # collection results per loan, as cumulative log-likelihoods for range sums
    ll_cured, ll_uncured = _result_loglik(C, L)
    co = np.lexsort((C["t"], C["loan"]))
    c_loan, c_t = C["loan"][co], C["t"][co]
    cum_c = np.r_[0.0, np.cumsum(ll_cured[co])]
    cum_u = np.r_[0.0, np.cumsum(ll_uncured[co])]

    keys_out, dpd_out, lb_out, lc_out = [], [], [], []
    loan_starts = np.cumsum(counts) - counts
    for lo in range(0, nl, max(1, CHUNK // 12)):
        idx = np.arange(lo, min(nl, lo + max(1, CHUNK // 12)))
        l_rep = np.repeat(idx, counts[idx])
        if len(l_rep) == 0:
            continue
        within = np.arange(len(l_rep)) - (loan_starts[l_rep] - loan_starts[idx[0]])
        md = first_m[l_rep] + within
        d = month_end_day(md)
        T = (d + 1) * DAY
        due = due_all[l_rep]
        tm = term[l_rep]
        kk = np.arange(1, K_MAX + 1)[None, :]
        valid_k = kk <= tm[:, None]
        pl = L["p_late"][l_rep]
        cure_p = cure_p_loan[l_rep]
        prepaid = episodes["prepay_t"][l_rep] < T
        dk = L["due_k_day"][l_rep]
        defaulted_by_d = L["default_any"][l_rep] & (dk <= d)
        cured_by_d = L["cured"][l_rep] & (L["cure_day"][l_rep] <= d)
        def_open = defaulted_by_d & ~cured_by_d & ~prepaid
        x_def = np.where(def_open, d - dk, -1)
        me_key = l_rep * 10_000 + md
        pos = np.searchsorted(late_me_key, me_key)
        pos_c = np.minimum(pos, max(len(late_me_key) - 1, 0))
        has_late = (len(late_me_key) > 0) & (late_me_key[pos_c] == me_key) if len(late_me_key) else np.zeros(len(me_key), bool)
        x_late = np.where(has_late & ~prepaid, late_me_x[pos_c] if len(late_me_key) else 0, -1)
        dpd = np.maximum(np.maximum(x_def, x_late), 0)
        # the oldest unpaid installment and its due day
        k_def = L["k"][l_rep]
        j_unpaid = np.where(x_def >= 0, k_def, np.where(x_late >= 0, late_me_inst[pos_c] if len(late_me_key) else 0, 0))
        rows = np.arange(len(l_rep))
        prior = prior_all[l_rep]
        none = none_all[l_rep]
        n_pre = ((due - 10 <= d[:, None]) & (kk <= tm[:, None] - 1)).sum(axis=1)
        lik_prepay_none = 1.0 - 0.1 * n_pre / np.maximum(tm - 1, 1)

        # ---- B: a loan current at d (nothing unpaid, not defaulted, not closed)
        j = ((due <= (d - 1)[:, None]) & valid_k).sum(axis=1)
        late_j = (j >= 1) & np.isin(l_rep * 16 + j, late_key)
        lik = np.where(kk == (j + 1)[:, None],
                       np.where(late_j, P_LATE_BEFORE_DEFAULT, 1 - P_LATE_BEFORE_DEFAULT)[:, None],
                       np.where(late_j, pl, 1 - pl)[:, None])
        lik = np.where((j >= 1)[:, None], lik, 1.0)
        post = prior * lik * ((kk > j[:, None]) & valid_k)
        post_none = none * lik_prepay_none * np.where(j >= 1, np.where(late_j, pl, 1 - pl), 1.0)
        w_end = month_end_day(md + 6)
        hit = _hit_in_window(due, d, w_end, cure_p)
        b = (post * hit).sum(axis=1) / np.maximum(post.sum(axis=1) + post_none, 1e-300)
        b = np.where(defaulted_by_d | prepaid | (dpd > 0), 0.0, b)
        # an open default (the marts may still call the customer current, e.g. after a recovery payment cleared
        # the oldest installment): DPD >= 30 at a window month-end unless it is cured first
        e_first = np.maximum(month_end_day(_month(dk + 30)), month_end_day(md + 1))
        b_open = (e_first <= w_end) * (1 - cure_p * _cure_by(e_first - dk) / np.maximum(1 - _cure_by(d - dk), 1e-12))
        b = np.where(def_open, np.clip(b_open, 0, 1), b)

        # ---- C: an installment unpaid at d with DPD 1-30: a default (rolls) or a late payment (gets paid)?
        ju = np.maximum(j_unpaid, 1)
        x = dpd
        is_c = (j_unpaid >= 1) & (x >= 1)  # x > 30 only where the marts' DPD differs from the simulator's
        p_def = prior[rows, ju - 1]
        late_prev = (ju >= 2) & np.isin(l_rep * 16 + ju - 1, late_key)
        lik_prev_def = np.where(ju >= 2, np.where(late_prev, P_LATE_BEFORE_DEFAULT, 1 - P_LATE_BEFORE_DEFAULT), 1.0)
        lik_prev_other = np.where(ju >= 2, np.where(late_prev, pl, 1 - pl), 1.0)
        p_late_j = np.where(kk == (ju + 1)[:, None], P_LATE_BEFORE_DEFAULT, pl[:, None])
        later = prior * p_late_j * ((kk > ju[:, None]) & valid_k)
        survive = np.where(x < MAX_DELAY, LATE_CONTINUE ** np.minimum(x, MAX_DELAY), 0.0)
        s_late = (later.sum(axis=1) + none * pl * lik_prepay_none) * lik_prev_other * survive
        s_def = p_def * lik_prev_def
        # collection results on this loan since the unpaid due date
        due_u = due[rows, ju - 1]
        lo_i = np.searchsorted(c_loan, l_rep, side="left")
        hi_i = np.searchsorted(c_loan, l_rep, side="right")
        # restrict to actions in [due_u, T): actions are sorted by time within a loan
        a_lo = lo_i + _count_before(c_t, lo_i, hi_i, due_u * DAY)
        a_hi = lo_i + _count_before(c_t, lo_i, hi_i, T)
        r_c = cum_c[a_hi] - cum_c[a_lo]
        r_u = cum_u[a_hi] - cum_u[a_lo]
        ref = np.maximum(r_c, r_u)
        e_c, e_u = np.exp(r_c - ref), np.exp(r_u - ref)
        # a partial payment that leaves the installment unpaid comes only from a default that never cures
        # (30 %, 5-60 days after the due date)
        partial_seen = episodes["partial_t"][l_rep] < T
        p_partial_by_d = PARTIAL_P * np.clip(x - 4, 0, 56) / 56.0
        s1 = s_late * e_c * ~partial_seen
        s2 = s_def * cure_p * e_c * ~partial_seen
        s3 = s_def * (1 - cure_p) * e_u * np.where(partial_seen, p_partial_by_d, 1 - p_partial_by_d)
        e_next = month_end_day(md + 1)
        gap = e_next - due_u
        roll_if_cured = np.where(gap >= 31, (1 - _cure_by(gap)) / np.maximum(1 - _cure_by(x), 1e-12), 0.0)
        roll_if_not = (gap >= 31).astype(float)
        cc = (s2 * roll_if_cured + s3 * roll_if_not) / np.maximum(s1 + s2 + s3, 1e-300)
        cc = np.where(is_c & ~cured_by_d & ~prepaid, cc, 0.0)
        # a cured loan paying late again is a plain late payment (its default is behind it)
        keys_out.append(L["cust"][l_rep].astype(np.int64) * 10_000 + md)
        dpd_out.append(dpd)
        lb_out.append(np.log1p(-np.clip(b, 0, 1 - 1e-12)))
        lc_out.append(np.log1p(-np.clip(cc, 0, 1 - 1e-12)))

    # future drawdowns the line's plan would make in the B window (lines not frozen at d)
    fk, flb = _future_drawdowns(L_cand, cut)
    keys = np.concatenate(keys_out + [fk])
    dpd = np.concatenate(dpd_out + [np.full(len(fk), -1)])
    lb = np.concatenate(lb_out + [flb])
    lc = np.concatenate(lc_out + [np.zeros(len(fk))])
    exists = np.concatenate([np.ones(sum(map(len, keys_out)), bool), np.zeros(len(fk), bool)])
    uniq, inv = np.unique(keys, return_inverse=True)
    n_u = len(uniq)
    has_loan = np.bincount(inv, weights=exists, minlength=n_u) > 0
    cust_dpd = np.full(n_u, -1)
    np.maximum.at(cust_dpd, inv, dpd)
    p_b = 1 - np.exp(np.bincount(inv, weights=lb, minlength=n_u))
    p_c = 1 - np.exp(np.bincount(inv, weights=lc, minlength=n_u))
    keep = has_loan
    uniq, cust_dpd, p_b, p_c = uniq[keep], cust_dpd[keep], p_b[keep], p_c[keep]
    cust, md = uniq // 10_000, uniq % 10_000
    return pa.table({
        "customer_id": c["customer_id"].take(pa.array(cust)),
        "month_end": pa.array(month_end_day(md).astype(np.int32), type=pa.int32()).cast(pa.date32()),
        "dpd": pa.array(cust_dpd.astype(np.int32)),
        # given for every row: the labels mart decides the population from the ingested data, which can
        # differ from the simulator's state in rare cases (dpd says which state the simulator was in)
        "p_b_card": pa.array(p_b),
        "p_c_card": pa.array(p_c),
    })


def _count_before(t, lo, hi, bound):
    """For each row, how many of the sorted times t[lo:hi] are < bound (vectorised binary search)."""
    n = hi - lo
    left = np.zeros(len(lo), dtype=np.int64)
    right = n.astype(np.int64)
    while np.any(left < right):
        mid = (left + right) // 2
        active = left < right
        val = t[np.minimum(lo + mid, len(t) - 1)] if len(t) else np.zeros(len(lo))
        go_right = active & (val < bound)
        left = np.where(go_right, mid + 1, left)
        right = np.where(active & ~go_right, mid, right)
    return left


def _future_drawdowns(L_cand, cut):
    """(customer x month-end key, log P(no B-window event)) for every planned drawdown in the 6 months after d."""
    t = L_cand["t"]
    draw_day = t // DAY
    mt = _month(draw_day)
    prior, _ = default_prior(L_cand["true_pd"], L_cand["term"], L_cand["is_ring"])
    due = _due_days(draw_day)
    cure_p = np.where(L_cand["is_ring"], CURE_P_RING, CURE_P)
    keys, lbs = [], []
    for back in range(1, 7):
        md = mt - back
        d = month_end_day(md)
        live = cut[L_cand["line"]] > d * DAY  # no default on the line by d (else the line is frozen)
        hit = _hit_in_window(due[live], d[live], month_end_day(md[live] + 6), cure_p[live])
        f = (prior[live] * hit).sum(axis=1)
        keys.append(L_cand["cust"][live].astype(np.int64) * 10_000 + md[live])
        lbs.append(np.log1p(-np.clip(f, 0, 1 - 1e-12)))
    return np.concatenate(keys), np.concatenate(lbs)
