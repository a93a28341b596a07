"""Batch scoring of a business date on the lake: populations, decision inputs, scores and decisions.

Writes ``LakeLayout.decisions_file(date)`` (why each decision was made, for audit, never exported) and
then ``LakeLayout.scores_file(date)`` (the scores contract read by the partner exports), scores last.

Who is scored is declared in ``models/specs/scoring_populations.yaml``; the rule inputs in
``models/specs/decision_inputs.yaml``. Applications get one final decision from the strategy
(``Strategy.decide_applications``: hard rules -> fraud -> A-card grade -> initial limit); it is the
``decision`` / ``recommended_limit`` of both their A-card and fraud rows in the scores contract, so partners
receive the decision that was actually taken. Every decision row carries the strategy version.

Scoring runs by customer shard (hash(customer_id) % n, like the feature mart): one task per shard scores every
label's population of that shard (a customer's A-card and fraud rows fall in the same shard, so the final
application decision is taken inside the task), reading only the mart columns the champions, the decision
inputs and the strategy rules name. Tasks run on the feature mart's executor (features.executor: in-process, or
Dask when DASK_SCHEDULER_ADDRESS is set). Each task writes its decisions and scores parts under a run folder
(atomic writes through lake.storage, so a retried task rewrites the same names); the contract files are
written from the parts at the end, decisions first and scores last, in one canonical row order (label, then
obs_id / customer_id), so any shard count gives the same files.
"""
from __future__ import annotations

import uuid
from dataclasses import dataclass, field
from functools import lru_cache
from pathlib import Path

import pandas as pd
import pyarrow as pa
import yaml

from features.catalog import catalog
from lake import storage
from lake.layout import LakeLayout, business_date_text
from lake.scores import conform_scores_table
from models.lake_inputs import SPECS_DIR, ModelDataError, feature_dictionary, lake_registry, load_features, model_specs

DECISION_INPUTS = SPECS_DIR / "decision_inputs.yaml"
SCORING_POPULATIONS = SPECS_DIR / "scoring_populations.yaml"
MISSING_MEANINGS = ("unknown", "zero")
TRANSFORMS = (None, "positive", "days_to_months")
APPLICATION_LABELS = ("a_card", "fraud")


@lru_cache(maxsize=1)
def decision_inputs() -> dict[str, dict]:
    """The decision-input mapping, validated: every input names a feature and what a missing value means."""
    spec = yaml.safe_load(DECISION_INPUTS.read_text()) or {}
    for name, src in spec.items():
        where = f"{DECISION_INPUTS}: input {name!r}"
        if not isinstance(src, dict) or "feature" not in src:
            raise ModelDataError(f"{where}: needs `feature: <mart column>` (constants are not decision inputs)")
        if src.get("missing") not in MISSING_MEANINGS:
            raise ModelDataError(f"{where}: declare `missing:` as one of {list(MISSING_MEANINGS)}")
        if src["missing"] == "zero" and not src.get("why"):
            raise ModelDataError(f"{where}: `missing: zero` needs a `why` (what makes no record a zero)")
        if src.get("transform") not in TRANSFORMS:
            raise ModelDataError(f"{where}: unknown transform {src.get('transform')!r} (known: {TRANSFORMS[1:]})")
    return spec


def input_descriptions() -> dict[str, str]:
    """Decision input -> the plain statement of its feature (feature dictionary), for adverse-action reasons."""
    fd = feature_dictionary()
    return {name: fd.get(src["feature"], name) for name, src in decision_inputs().items()}


def with_decision_inputs(frame: pd.DataFrame) -> pd.DataFrame:
    """Add the columns the decision rules name (models/specs/decision_inputs.yaml) from mart features.

    A missing feature value stays missing (``missing: unknown``: the rules decide what unknown means) or
    becomes 0 where the mapping declares why no record is a zero."""
    out = {}
    for name, src in decision_inputs().items():
        if src["feature"] not in frame.columns:
            raise ModelDataError(f"{DECISION_INPUTS}: decision input {name!r} names feature {src['feature']!r}, which "
                                 "the feature mart does not have; fix the mapping or add the feature to "
                                 "features/catalog.yaml")
        values = frame[src["feature"]].astype("float64")
        if src["missing"] == "zero":
            values = values.fillna(0.0)
        transform = src.get("transform")
        if transform == "positive":
            values = (values > 0).astype("float64").where(values.notna())
        elif transform == "days_to_months":
            values = values / 30.44
        out[name] = values.to_numpy()
    frame = frame.drop(columns=[c for c in out if c in frame.columns])  # a same-named feature is replaced
    return pd.concat([frame, pd.DataFrame(out, index=frame.index)], axis=1)


@lru_cache(maxsize=1)
def scoring_populations() -> dict[str, dict]:
    spec = yaml.safe_load(SCORING_POPULATIONS.read_text()) or {}
    for label, pop in spec.items():
        if pop.get("observations") not in ("application", "month_end") or not pop.get("where"):
            raise ModelDataError(f"{SCORING_POPULATIONS}: {label}: needs observations (application | month_end) "
                                 "and where (a condition on the feature spine)")
    return spec


def shard_condition(shard: int = 0, n_shards: int = 1, column: str = "customer_id") -> str:
    """SQL: the row's customer is in shard `shard` of `n_shards` (the feature mart's hash(customer_id) buckets)."""
    from features.shards import shard_of_sql

    return f"{shard_of_sql(n_shards, column)} = {int(shard)}"


def population_observations(layout: LakeLayout, label: str, business_date: str, shard: int = 0,
                            n_shards: int = 1) -> pd.DataFrame:
    """The observations a label scores on the business date (scoring_populations.yaml), with the funding
    partner of the customer's latest loan (null for an applicant without a loan: decided, not exported).
    Only the customers of one shard when `n_shards` > 1 (the population is chosen on the whole spine first)."""
    pops = scoring_populations()
    if label not in pops:
        raise ModelDataError(f"{SCORING_POPULATIONS}: no scoring population for label {label!r}")
    pop, bd = pops[label], business_date_text(business_date)
    spine = layout.feature_spine.as_posix()
    loans = layout.mart("loan_performance").as_posix()
    if pop["observations"] == "application":
        obs_sql = f"""
            SELECT obs_id, customer_id, obs_at, application_id, dpd_at_obs FROM read_parquet('{spine}')
            WHERE ({pop['where']}) AND obs_at < DATE '{bd}' + INTERVAL 1 DAY
            QUALIFY row_number() OVER (PARTITION BY customer_id ORDER BY obs_at DESC) = 1"""
    else:  # accounts on book at the latest month-end on or before the business date
        obs_sql = f"""
            WITH spine AS (SELECT * FROM read_parquet('{spine}')),
            month_end AS (SELECT max(obs_date) AS d FROM spine WHERE is_month_end AND obs_date <= DATE '{bd}')
            SELECT obs_id, customer_id, obs_at, application_id, dpd_at_obs FROM spine, month_end
            WHERE is_month_end AND obs_date = month_end.d AND ({pop['where']})"""
    con = storage.connect(layout.root)  # its own connection: shard tasks run in threads (the default one is not shared)
    try:
        return con.sql(f"""
        WITH obs AS ({obs_sql}),
        partner AS (
            SELECT customer_id, arg_max(partner_id, disbursed_date) AS partner_id FROM read_parquet('{loans}')
            WHERE disbursed_date <= DATE '{bd}' GROUP BY customer_id
        )
        SELECT obs.*, partner.partner_id FROM obs LEFT JOIN partner USING (customer_id)
        WHERE {shard_condition(shard, n_shards, "obs.customer_id")} ORDER BY obs_id
        """).df()
    finally:
        con.close()


def final_application_decisions(scored: dict[str, pd.DataFrame], frame: pd.DataFrame, strategy) -> pd.DataFrame:
    """One final decision per application from the A-card and fraud scores of the same observations."""
    a, f = scored["a_card"].set_index("obs_id"), scored["fraud"].set_index("obs_id")
    work = frame.set_index("obs_id")
    needed = sorted(set(strategy.columns_needed("a_card")) | set(strategy.columns_needed("fraud")))
    apps = work[[c for c in needed if c in work.columns] + ["customer_id"]].copy()
    for label, part in (("a_card", a), ("fraud", f)):
        part = part.reindex(apps.index)
        for col in ("model_version", "probability", "score", "grade", "reason_1", "reason_2", "reason_3"):
            apps[f"{label}_{col}"] = part[col]
    decided = strategy.decide_applications(apps, describe=input_descriptions())
    return pd.concat([apps[[c for c in apps.columns if c.startswith(("a_card_", "fraud_"))] + ["customer_id"]],
                      decided], axis=1).reset_index()


@dataclass
class BatchResult:
    scored: pd.DataFrame
    scores_path: Path
    rows_by_label: dict[str, int]
    skipped: list[str]  # labels without a champion
    decisions: pd.DataFrame | None = None
    n_shards: int = 1
    runner: str = "in-process"


@dataclass(frozen=True)
class ScoringShard:
    """One unit of scoring work: the customers of shard `shard` of `n_shards` on the business date."""
    layout: LakeLayout
    business_date: str
    shard: int
    n_shards: int
    parts: object                     # run folder (a lake path) the task writes its parts into
    labels: tuple[str, ...]           # labels with a champion
    columns: tuple[str, ...] | None   # mart columns to read (None: every feature)
    strategy: object = None           # a Strategy (None: the shipped one, loaded in the task)


@dataclass
class ShardScores:
    shard: int
    rows_by_label: dict[str, int] = field(default_factory=dict)
    scored: pd.DataFrame | None = None
    mixed_application_labels: bool = False


def _part(parts, kind: str, shard: int):
    return parts / f"{kind}-{shard:04d}.parquet"


def columns_to_read(reg, labels, strategy) -> tuple[str, ...]:
    """Mart columns scoring needs: the champions' features, the decision inputs' features and whatever the
    strategy rules name (names that are not mart features are simply not found in the mart)."""
    cols: set[str] = set()
    for label in labels:
        cols |= set(reg.load(label).features)
        cols |= strategy.columns_needed(label)
    cols |= {src["feature"] for src in decision_inputs().values()}
    return tuple(sorted(cols))


def score_shard(task: ScoringShard) -> ShardScores:
    """Score, decide and write the parts of one shard (idempotent: a retry rewrites the same part names)."""
    from models.scoring import score_frame
    from models.strategy import load_strategy

    reg = lake_registry(task.layout)
    strategy = task.strategy or load_strategy()
    out = ShardScores(task.shard)
    scored_by_label, frames = {}, {}
    for label in task.labels:
        obs = population_observations(task.layout, label, task.business_date, task.shard, task.n_shards)
        if obs.empty:
            continue
        frame = with_decision_inputs(load_features(task.layout, obs,
                                                   columns=None if task.columns is None else list(task.columns)))
        scored = score_frame(frame, reg.load(label), task.business_date, label=label, strategy=strategy,
                             reasons=["C", "D", "E"], details=True)
        scored.insert(0, "obs_id", frame["obs_id"].to_numpy())
        scored_by_label[label], frames[label] = scored, frame
        out.rows_by_label[label] = len(scored)
    if not scored_by_label:
        return out
    apps = None
    if all(label in scored_by_label for label in APPLICATION_LABELS):
        apps = final_application_decisions(scored_by_label, frames["a_card"], strategy)
        final = apps.set_index("obs_id")
        for label in APPLICATION_LABELS:  # partners receive the final decision on both application scores
            part = scored_by_label[label]
            ids = part["obs_id"].to_numpy()
            part["decision"] = final["decision"].reindex(ids).to_numpy()
            part["recommended_limit"] = final["recommended_limit"].reindex(ids).to_numpy()
    elif any(label in scored_by_label for label in APPLICATION_LABELS):
        out.mixed_application_labels = True
    scored = pd.concat(list(scored_by_label.values()), ignore_index=True)
    # every applicant is decided (decisions.parquet); a partner receives the rows of its own customers: those
    # with a loan it funded (an applicant declined before any loan has no partner and is not exported)
    table = conform_scores_table(_scores_arrow(scored[scored["partner_id"].notna()]))
    decisions = decision_rows(scored_by_label, apps, strategy, task.business_date)
    storage.write_parquet(pa.Table.from_pandas(decisions, preserve_index=False),
                          _part(task.parts, "decisions", task.shard))
    storage.write_parquet(table, _part(task.parts, "scores", task.shard))
    out.scored = scored
    return out


def _label_order(labels) -> list[str]:
    return ["application", *labels]


def _canonical(table: pa.Table, labels, key: str) -> pa.Table:
    """Rows in (label as in model_specs, key) order, whatever the shard count (a label scores a customer once
    on a date, so (label, customer_id) orders the scores contract, which has no obs_id)."""
    import pyarrow.compute as pc

    if table.num_rows == 0:
        return table
    rank = pc.index_in(table["label"], value_set=pa.array(_label_order(labels), pa.string()))
    return (table.append_column("_rank", rank)
            .sort_by([("_rank", "ascending"), (key, "ascending")]).drop_columns(["_rank"]))


def scoring_shards(layout: LakeLayout) -> int:
    """Shard count for scoring: the feature mart's (so a task reads one part file of each family table), else
    the mart's rule (features.engine.n_shards) on the spine's row count."""
    from features.engine import n_shards
    from features.shards import read_manifest

    for fam in catalog().families.values():
        manifest = read_manifest(layout.feature_table(fam.table))
        if manifest and manifest.get("n_shards"):
            return int(manifest["n_shards"])

    spine = storage.sql_string(layout.feature_spine.as_posix())
    con = storage.connect(layout.feature_spine)
    try:
        rows = con.execute(f"SELECT count(*) FROM read_parquet({spine})").fetchall()[0][0]
    finally:
        con.close()
    return n_shards(int(rows))


def score_business_date(layout: LakeLayout, business_date: str, log=print, strategy=None, runner=None,
                        n_shards: int | None = None, all_features: bool = False) -> BatchResult:
    """Score every label's population with its champion, shard by shard, and write decisions, then scores.

    `runner`: a features.executor runner (default: the environment's, in-process or Dask); `n_shards`: default
    from the spine's size; `all_features`: read every mart feature instead of only the columns scoring needs
    (slower; the same result)."""
    from features.executor import runner_from_env
    from models.strategy import load_strategy

    reg = lake_registry(layout)
    labels = list(model_specs()["labels"])
    scored_labels, skipped = [], []
    for label in labels:
        if reg.champion(label) is None:
            log(f"{label}: no champion registered yet; not scored")
            skipped.append(label)
        else:
            scored_labels.append(label)
    if not scored_labels:
        raise ModelDataError(f"nothing to score on {business_date}: no champion models registered")
    shipped = strategy is None
    strategy = strategy or load_strategy()
    n = int(n_shards or scoring_shards(layout))
    columns = None if all_features else columns_to_read(reg, scored_labels, strategy)
    parts = layout.scores_shards(business_date) / uuid.uuid4().hex[:12]
    storage.makedirs(parts)
    tasks = [ScoringShard(layout, business_date_text(business_date), k, n, parts, tuple(scored_labels), columns,
                          None if shipped else strategy) for k in range(n)]
    own_runner = runner is None
    runner = runner or runner_from_env()
    try:
        results = sorted(runner.map(score_shard, tasks), key=lambda r: r.shard)
        described = runner.describe()
        counts: dict[str, int] = {}
        for r in results:
            for label, c in r.rows_by_label.items():
                counts[label] = counts.get(label, 0) + c
        if not counts:
            raise ModelDataError(f"nothing to score on {business_date}: no observations of any scoring "
                                 "population before that date")
        if any(r.mixed_application_labels for r in results):
            log("applications: A-card and fraud champions are both needed for one final decision; "
                "each label's own strategy section decided instead")
        written = [r.shard for r in results if r.scored is not None]
        tables = {}
        for kind, key in (("decisions", "obs_id"), ("scores", "customer_id")):
            t = pa.concat_tables([storage.read_parquet(_part(parts, kind, k)) for k in written],
                                 promote_options="permissive")
            tables[kind] = _canonical(t, labels, key)
        path = layout.scores_file(business_date)
        storage.write_parquet(tables["decisions"], layout.decisions_file(business_date))
        storage.write_parquet(tables["scores"], path)  # scores last: what the exports read
    finally:
        if own_runner:
            runner.close()
        storage.remove_tree(parts)
    scored = pd.concat([r.scored for r in results if r.scored is not None], ignore_index=True)
    rank = {label: i for i, label in enumerate(labels)}
    scored = (scored.assign(_rank=scored["label"].map(rank)).sort_values(["_rank", "obs_id"], kind="stable")
              .drop(columns="_rank").reset_index(drop=True))
    decisions = tables["decisions"].to_pandas()
    return BatchResult(scored=scored, scores_path=path, rows_by_label=counts, skipped=skipped, decisions=decisions,
                       n_shards=n, runner=described)


DECISION_COLUMNS = ["business_date", "obs_id", "customer_id", "label", "strategy_version", "arm", "model_version",
                    "score", "grade", "fraud_model_version", "fraud_score", "fraud_grade", "decision",
                    "recommended_limit", "deciding_stage", "reason", "rules_fired", "rules_unknown", "rule_inputs",
                    "adverse_reason_1", "adverse_reason_2", "adverse_reason_3", "adverse_reason_4", "drawdown_block"]


def decision_rows(scored_by_label: dict[str, pd.DataFrame], apps: pd.DataFrame | None, strategy,
                  business_date: str) -> pd.DataFrame:
    """decisions.parquet: one row per application (label 'application', the final decision) and one per
    scored account of the other labels; every row with the strategy version and why it was decided."""
    parts = []
    if apps is not None:
        a = apps.rename(columns={"a_card_model_version": "model_version", "a_card_score": "score",
                                 "a_card_grade": "grade"})
        a["label"] = "application"
        parts.append(a)
    for label, part in scored_by_label.items():
        if apps is not None and label in APPLICATION_LABELS:
            continue
        parts.append(part)
    out = pd.concat(parts, ignore_index=True)
    out["business_date"] = pd.Timestamp(business_date_text(business_date)).date()
    out["strategy_version"] = strategy.version
    for col in DECISION_COLUMNS:
        if col not in out.columns:
            out[col] = pd.NA
    out = out[DECISION_COLUMNS]
    text = [c for c in DECISION_COLUMNS if c not in ("business_date", "obs_id", "score", "fraud_score",
                                                     "recommended_limit", "drawdown_block")]
    out[text] = out[text].astype("string")
    out["drawdown_block"] = out["drawdown_block"].astype("boolean")
    for c in ("score", "fraud_score"):
        out[c] = pd.to_numeric(out[c], errors="coerce").astype("Int32")
    out["recommended_limit"] = pd.to_numeric(out["recommended_limit"], errors="coerce").astype("float64")
    out["obs_id"] = out["obs_id"].astype("int64")
    return out


def _scores_arrow(scored: pd.DataFrame) -> pa.Table:
    from models.scoring import scores_to_arrow

    return scores_to_arrow(scored)
