"""Fund flows: where loan proceeds went in the ~15 days after disbursement (MCC coded)."""
from __future__ import annotations

import numpy as np
import pyarrow as pa

from . import catalog as K
from .fmt import DAY, choice_p, dict_strings, prefixed_ids, seg, stream, ts_array, with_nulls


def fund_flows(p, L, mcc: dict, prohibited: list, prohibited_shares: list,
               general: list, purpose_mcc: dict) -> dict:
    rng = stream(p.seed, "fund_flows")
    codes = list(mcc)
    code_idx = {k: i for i, k in enumerate(codes)}
    m = len(L["t"])
    nf = 1 + choice_p(rng, m, [0.4, 0.3, 0.2, 0.1])
    loan, within = seg(nf)
    f = len(loan)
    # split 92-100% of the amount across the flows (normalised gammas = Dirichlet)
    g = rng.gamma(1.5, size=f)
    share = g / np.bincount(loan, weights=g, minlength=m)[loan]
    total_c = np.round(L["amount"] * 100 * rng.uniform(0.92, 1.0, m)).astype(np.int64)
    cents = np.maximum(np.floor(total_c[loan] * share), 1).astype(np.int64)
    offset = np.where(within == 0, rng.integers(300, DAY, f), rng.integers(300, 15 * DAY, f))
    t = L["t"][loan] + offset

    # diverters send most of the money to prohibited merchants, everyone else very rarely
    diverted_loan = L["divert"] & (rng.random(m) < 0.8)
    bad = rng.random(f) < np.where(diverted_loan[loan], 0.85, 0.01)
    pro_codes = np.array([code_idx[x] for x in prohibited])
    favourite = pro_codes[choice_p(rng, len(L["cust"]), prohibited_shares)]  # per loan's borrower habit
    pro = np.where(rng.random(f) < 0.7, favourite[loan], pro_codes[choice_p(rng, f, prohibited_shares)])
    ordinary = np.array([code_idx[x] for x in general])[rng.integers(0, len(general), f)]
    purpose = L["purpose"][loan]
    matched = rng.random(f) < 0.65
    for pi, pname in enumerate(K.PURPOSES):  # loop over 10 purposes
        sel = np.flatnonzero(matched & (purpose == pi))
        lst = np.array([code_idx[x] for x in purpose_mcc[pname]])
        ordinary[sel] = lst[rng.integers(0, len(lst), len(sel))]
    code = np.where(bad, pro, ordinary)
    # few brokers / gambling sites receive many transfers: shared counterparties link borrowers
    cp = np.where(bad, 9_000_000 + code * 100 + rng.integers(0, 40, f),
                  code * 200_000 + np.minimum(rng.zipf(1.3, f), 199_999))
    bad_amt = np.bincount(loan, weights=cents * bad, minlength=m)
    diverted = bad_amt > 0.5 * np.bincount(loan, weights=cents, minlength=m)
    keep = t <= p.end_s
    o = np.flatnonzero(keep)[np.argsort(t[keep], kind="stable")]
    return dict(loan=loan[o], t=t[o], cents=cents[o], code=code[o], cp=cp[o],
                cp_null=rng.random(len(o)) < 0.05, codes=codes, diverted=diverted)


def fund_flows_table(c, L, F) -> pa.Table:
    m = len(F["t"])
    return pa.table({
        "flow_id": prefixed_ids("FF", np.arange(1, m + 1), 11),
        "loan_id": prefixed_ids("LO", F["loan"] + 1, 10),
        "customer_id": c["customer_id"].take(pa.array(L["cust"][F["loan"]])),
        "flow_at": ts_array(F["t"]),
        "amount": pa.array(F["cents"] / 100.0),
        "mcc": dict_strings(F["code"], F["codes"]),
        "counterparty_id": with_nulls(prefixed_ids("CP", F["cp"], 8), F["cp_null"]),
    })
