"""Features page: search the feature dictionary; a feature's definition, distribution, stats and lineage.

Reads, through `dashboards.data`: the feature mart (`features/<table>.parquet`), the statistics written by the
Dagster asset features/feature_stats (`features/_stats/`, paths from the lake layout, local or S3) and the
catalog in features/.
"""
from __future__ import annotations

import altair as alt
import pandas as pd
import streamlit as st

from dashboards import data
from features.catalog import CATALOG_PATH, catalog

DBT_FEATURE_MODELS = data.REPO_ROOT / "dbt_project" / "models" / "features"
MAX_LIST = 500


def _mtime(path) -> float:
    return data.fingerprint([path])[0][1]


@st.cache_data(ttl=60, show_spinner=False)
def _read_parquet(path: str, mtime: float) -> pd.DataFrame:
    return data.sql("SELECT * FROM read_parquet($p)", {"p": path})


@st.cache_data(ttl=60, show_spinner=False)
def _dictionary(path: str, mtime: float, catalog_mtime: float) -> pd.DataFrame:
    if mtime:
        return _read_parquet(path, mtime)
    from features.docs import dictionary_rows

    return pd.DataFrame(dictionary_rows(catalog()))


def load() -> tuple[pd.DataFrame, bool]:
    """The dictionary joined to the stats (when the stats asset has run)."""
    lake = data.layout()
    dictionary_path = lake.feature_stats_file("feature_dictionary")
    d = _dictionary(str(dictionary_path), _mtime(dictionary_path), _mtime(CATALOG_PATH))
    stats_path = lake.feature_stats_file("feature_stats")
    if not _mtime(stats_path):
        return d, False
    s = _read_parquet(str(stats_path), _mtime(stats_path))
    keep = ["name", "missing_rate", "distinct_count", "iv", "iv_method", "psi", "psi_class", "mean", "min", "max",
            "p01", "p50", "p99", "zero_rate", "sample_rows", "n_rows", "computed_at"]
    return d.merge(s[[c for c in keep if c in s.columns]], on="name", how="left"), True


def _quote(name: str) -> str:
    return '"' + name.replace('"', '""') + '"'


@st.cache_data(ttl=60, show_spinner=False)
def distribution(table_path: str, column: str, labels_path: str, spine_path: str,
                 mtime: float) -> tuple[pd.DataFrame, pd.DataFrame, dict]:
    """Histogram (30 bins between the 1st and 99th percentile, outliers clipped into the end bins), bad rate by
    decile when labels exist, and the monthly mean (spine obs_month)."""
    con = data.connect()
    try:
        col = _quote(column)
        con.execute(f"CREATE TEMP VIEW t AS SELECT obs_id, {col}::DOUBLE AS x "
                    f"FROM read_parquet({data.sql_string(table_path)})").fetchall()
        n, n_null, lo, hi = con.execute("SELECT count(*), count(*) - count(x), quantile_cont(x, 0.01), "
                                        "quantile_cont(x, 0.99) FROM t").fetchall()[0]
        info = {"rows": n, "missing": n_null}
        if lo is None:
            return pd.DataFrame(), pd.DataFrame(), info
        width = (hi - lo) / 30 if hi > lo else 1.0
        hist = con.sql(f"""
            SELECT {lo} + least(greatest(floor((x - {lo}) / {width}), 0), {29 if hi > lo else 0}) * {width} AS bin_start,
                   count(*) AS observations
            FROM t WHERE x IS NOT NULL GROUP BY 1 ORDER BY 1""").df()
        hist["bin_end"] = hist["bin_start"] + width
        bad = pd.DataFrame()
        if data.path(labels_path).exists():
            bad = con.execute("""
                SELECT ntile(10) OVER (ORDER BY x) AS decile, x, l.label
                FROM t JOIN read_parquet($p) l USING (obs_id) WHERE x IS NOT NULL""", {"p": labels_path}).df()
            if not bad.empty:
                bad = (bad.groupby("decile").agg(low=("x", "min"), high=("x", "max"), applications=("label", "size"),
                                                 bad_rate=("label", "mean")).reset_index())
        monthly = con.execute("""
            SELECT s.obs_month AS month, avg(t.x) AS mean, avg((t.x IS NULL)::INTEGER) AS missing_rate, count(*) AS rows
            FROM t JOIN read_parquet($p) s USING (obs_id) GROUP BY 1 ORDER BY 1""", {"p": spine_path}).df()
        info["monthly"] = monthly
        return hist, bad, info
    finally:
        con.close()


def lineage_dot(name: str) -> str:
    cat = catalog()
    f = cat.feature(name)
    nodes: list[tuple[str, str]] = []
    if f.family in cat.families:
        fam = cat.families[f.family]
        src = [fam.source] + ([fam.asof["parent"]] if fam.asof and fam.asof["parent"] != fam.source else [])
        nodes = [(s, fam.long_model) for s in src] + [("feat_spine", fam.long_model), (fam.long_model, fam.table)]
    elif f.family == "graph":
        nodes = [("feat_src_graph_edges", "feat_graph"), ("feat_src_known_bad", "feat_graph"), ("feat_spine", "feat_graph")]
    else:
        nodes = [(t, f.table) for t in f.source.split(", ")]
    nodes += [(f.table, f"{name}"), (f.table, "feature_stats")]
    lines = ["digraph { rankdir=LR; node [shape=box, style=rounded, fontsize=10];",
             f'"{name}" [style="rounded,filled", fillcolor="#dbeafe"];']
    lines += [f'"{a}" -> "{b}";' for a, b in nodes]
    return "\n".join(lines + ["}"])


def family_yaml(family: str) -> str:
    """The catalog entry (YAML text) the feature was generated from."""
    text = CATALOG_PATH.read_text(encoding="utf-8").splitlines()
    key = f"  {family}:" if family in catalog().families else f"{family}:"
    try:
        start = text.index(key)
    except ValueError:
        return ""
    out = [text[start]]
    indent = len(key) - len(key.lstrip())
    for line in text[start + 1:]:
        if line.strip() and (len(line) - len(line.lstrip())) <= indent and not line.lstrip().startswith("#"):
            break
        out.append(line)
    return "\n".join(out).rstrip()


def render() -> None:
    st.title("Features")
    df, has_stats = load()
    lake = data.layout()
    st.caption(f"Feature catalog: `features/catalog.yaml` -> dbt models `dbt_project/models/features/` -> Parquet in "
               f"`{lake.features}`. One row per (customer, observation time T); every feature uses only "
               "records strictly before T.")
    c1, c2, c3, c4 = st.columns(4)
    c1.metric("Features", f"{len(df):,}")
    c2.metric("Tables", df["table"].nunique())
    c3.metric("With IV", f"{int(df['iv'].notna().sum()):,}" if has_stats else "n/a")
    c4.metric("PSI > 0.25", f"{int((df['psi_class'] == 'shift').sum()):,}" if has_stats else "n/a")
    if not has_stats:
        st.info("Feature stats are not computed yet: materialise `features/feature_stats` in Dagster "
                "(or run `make demo`). The dictionary below comes from the catalog.")

    f1, f2, f3 = st.columns([3, 2, 2])
    text = f1.text_input("Search name or description", key="feat_search", placeholder="e.g. inquiries 90 days, utilisation")
    groups = f2.multiselect("Group", sorted(df["group"].unique()), key="feat_groups")
    families = f3.multiselect("Family", sorted(df["family"].unique()), key="feat_families")
    f4, f5, f6 = st.columns([2, 2, 3])
    aggs = f4.multiselect("Aggregation", sorted(df["aggregation"].unique()), key="feat_aggs")
    windows = f5.multiselect("Window", sorted(df["window"].unique()), key="feat_windows")
    sort_options = ["IV (high first)", "PSI (high first)", "Missing rate (high first)", "Name"] if has_stats else ["Name"]
    order = f6.selectbox("Sort by", sort_options, key="feat_sort")

    sel = df
    if text:
        words = [w.lower() for w in text.split()]
        hay = (sel["name"] + " " + sel["description"]).str.lower()
        mask = pd.Series(True, index=sel.index)
        for w in words:
            mask &= hay.str.contains(w, regex=False)
        sel = sel[mask]
    for col, chosen in (("group", groups), ("family", families), ("aggregation", aggs), ("window", windows)):
        if chosen:
            sel = sel[sel[col].isin(chosen)]
    by = {"IV (high first)": ("iv", False), "PSI (high first)": ("psi", False),
          "Missing rate (high first)": ("missing_rate", False), "Name": ("name", True)}[order]
    sel = sel.sort_values(by[0], ascending=by[1], na_position="last")

    st.subheader(f"{len(sel):,} matching features")
    cols = ["name", "description", "table", "window", "aggregation"] + (
        ["iv", "psi", "missing_rate", "distinct_count"] if has_stats else [])
    st.dataframe(sel[cols].head(MAX_LIST), hide_index=True, width="stretch", height=320,
                 column_config={"iv": st.column_config.NumberColumn("IV", format="%.3f"),
                                "psi": st.column_config.NumberColumn("PSI", format="%.3f"),
                                "missing_rate": st.column_config.NumberColumn("missing", format="percent"),
                                "description": st.column_config.TextColumn(width="large")})
    if len(sel) > MAX_LIST:
        st.caption(f"Showing the first {MAX_LIST} of {len(sel):,}; narrow the search or download all.")
    st.download_button("Download the matching dictionary (CSV)", sel.to_csv(index=False).encode("utf-8"),
                       file_name="feature_dictionary.csv", mime="text/csv", key="feat_dl", icon=":material/download:")
    if sel.empty:
        return

    name = st.selectbox("Feature", sel["name"].head(MAX_LIST).tolist(), key="feat_pick")
    row = sel[sel["name"] == name].iloc[0]
    st.header(f"`{name}`")
    st.write(row["description"])
    d1, d2 = st.columns([3, 2])
    with d1:
        st.markdown(
            f"| | |\n|---|---|\n| table | `{row['table']}` |\n| family / group | `{row['family']}` / {row['group']} |\n"
            f"| source | `{row['source']}` |\n| aggregation | `{row['aggregation']}` |\n| slice | `{row['slice']}` |\n"
            f"| window | {row['window']} |\n| type | {row['dtype']} |")
    with d2:
        if has_stats and pd.notna(row.get("n_rows")):
            m1, m2 = st.columns(2)
            m1.metric("Missing rate", f"{row['missing_rate']:.1%}")
            m2.metric("Distinct (sample)", f"{int(row['distinct_count']):,}")
            m3, m4 = st.columns(2)
            m3.metric("IV", "n/a" if pd.isna(row["iv"]) else f"{row['iv']:.3f}",
                      help=f"method: {row['iv_method'] or 'no labelled applications yet'}; "
                           "< 0.02 useless, 0.02-0.1 weak, 0.1-0.3 medium, > 0.3 strong")
            m4.metric("PSI", "n/a" if pd.isna(row["psi"]) else f"{row['psi']:.3f}",
                      help=f"first vs last observation period: {row['psi_class'] or 'n/a'} "
                           "(< 0.1 stable, 0.1-0.25 watch, > 0.25 shift)")
        else:
            st.info("No stats for this feature yet.")

    table_path = lake.feature_table(row["table"])
    labels_path = lake.feature_stats_file("acard_labels")
    t_dist, t_lin = st.tabs(["Distribution", "Lineage and definition"])
    with t_dist:
        if not _mtime(table_path):
            st.info(f"`{table_path}` is not built yet.")
        else:
            hist, bad, info = distribution(data.parquet_source(table_path), name, str(labels_path), str(lake.feature_spine),
                                           _mtime(table_path))
            st.caption(f"{info['rows']:,} observations, {info['missing']:,} missing.")
            if not hist.empty:
                st.altair_chart(alt.Chart(hist).mark_bar().encode(
                    x=alt.X("bin_start:Q", bin="binned", title=name), x2="bin_end:Q",
                    y=alt.Y("observations:Q", title="observations"),
                    tooltip=["bin_start", "bin_end", "observations"]).properties(height=240), width="stretch")
            if not bad.empty:
                st.markdown("**A-card bad rate by decile** (labelled applications)")
                st.altair_chart(alt.Chart(bad).mark_bar().encode(
                    x=alt.X("decile:O"), y=alt.Y("bad_rate:Q", axis=alt.Axis(format="%"), title="bad rate"),
                    tooltip=["decile", "low", "high", "applications", alt.Tooltip("bad_rate:Q", format=".2%")]
                ).properties(height=200), width="stretch")
            monthly = info.get("monthly")
            if monthly is not None and not monthly.empty:
                st.markdown("**Mean and missing rate by observation month** (what PSI compares)")
                base = alt.Chart(monthly).encode(x=alt.X("month:T", title="observation month"))
                st.altair_chart(alt.layer(
                    base.mark_line(point=True).encode(y=alt.Y("mean:Q", title="mean"), tooltip=["month", "mean", "rows"]),
                    base.mark_line(strokeDash=[4, 3], color="gray").encode(
                        y=alt.Y("missing_rate:Q", title="missing rate", axis=alt.Axis(format="%")))
                ).resolve_scale(y="independent").properties(height=220), width="stretch")
    with t_lin:
        st.graphviz_chart(lineage_dot(name))
        st.caption("Source models -> one set-based SQL pass per source (`*_long`, point-in-time join to the spine) -> "
                   "wide Parquet table (dbt Python model) -> stats.")
        st.markdown("**Catalog entry** (`features/catalog.yaml`)")
        st.code(family_yaml(row["family"]) or "(not found)", language="yaml")
        sql_path = DBT_FEATURE_MODELS / f"{row['table']}_long.sql"
        if not sql_path.exists():
            sql_path = DBT_FEATURE_MODELS / f"{row['table']}.sql"
        if sql_path.exists():
            with st.expander(f"Generated SQL: {sql_path.name}"):
                st.code(sql_path.read_text(encoding="utf-8"), language="sql")


if __name__ == "__main__":  # `streamlit run dashboards/page_modules/features.py` shows the page on its own
    render()
