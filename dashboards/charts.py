"""Altair chart builders shared by the pages (tooltips on every mark, consistent bucket colours)."""
from __future__ import annotations

import altair as alt
import pandas as pd

BUCKETS = ["C", "M1", "M2", "M3", "M4", "M5", "M6", "M7+", "PAID_OFF"]
BUCKET_COLORS = ["#2e7d32", "#c0ca33", "#fdd835", "#ffb300", "#fb8c00", "#f4511e", "#d32f2f", "#6a1b1a", "#9e9e9e"]
BUCKET_SCALE = alt.Scale(domain=BUCKETS, range=BUCKET_COLORS)
HEIGHT = 320


def lines(df: pd.DataFrame, x: str, y: str, color: str, *, x_title: str, y_title: str, tooltip: list,
          percent: bool = True, x_type: str = "Q", color_title: str | None = None, points: bool = True,
          ordered: bool = False) -> alt.Chart:
    """Line per `color` value with a clickable legend; ordered=True colours an ordered series (cohorts) on a
    sequential scale so neighbouring cohorts look alike and old vs new is visible at a glance."""
    enc_y = alt.Y(f"{y}:Q", title=y_title, axis=alt.Axis(format=".1%" if percent else ",.0f"))
    sel = alt.selection_point(fields=[color], bind="legend")
    base = alt.Chart(df).encode(
        x=alt.X(f"{x}:{x_type}", title=x_title),
        y=enc_y,
        color=alt.Color(f"{color}:{'O' if ordered else 'N'}", title=color_title or color, sort=None,
                        scale=alt.Scale(scheme="turbo") if ordered else alt.Undefined,
                        legend=alt.Legend(symbolLimit=0, columns=2 if df[color].nunique() > 12 else 1)),
        opacity=alt.condition(sel, alt.value(1.0), alt.value(0.12)),
        tooltip=tooltip,
    )
    chart = base.mark_line(point=points, strokeWidth=1.8).add_params(sel)
    return chart.properties(height=HEIGHT).interactive(bind_y=False)


def stacked_area(df: pd.DataFrame, x: str, y: str, color: str, *, y_title: str, tooltip: list,
                 normalize: bool = True) -> alt.Chart:
    """Stacked areas over month-ends; normalize=False stacks the values as they are (e.g. shares of a total)."""
    return alt.Chart(df).mark_area().encode(
        x=alt.X(f"{x}:T", title="Month-end"),
        y=alt.Y(f"{y}:Q", stack="normalize" if normalize else "zero", title=y_title,
                axis=alt.Axis(format="%" if normalize else ".1%")),
        color=alt.Color(f"{color}:N", scale=BUCKET_SCALE, title="Bucket", sort=BUCKETS),
        order=alt.Order("bucket_order:Q"),
        tooltip=tooltip,
    ).properties(height=HEIGHT)


def heatmap(df: pd.DataFrame, x: str, y: str, value: str, *, x_title: str, y_title: str, tooltip: list,
            x_sort=None, y_sort=None, scheme: str = "orangered", x_label_angle: int = 0,
            min_label: float = 0.0) -> alt.LayerChart:
    """Rect heatmap of a 0..1 share with the value printed in cells >= min_label."""
    base = alt.Chart(df).encode(
        x=alt.X(f"{x}:N", title=x_title, sort=x_sort, axis=alt.Axis(labelAngle=x_label_angle, labelOverlap=False)),
        y=alt.Y(f"{y}:N", title=y_title, sort=y_sort, axis=alt.Axis(labelOverlap=False)),
    )
    rect = base.mark_rect().encode(
        color=alt.Color(f"{value}:Q", scale=alt.Scale(scheme=scheme, domain=[0, 1]), title="Share",
                        legend=alt.Legend(format="%")),
        tooltip=tooltip,
    )
    text = base.transform_filter(f"datum.{value} >= {min_label}").mark_text(fontSize=11).encode(
        text=alt.Text(f"{value}:Q", format=".0%"),
        color=alt.condition(f"datum.{value} > 0.5", alt.value("white"), alt.value("black")),
        tooltip=tooltip,
    )
    rows = max(df[y].nunique(), 1) if len(df) else 1
    return (rect + text).properties(height=max(HEIGHT, 30 * rows))


def bars(df: pd.DataFrame, x: str, y: str, color: str, *, x_title: str, y_title: str, tooltip: list,
         color_scale: alt.Scale | None = None, color_title: str | None = None) -> alt.Chart:
    return alt.Chart(df).mark_bar().encode(
        x=alt.X(f"{x}:Q", title=x_title, axis=alt.Axis(format="~s")),
        y=alt.Y(f"{y}:N", title=y_title, sort="-x", axis=alt.Axis(labelOverlap=False, labelLimit=200)),
        color=alt.Color(f"{color}:N", scale=color_scale or alt.Undefined, title=color_title or color),
        tooltip=tooltip,
    ).properties(height=max(HEIGHT, 22 * (df[y].nunique() if len(df) else 1)))
