"""Backtest and what-if: replay the champion strategy and a candidate over history before it goes live.

History = every application observation whose outcome has matured (``labels.bad_a_card`` not null), with
its point-in-time features (the feature mart is point in time by construction), the decision inputs, and
the champion A-card and fraud scores (:func:`build_history`, written once to ``LakeLayout.backtest_history``).
A replay (:func:`replay`) runs a strategy's final application decision over that history; it is pure
pandas, so the Strategy dashboard replays a candidate in memory without writing anything.

Reported per strategy (:func:`compare`): approval rate, bad rate by count and by amount (first-loan
principal) among approvals, exposure (initial limits) and expected loss (PD x exposure x LGD) by A-card grade,
hit rate per rule; the swap set of candidate vs champion (both approve, swap-in, swap-out, both decline, each
with its realised bad rate; the four add up to the population); and champion vs challenger by arm of the
champion's own champion/challenger split, with realised outcomes.

Only applications that got a loan have an outcome: the history is the booked population (what a
declined applicant would have done is reject inference's question, not this replay's).

CLI::

    python -m models.backtest --candidate models/strategy/candidates/stricter_multi_lending.yaml
"""
from __future__ import annotations

import argparse
import copy
import json
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd

from lake import storage
from lake.layout import LakeLayout
from models.strategy import Strategy, load_strategy

APPLICATION_LABELS = ("a_card", "fraud")
TABLES = ("summary", "by_grade", "rule_hits", "swap_set", "arms")
SWAP_CELLS = ("both_approve", "swap_in", "swap_out", "both_decline")


class BacktestError(ValueError):
    """The lake lacks what the backtest needs (no champions, no matured outcomes)."""


# ---------------------------------------------------------------------------------------------
# history
# ---------------------------------------------------------------------------------------------

def history_observations(layout: LakeLayout) -> pd.DataFrame:
    """Matured application observations with their outcome and the first loan's principal."""
    labels, loans = layout.labels.as_posix(), layout.mart("loan_performance").as_posix()
    return storage.connect(layout.root).sql(f"""
        SELECT l.obs_id, l.customer_id, l.obs_at, l.obs_month, l.application_id, l.first_loan_id,
               l.bad_a_card::INTEGER AS bad, l.bad_fraud::INTEGER AS bad_fraud, p.principal
        FROM read_parquet('{labels}') l
        LEFT JOIN read_parquet('{loans}') p ON p.loan_id = l.first_loan_id
        WHERE l.bad_a_card IS NOT NULL ORDER BY l.obs_id
    """).df()


def build_history(layout: LakeLayout, log=print) -> pd.DataFrame:
    """Score the matured applications with the champion A-card and fraud models and write the history."""
    from models.batch import with_decision_inputs
    from models.grading import GRADES_FILE
    from models.lake_inputs import lake_registry, load_features
    from models.scorecard import probability_to_points

    reg = lake_registry(layout)
    missing = [label for label in APPLICATION_LABELS if reg.champion(label) is None]
    if missing:
        raise BacktestError(f"the backtest needs champions for {missing}: train them first (models/* assets)")
    obs = history_observations(layout)
    if obs.empty:
        raise BacktestError("no application has a matured outcome yet (labels.bad_a_card is null everywhere)")
    from models.batch import columns_to_read, decision_inputs

    # only what the two champions and the decision inputs read (as batch scoring does), not all 4,700 features
    columns = columns_to_read(reg, APPLICATION_LABELS, load_strategy())
    frame = with_decision_inputs(load_features(layout, obs, columns=list(columns)))

    keep = ["obs_id", "customer_id", "obs_at", "obs_month", "application_id", "bad", "bad_fraud", "principal",
            *decision_inputs()]
    out = frame[keep].copy()
    grades = {}
    for label in APPLICATION_LABELS:
        model = reg.load(label)
        prob = np.asarray(model.predict_proba(frame), dtype=float)
        out[f"{label}_model_version"] = model.version
        out[f"{label}_probability"] = prob
        out[f"{label}_score"] = np.rint(probability_to_points(prob, model.scaling))
        gfile = model.path / GRADES_FILE
        grades[label] = json.loads(gfile.read_text()) if gfile.exists() else None
    _write(out, layout.backtest_history)
    storage.write_text(layout.backtest_history_grades, json.dumps(grades, indent=1, default=float))
    log(f"backtest history: {len(out):,} matured applications scored by "
        f"{', '.join(out[f'{label}_model_version'].iloc[0] + ' (' + label + ')' for label in APPLICATION_LABELS)}")
    return out


def read_history(layout: LakeLayout) -> tuple[pd.DataFrame, dict]:
    if not layout.backtest_history.exists():
        raise BacktestError(f"{layout.backtest_history} does not exist: run `python -m models.backtest` or "
                            "materialize the strategy/backtest asset")
    grades = json.loads(layout.backtest_history_grades.read_text()) if layout.backtest_history_grades.exists() else {}
    return storage.read_frame(layout.backtest_history), grades


# ---------------------------------------------------------------------------------------------
# replay
# ---------------------------------------------------------------------------------------------

def grade_cutoffs(strategy: Strategy, history: pd.DataFrame, version_grades: dict, label: str) -> dict[str, float]:
    """The model version's cut-offs when the strategy asks for the targets they were calibrated for; a candidate
    with other targets is calibrated on the history's scores (what retraining with it would do)."""
    from models.grading import check_targets, cutoffs_for_shares

    targets = strategy.grade_targets(label)
    if targets is None:
        return strategy.grade_cutoffs(label)
    record = (version_grades or {}).get(label)
    if record and record.get("targets") == targets:
        return {g: float(v) for g, v in record["cutoffs"].items()}
    return cutoffs_for_shares(history[f"{label}_score"], check_targets(targets, f"{strategy.source}: grades.{label}"))


def without_split(strategy: Strategy) -> Strategy:
    """The strategy with every customer in its champion arm (the what-if compares strategies, not arms)."""
    config = copy.deepcopy(strategy.config)
    config.setdefault("champion_challenger", {})["challenger_share"] = 0
    return Strategy(config, source=strategy.source)


def replay(history: pd.DataFrame, strategy: Strategy, version_grades: dict | None = None,
           split_arms: bool = False) -> pd.DataFrame:
    """The strategy's final decision for every history row (index of ``history``), with grades and outcomes."""
    work = history.copy()
    for label in APPLICATION_LABELS:
        cut = grade_cutoffs(strategy, history, version_grades or {}, label)
        work[f"{label}_grade"] = pd.Series(strategy.assign_grade(label, work[f"{label}_score"], cut),
                                           index=work.index, dtype="string")
    decider = strategy if split_arms else without_split(strategy)
    decided = decider.decide_applications(work)
    cols = ["obs_id", "customer_id", "obs_month", "bad", "principal", "a_card_probability", "a_card_grade",
            "fraud_grade"]
    return pd.concat([work[cols], decided[["decision", "recommended_limit", "deciding_stage", "reason",
                                           "rules_fired", "rules_unknown", "arm"]]], axis=1)


# ---------------------------------------------------------------------------------------------
# metrics
# ---------------------------------------------------------------------------------------------

def _outcomes(d: pd.DataFrame, lgd: float) -> dict:
    approved = d["decision"] == "approve"
    a = d[approved]
    principal = a["principal"].fillna(0.0)
    return {
        "rows": int(len(d)),
        "approved": int(approved.sum()),
        "approval_rate": float(approved.mean()) if len(d) else np.nan,
        "review_rate": float((d["decision"] == "review").mean()) if len(d) else np.nan,
        "reject_rate": float((d["decision"] == "reject").mean()) if len(d) else np.nan,
        "bad_rate_count": float(a["bad"].mean()) if len(a) else np.nan,
        "bad_rate_amount": float((principal * a["bad"]).sum() / principal.sum()) if principal.sum() > 0 else np.nan,
        "exposure": float(a["recommended_limit"].sum()),
        "expected_loss": float((a["a_card_probability"] * a["recommended_limit"]).sum() * lgd),
    }


def summary_table(decided: pd.DataFrame, strategy: Strategy) -> pd.DataFrame:
    return pd.DataFrame([_outcomes(decided, _lgd(strategy))])


def by_grade_table(decided: pd.DataFrame, strategy: Strategy) -> pd.DataFrame:
    lgd = _lgd(strategy)
    rows = [{"grade": g, **_outcomes(decided[decided["a_card_grade"] == g], lgd)} for g in ("A", "B", "C", "D", "E")]
    out = pd.DataFrame(rows)
    out["share"] = out["rows"] / max(len(decided), 1)
    out["bad_rate_all"] = [float(decided.loc[decided["a_card_grade"] == g, "bad"].mean())
                           if (decided["a_card_grade"] == g).any() else np.nan for g in out["grade"]]
    return out


def rule_hits_table(decided: pd.DataFrame, strategy: Strategy) -> pd.DataFrame:
    """Per rule of the application stages: how often it fired, was unknown, and decided (rates of the population)."""
    n = max(len(decided), 1)
    fired = decided["rules_fired"].fillna("").str.split(";").explode()
    unknown = decided["rules_unknown"].fillna("").str.split(";").explode()
    deciding = decided["reason"].fillna("").str.replace("_unknown", "", regex=False)
    rows = []
    for section, key in (("admission", "hard_rules"), ("fraud", "hard_rules"), ("fraud", "soft_rules"),
                         ("admission", "soft_rules")):
        for r in strategy.engine(section, key).rules:
            hits, unk = int((fired == r.name).sum()), int((unknown == r.name).sum())
            rows.append({"section": f"{section}.{key}", "rule": r.name, "hits": hits, "hit_rate": hits / n,
                         "unknown": unk, "unknown_rate": unk / n, "decided": int((deciding == r.name).sum()),
                         "dormant": str(r.options.get("dormant") or "")})
    return pd.DataFrame(rows)


def swap_set_table(champion: pd.DataFrame, candidate: pd.DataFrame) -> pd.DataFrame:
    """Champion vs candidate approvals, each cell with its realised bad rate; cells add up to the population."""
    ca, cb = champion["decision"] == "approve", candidate["decision"] == "approve"
    cells = {"both_approve": ca & cb, "swap_in": ~ca & cb, "swap_out": ca & ~cb, "both_decline": ~ca & ~cb}
    bad, principal = champion["bad"], champion["principal"].fillna(0.0)
    rows = []
    for name in SWAP_CELLS:
        m = cells[name].to_numpy()
        rows.append({"cell": name, "rows": int(m.sum()), "share": float(m.mean()) if len(m) else np.nan,
                     "bad_rate_count": float(bad[m].mean()) if m.any() else np.nan,
                     "bad_rate_amount": float((principal[m] * bad[m]).sum() / principal[m].sum())
                     if principal[m].sum() > 0 else np.nan})
    return pd.DataFrame(rows)


def arms_table(decided_with_arms: pd.DataFrame, strategy: Strategy) -> pd.DataFrame:
    lgd = _lgd(strategy)
    rows = [{"arm": arm, **_outcomes(part, lgd), "mean_limit": float(part.loc[part["decision"] == "approve",
                                                                              "recommended_limit"].mean())}
            for arm, part in decided_with_arms.groupby("arm", sort=True)]
    return pd.DataFrame(rows)


def _lgd(strategy: Strategy) -> float:
    return float((strategy.config.get("backtest") or {}).get("lgd", 1.0))


@dataclass
class Comparison:
    tables: dict[str, pd.DataFrame]
    champion_version: str
    candidate_version: str


def compare(history: pd.DataFrame, champion: Strategy, candidate: Strategy,
            version_grades: dict | None = None) -> Comparison:
    """Every backtest table for champion vs candidate (each table has a `strategy` column where per strategy)."""
    decided = {"champion": replay(history, champion, version_grades), "candidate": replay(history, candidate, version_grades)}
    strategies = {"champion": champion, "candidate": candidate}
    tables: dict[str, pd.DataFrame] = {}
    for name, fn in (("summary", summary_table), ("by_grade", by_grade_table), ("rule_hits", rule_hits_table)):
        tables[name] = pd.concat([fn(decided[s], strategies[s]).assign(strategy=s, strategy_version=strategies[s].version)
                                  for s in strategies], ignore_index=True)
    tables["swap_set"] = swap_set_table(decided["champion"], decided["candidate"]).assign(
        champion_version=champion.version, candidate_version=candidate.version)
    arms = []
    for s, st in strategies.items():
        arms.append(arms_table(replay(history, st, version_grades, split_arms=True), st)
                    .assign(strategy=s, strategy_version=st.version))
    tables["arms"] = pd.concat(arms, ignore_index=True)
    return Comparison(tables=tables, champion_version=champion.version, candidate_version=candidate.version)


def candidate_name(path: str | Path) -> str:
    return Path(path).stem


def write_tables(layout: LakeLayout, name: str, comparison: Comparison) -> dict[str, Path]:
    paths = {}
    for table, frame in comparison.tables.items():
        paths[table] = layout.backtest_table(name, table)
        _write(frame, paths[table])
    return paths


def run_backtest(layout: LakeLayout, candidate_path: str | Path, rebuild_history: bool = False, log=print) -> Comparison:
    """Build the history when missing (or asked), replay champion and candidate, write the tables."""
    if rebuild_history or not layout.backtest_history.exists():
        build_history(layout, log=log)
    history, grades = read_history(layout)
    comparison = compare(history, load_strategy(), load_strategy(candidate_path), grades)
    write_tables(layout, candidate_name(candidate_path), comparison)
    return comparison


def _write(frame: pd.DataFrame, target) -> None:
    storage.write_frame(frame, target)


def main(argv=None) -> None:
    ap = argparse.ArgumentParser(description="Replay the champion strategy and a candidate over matured history")
    ap.add_argument("--candidate", required=True, help="candidate strategy YAML (may `extends:` the champion)")
    ap.add_argument("--rebuild-history", action="store_true", help="rescore the history with today's champions")
    args = ap.parse_args(argv)
    layout = LakeLayout.from_env()
    try:
        comp = run_backtest(layout, args.candidate, rebuild_history=args.rebuild_history)
    except (BacktestError, ValueError) as err:
        raise SystemExit(f"backtest: {err}") from None
    with pd.option_context("display.width", 200, "display.max_columns", 20):
        for table in ("summary", "swap_set", "by_grade"):
            print(f"\n== {table}")
            print(comp.tables[table].to_string(index=False))
    print(f"\ntables under {layout.backtest / ('candidate=' + candidate_name(args.candidate))}")


if __name__ == "__main__":
    main()
