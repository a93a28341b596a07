"""Models page: champion per label (metrics and plots) under the label's true oracle, all registered versions
(champion vs challengers), how the champion was chosen and approved, monitoring from the backfill of past months
(realised vs expected bad rate by grade, AUC / KS / score PSI by month, feature CSI), the model card, the latest
scores' distribution and an AUC comparison across versions.

Reads, through `dashboards.data`: the model registry (`models.registry.ModelRegistry`, which owns its folder
layout), the scores of every business date and the labels mart (paths from the lake layout, local or S3).
Every query takes its values as bound parameters; only aggregates are shown (never rows of customers).
"""
from __future__ import annotations

import io
import re

import altair as alt
import pandas as pd
import streamlit as st

from dashboards import data

LABEL_RE = re.compile(r"^[a-z][a-z0-9_]*$")
PLOTS = ["roc", "ks", "deciles", "calibration"]
GRADES = ["A", "B", "C", "D", "E"]


def _registry_state(reg) -> tuple:
    """(label, versions, champion) of every label with a version: the cache key of the registry table."""
    state = []
    for label in reg.labels():
        versions = reg.list_versions(label)
        if versions:
            state.append((label, tuple(versions), reg.champion(label)))
    return tuple(state)


@st.cache_data(ttl=60, show_spinner=False)
def registry_table(root: str, state: tuple) -> pd.DataFrame:
    """One row per (label, version): the version's metrics and whether it is the champion."""
    reg = data.registry()
    rows = []
    for label, versions, champ in state:
        for v in versions:
            try:
                m = reg.metrics(label, v)
            except (OSError, ValueError):  # a version being written right now
                m = {}
            rows.append({
                "label": label, "version": v, "model_type": m.get("model_type"), "model_name": m.get("model_name"),
                "champion": v == champ, "auc_oot": m.get("auc_oot"), "gini_oot": m.get("gini_oot"),
                "ks_oot": m.get("ks_oot"), "oracle_auc": m.get("oracle_auc"),
                "psi_score_train_oot": m.get("psi_score_train_oot"), "psi_status": m.get("psi_score_status"),
                "auc_train": m.get("auc_train"), "auc_valid": m.get("auc_valid"), "brier_oot": m.get("brier_oot"),
                "bad_rate_oot": m.get("bad_rate_oot"), "n_train": m.get("n_train"), "n_oot": m.get("n_oot"),
                "n_features": m.get("n_features"), "created_at": m.get("created_at"),
                "oot_start": (m.get("split") or {}).get("oot_start"), "oot_end": (m.get("split") or {}).get("oot_end"),
                "cv_auc": m.get("cv_auc"), "gap_to_oracle": m.get("auc_gap_to_oracle"),
            })
    cols = ["label", "version", "model_type", "model_name", "champion", "oracle_auc", "auc_oot", "gap_to_oracle",
            "cv_auc", "gini_oot", "ks_oot",
            "psi_score_train_oot", "psi_status", "auc_train", "auc_valid", "brier_oot", "bad_rate_oot", "n_train",
            "n_oot", "n_features", "created_at", "oot_start", "oot_end"]
    return pd.DataFrame(rows, columns=cols)


ORACLE_HELP = ("AUC of the simulator's true probability of this label's event (the Bayes posterior given the latent "
               "state and the history at the observation, simulator/oracle.py) on the same out-of-time rows: no model "
               "can beat it beyond sampling noise. Evaluation only, never a model input.")


@st.cache_data(ttl=60, show_spinner=False)
def monitoring_tables(folder: str, fingerprint: tuple) -> dict[str, pd.DataFrame]:
    """The backfill's monitoring tables of one version (grades, vintages, csi); {} before a backfill."""
    out = {}
    for name in ("grades", "vintages", "csi"):
        raw = data.read_bytes(data.path(folder) / f"{name}.parquet")
        if raw:
            out[name] = pd.read_parquet(io.BytesIO(raw))
    return out


def _approval_text(registry, label: str) -> str:
    record = registry.champion_record(label) if hasattr(registry, "champion_record") else None
    lines = []
    if record:
        approval = record.get("approval")
        if approval:
            lines.append(f"Champion {record.get('version')} approved by {approval.get('by')} at {approval.get('at')}: "
                         f"{approval.get('why')}")
        else:
            lines.append(f"Champion {record.get('version')} set {record.get('set_at')}: {record.get('reason')}")
    for cand in (registry.pending(label) if hasattr(registry, "pending") else []):
        lines.append(f"Waiting for approval: {cand.get('version')} ({cand.get('reason')}), proposed {cand.get('at')}; "
                     f"python -m models.registry approve {label} {cand.get('version')} --by NAME --why TEXT")
    return "\n".join(lines)


def _monitoring_block(label: str, version: str, lake) -> None:
    folder = lake.model_monitoring_dir(label, version)
    files = [folder / f"{n}.parquet" for n in ("grades", "vintages", "csi")]
    tables = monitoring_tables(str(folder), data.fingerprint(files))
    st.markdown(f"**Monitoring of {version}** (backfill of past observation months)")
    if not tables:
        st.info(f"{label} {version} has not been backfilled yet: materialise `monitoring/{label}` in Dagster or run "
                f"`python -m models.monitoring {label}`.")
        return
    vint = tables.get("vintages", pd.DataFrame())
    if len(vint):
        long = vint.melt(id_vars=["obs_month", "window"], value_vars=["auc", "ks"], var_name="metric")
        c1, c2 = st.columns(2)
        with c1:
            st.altair_chart(alt.Chart(long.dropna()).mark_line(point=True).encode(
                x=alt.X("obs_month:T", title="Observation month"), y=alt.Y("value:Q", title="AUC / KS"),
                color="metric:N", tooltip=["obs_month:T", "window", "metric", alt.Tooltip("value:Q", format=".3f")])
                .properties(height=240, title="AUC and KS by month"), width="stretch")
        with c2:
            rates = vint.melt(id_vars=["obs_month", "window"], value_vars=["bad_rate", "expected_bad_rate"],
                              var_name="rate")
            st.altair_chart(alt.Chart(rates.dropna()).mark_line(point=True).encode(
                x=alt.X("obs_month:T", title="Observation month"),
                y=alt.Y("value:Q", title="Bad rate", axis=alt.Axis(format="%")), color="rate:N",
                tooltip=["obs_month:T", "window", "rate", alt.Tooltip("value:Q", format=".2%")])
                .properties(height=240, title="Realised vs expected bad rate by month"), width="stretch")
        st.altair_chart(alt.Chart(vint.dropna(subset=["score_psi"])).mark_bar().encode(
            x=alt.X("obs_month:T", title="Observation month"), y=alt.Y("score_psi:Q", title="Score PSI vs training"),
            color=alt.Color("window:N"), tooltip=["obs_month:T", "window", alt.Tooltip("score_psi:Q", format=".3f")])
            .properties(height=180, title="Score PSI against the training window (0.1 watch, 0.25 act)"), width="stretch")
    grades = tables.get("grades", pd.DataFrame())
    if len(grades):
        st.markdown("Realised vs expected bad rate by grade (matured observations of every backfilled month)")
        st.dataframe(grades, hide_index=True, width="stretch",
                     column_config={c: st.column_config.NumberColumn(format="percent")
                                    for c in ("realised_bad_rate", "expected_bad_rate")})
    csi = tables.get("csi", pd.DataFrame())
    if len(csi):
        st.altair_chart(alt.Chart(csi).mark_rect().encode(
            x=alt.X("obs_month:T", title="Observation month"), y=alt.Y("feature:N", title=None),
            color=alt.Color("csi:Q", scale=alt.Scale(scheme="orangered", domain=[0, 0.25], clamp=True)),
            tooltip=["feature", "obs_month:T", alt.Tooltip("csi:Q", format=".3f")])
            .properties(height=max(160, 18 * csi["feature"].nunique()),
                        title="Feature CSI against the training window (most important features)"), width="stretch")


def _model_card_block(registry, label: str, version: str) -> None:
    raw = data.read_bytes(registry.path(label, version) / "model_card.md")
    with st.expander(f"Model card {label} {version}", expanded=False):
        if raw:
            st.code(raw.decode("utf-8"), language="markdown")  # shown as text, never rendered
        else:
            st.caption("No model card yet: it is written by the backfill (`python -m models.monitoring`).")


@st.cache_data(ttl=60, show_spinner=False)
def score_summaries(files: list[str], labels_path: str, fingerprint: tuple) -> dict[str, pd.DataFrame]:
    """Aggregates of the scores: score histogram (latest date), grade mix by date and realised bad rate by grade."""
    out: dict[str, pd.DataFrame] = {}
    if not files:
        return out
    con = data.connect()
    try:
        con.execute("CREATE TEMP TABLE s AS SELECT business_date::DATE AS business_date, customer_id, label, "
                    "model_version, score::DOUBLE AS score, grade, decision "
                    "FROM read_parquet($files, union_by_name = true, hive_partitioning = false)", {"files": files})
        out["latest"] = con.execute(
            "SELECT label, max(business_date) AS business_date FROM s GROUP BY 1 ORDER BY 1").df()
        # 20-point score bins of each label's latest scoring date
        out["hist"] = con.execute("""
            WITH l AS (SELECT label, max(business_date) AS d FROM s GROUP BY 1)
            SELECT s.label, floor(s.score / $w) * $w AS score_from, count(*) AS customers
            FROM s JOIN l ON s.label = l.label AND s.business_date = l.d
            WHERE s.score IS NOT NULL GROUP BY 1, 2 ORDER BY 1, 2""", {"w": 20}).df()
        out["hist"]["score_to"] = out["hist"]["score_from"] + 20
        out["grades"] = con.execute("""
            SELECT label, business_date, grade, any_value(model_version) AS model_version, count(*) AS customers,
                   count(*) / sum(count(*)) OVER (PARTITION BY label, business_date) AS share,
                   avg(score) AS mean_score
            FROM s GROUP BY 1, 2, 3 ORDER BY 1, 2, 3""").df()
        out["decisions"] = con.execute("""
            WITH l AS (SELECT label, max(business_date) AS d FROM s GROUP BY 1)
            SELECT s.label, s.decision, count(*) AS customers FROM s JOIN l ON s.label = l.label AND s.business_date = l.d
            GROUP BY 1, 2 ORDER BY 1, 3 DESC""").df()
        out["by_date"] = con.execute("""
            SELECT label, business_date, count(*) AS customers, avg(score) AS mean_score,
                   quantile_cont(score, 0.5) AS median_score
            FROM s GROUP BY 1, 2 ORDER BY 1, 2""").df()
        # realised bad rate: a score on business date D joined to the same customer's observation of D's month,
        # where the outcome of that observation has matured (bad_<label> not null)
        frames = []
        if data.path(labels_path).exists():
            cols = {r[0] for r in con.execute("DESCRIBE SELECT * FROM read_parquet($p)", {"p": labels_path}).fetchall()}
            for label in out["latest"]["label"]:
                col = f"bad_{label}"
                if not LABEL_RE.match(str(label)) or col not in cols:
                    continue
                # the column name is checked against the file's columns above; values are bound parameters
                frames.append(con.execute(f"""
                    SELECT s.label, s.grade, count(*) AS matured, sum(o."{col}"::INTEGER) AS bads,
                           avg(o."{col}"::INTEGER) AS bad_rate
                    FROM s JOIN read_parquet($p) o
                      ON o.customer_id = s.customer_id AND o.obs_month::DATE = date_trunc('month', s.business_date)::DATE
                    WHERE s.label = $label AND o."{col}" IS NOT NULL
                    GROUP BY 1, 2 ORDER BY 1, 2""", {"p": labels_path, "label": label}).df())
        out["realised"] = pd.concat(frames, ignore_index=True) if frames else pd.DataFrame(
            columns=["label", "grade", "matured", "bads", "bad_rate"])
        return out
    finally:
        con.close()


@st.cache_data(ttl=60, show_spinner=False)
def _csv(path: str, mtime: float) -> pd.DataFrame:
    raw = data.read_bytes(data.path(path))
    return pd.read_csv(io.BytesIO(raw)) if raw else pd.DataFrame()


def _fmt(x, spec: str = ".3f") -> str:
    return "n/a" if x is None or x != x else format(x, spec)


def _champion_block(label: str, row: pd.Series, version_dir: data.LakePath) -> None:
    st.markdown(f"**Champion `{row['version']}`** · {row['model_type']} · created {row['created_at'] or 'n/a'} · "
                f"out-of-time window {str(row['oot_start'])[:10]} → {str(row['oot_end'])[:10]}")
    top = st.columns(3)
    top[0].metric("True oracle AUC (OOT)", _fmt(row["oracle_auc"]), help=ORACLE_HELP)
    top[1].metric("Model AUC (OOT)", _fmt(row["auc_oot"]),
                  delta=None if row["gap_to_oracle"] is None or row["gap_to_oracle"] != row["gap_to_oracle"]
                  else f"{-row['gap_to_oracle']:+.3f} vs oracle", delta_color="off")
    top[2].metric("In-time CV AUC", _fmt(row["cv_auc"]), help="mean AUC of a 4-fold cross-validation on the in-time "
                  "window: what the champion is chosen on (never the out-of-time sample, never the model type)")
    c = st.columns(5)
    c[0].metric("Gini (OOT)", _fmt(row["gini_oot"]))
    c[1].metric("KS (OOT)", _fmt(row["ks_oot"]))
    c[2].metric("PSI train→OOT", _fmt(row["psi_score_train_oot"]), help=f"score stability: {row['psi_status'] or 'n/a'}")
    c[3].metric("Rows train / OOT", f"{_fmt(row['n_train'], ',.0f')} / {_fmt(row['n_oot'], ',.0f')}")
    c[4].metric("Features", _fmt(row["n_features"], ",.0f"))
    pngs = {p: version_dir / f"{p}.png" for p in PLOTS}
    pngs.update({p.stem: p for p in sorted(version_dir.glob("*.png"), key=str) if p.stem not in pngs})
    existing = [(name, img) for name, img in ((n, data.read_bytes(p)) for n, p in pngs.items()) if img]
    if existing:
        cols = st.columns(min(len(existing), 4))
        for i, (name, img) in enumerate(existing):
            cols[i % len(cols)].image(img, caption=f"{label} {row['version']}: {name}", width="stretch")
    else:
        st.caption("No plots stored for this version.")


def render() -> None:
    st.title("Models")
    lake = data.layout()
    registry = data.registry()
    root = registry.root
    st.caption(f"Model registry `{root}`: one folder per label and version; `champion.json` names the version "
               "that scores. Metrics are on the out-of-time (OOT) sample.")
    reg = registry_table(str(root), _registry_state(registry))
    if reg.empty:
        st.info("No model registry yet: train the models (materialise the `models` assets in Dagster, or run "
                f"`make demo`). Looked in `{root}`.")
        return

    champs = reg[reg["champion"]]
    st.subheader("Champions")
    st.caption("Each label's true oracle comes first: the AUC of the simulator's true event probability on the same "
               "out-of-time rows, the upper bound of what any model can reach there.")
    st.dataframe(champs[["label", "oracle_auc", "auc_oot", "gap_to_oracle", "version", "model_type", "cv_auc",
                         "gini_oot", "ks_oot", "psi_score_train_oot", "n_train", "n_oot", "n_features", "created_at"]],
                 hide_index=True, width="stretch",
                 column_config={"oracle_auc": st.column_config.NumberColumn("true oracle AUC", format="%.3f",
                                                                            help=ORACLE_HELP),
                                **{c: st.column_config.NumberColumn(format="%.3f")
                                   for c in ["auc_oot", "gap_to_oracle", "cv_auc", "gini_oot", "ks_oot",
                                             "psi_score_train_oot"]}})
    no_champ = sorted(set(reg["label"]) - set(champs["label"]))
    if no_champ:
        st.warning(f"No champion set for: {', '.join(no_champ)}")

    st.subheader("Champion vs challengers: AUC (OOT) per version")
    comp = reg.assign(role=reg["champion"].map({True: "champion", False: "challenger"}),
                      model=reg["version"] + " " + reg["model_type"].fillna("?"))
    base = alt.Chart(comp).encode(x=alt.X("label:N", title=None, axis=alt.Axis(labelAngle=0)),
                                  xOffset=alt.XOffset("version:N"))
    bars = base.mark_bar(clip=True).encode(
        y=alt.Y("auc_oot:Q", title="AUC (OOT)", scale=alt.Scale(domain=[0.5, 1.0])),
        color=alt.Color("role:N", scale=alt.Scale(domain=["champion", "challenger"], range=["#1565c0", "#b0bec5"])),
        tooltip=["label", "version", "model_type", "role", alt.Tooltip("auc_oot:Q", format=".4f"),
                 alt.Tooltip("oracle_auc:Q", format=".4f")])
    oracle = base.mark_tick(color="#d32f2f", thickness=2, clip=True).encode(
        y="oracle_auc:Q", tooltip=["label", "version", alt.Tooltip("oracle_auc:Q", format=".4f")])
    text = base.mark_text(dy=-6, fontSize=10).encode(y="auc_oot:Q", text=alt.Text("model_type:N"))
    st.altair_chart((bars + oracle + text).properties(height=280), width="stretch")
    st.caption("Red tick: the true oracle AUC on the same out-of-time rows (the simulator's true probability of the "
               "label's event): an upper bound that a model can exceed only by sampling noise.")

    st.subheader("By label")
    labels = sorted(reg["label"].unique())
    for tab, label in zip(st.tabs(labels), labels):
        with tab:
            rows = reg[reg["label"] == label]
            champ = rows[rows["champion"]]
            if champ.empty:
                st.warning(f"`{label}` has no champion (no champion.json).")
            else:
                _champion_block(label, champ.iloc[0], registry.path(label, champ.iloc[0]["version"]))
            approval = _approval_text(registry, label)
            if approval:
                st.text(approval)
            if not champ.empty:
                _monitoring_block(label, champ.iloc[0]["version"], lake)
                _model_card_block(registry, label, champ.iloc[0]["version"])
            st.markdown("**All versions** (champion, challengers and baselines)")
            st.dataframe(rows.drop(columns=["label"]), hide_index=True, width="stretch",
                         column_config={c: st.column_config.NumberColumn(format="%.4f") for c in
                                        ["auc_oot", "gap_to_oracle", "cv_auc", "gini_oot", "ks_oot", "oracle_auc", "psi_score_train_oot",
                                         "auc_train", "auc_valid", "brier_oot", "bad_rate_oot"]})

    st.subheader("Scores")
    files = lake.scores_files()
    if not files:
        st.info(f"No scores yet (`{lake.scores}`): run the scoring job.")
        return
    s = score_summaries([str(f) for f in files], str(lake.labels), data.fingerprint([*files, lake.labels]))
    latest = ", ".join(f"{r.label} {pd.Timestamp(r.business_date).date()}" for r in s["latest"].itertuples())
    st.caption(f"Latest business date per label: {latest}. {len(files)} scoring date(s) stored.")
    c1, c2 = st.columns(2)
    with c1:
        st.markdown("**Score distribution (latest date)**")
        st.altair_chart(alt.Chart(s["hist"]).mark_bar(opacity=0.75).encode(
            x=alt.X("score_from:Q", bin="binned", title="Score"), x2="score_to:Q",
            y=alt.Y("customers:Q", title="Customers", stack=None), color=alt.Color("label:N"),
            tooltip=["label", "score_from", "score_to", "customers"]).properties(height=280), width="stretch")
    with c2:
        st.markdown("**Grade mix (latest date)**")
        last = s["grades"].merge(s["latest"], on=["label", "business_date"])
        st.altair_chart(alt.Chart(last).mark_bar().encode(
            x=alt.X("share:Q", title="Share", axis=alt.Axis(format="%"), stack="normalize"),
            y=alt.Y("label:N", title=None), color=alt.Color("grade:N", sort=GRADES, scale=alt.Scale(scheme="redyellowgreen", reverse=True)),
            order=alt.Order("grade:O"),
            tooltip=["label", "grade", "customers", alt.Tooltip("share:Q", format=".1%"),
                     alt.Tooltip("mean_score:Q", format=".0f")]).properties(height=280), width="stretch")
    with st.expander("Decisions on the latest date"):
        st.dataframe(s["decisions"], hide_index=True, width="stretch")
    if s["by_date"]["business_date"].nunique() > 1:
        st.markdown("**Over business dates**")
        st.altair_chart(alt.Chart(s["by_date"]).mark_line(point=True).encode(
            x=alt.X("business_date:T", title="Business date"), y=alt.Y("mean_score:Q", title="Mean score",
                                                                       scale=alt.Scale(zero=False)),
            color="label:N", tooltip=["label", "business_date", "customers", alt.Tooltip("mean_score:Q", format=".1f")])
                        .properties(height=260), width="stretch")
        st.dataframe(s["grades"], hide_index=True, width="stretch")
    else:
        st.caption("One scoring date so far: trends over business dates appear once more dates are scored.")

    st.subheader("Realised bad rate by grade")
    real = s["realised"]
    if not real.empty:
        st.caption("Scores joined to the same customer's observation in the scoring month, where the outcome has "
                   "matured.")
        st.altair_chart(alt.Chart(real).mark_bar().encode(
            x=alt.X("grade:N", sort=GRADES), y=alt.Y("bad_rate:Q", axis=alt.Axis(format="%"), title="Bad rate"),
            column=alt.Column("label:N", title=None),
            tooltip=["label", "grade", "matured", "bads", alt.Tooltip("bad_rate:Q", format=".2%")])
                        .properties(height=220, width=160), width="content")
        st.dataframe(real, hide_index=True, width="stretch")
    else:
        st.info("The scored dates have no matured outcomes yet (no labelled observation in the scoring month), so "
                "the realised bad rate cannot be measured on the scores. Shown instead: the champion's bad rate by "
                "score decile on the out-of-time sample, from its training run (`deciles.csv`).")
        for label in sorted(champs["label"]):
            path = registry.path(label, champs[champs["label"] == label].iloc[0]["version"]) / "deciles.csv"
            dec = _csv(str(path), data.fingerprint([path])[0][1])
            if not dec.empty:
                keep = [c for c in ["decile", "n", "n_bad", "bad_rate", "min_score", "max_score", "lift", "ks"]
                        if c in dec.columns]
                st.markdown(f"**{label}** (decile 1 = riskiest)")
                dec = dec[keep].rename(columns={"min_score": "min_probability", "max_score": "max_probability"})
                st.dataframe(dec, hide_index=True, width="stretch",
                             column_config={"bad_rate": st.column_config.NumberColumn(format="percent")})
