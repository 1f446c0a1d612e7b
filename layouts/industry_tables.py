"""/industry: the pieces filled by the callbacks — summary tiles, breadcrumb, area table,
grid columns and rows, the scatter."""

from __future__ import annotations

import math
from typing import Callable

import numpy as np
import pandas as pd
import plotly.graph_objects as go
from dash import dcc, html

from dashboard.queries.industry_views import Filters, format_search
from layouts.i18n import t
from layouts.industry import GRADE_COLOURS, missing_text, num, reason_text
from metrics.industry_rules import GRADES

NUM = {"function": "indNum(params.value, 1)"}
NUM2 = {"function": "indNum(params.value, 2)"}
LOG_TICKS = [0.01, 0.03, 0.1, 0.3, 1, 3, 10, 30, 100, 300, 1000, 3000]
PCT = {"function": "indPct(params.value)"}


def href(node: str | None = None, period: str | None = None, ent: str | None = None,
         filters: Filters = Filters()) -> str:
    """A link to the board (or an enterprise) keeping the ranking filters."""
    return "/industry" + format_search(node, period, ent, filters)


# -- grid columns ---------------------------------------------------------------------------
def _col(key: str, lang: str, **kw) -> dict:
    return {"field": key, "headerName": t(f"industry.col.{key}", lang), **kw}


def _ind(field: str, lang: str, fmt=NUM, **kw) -> dict:
    name = t(f"industry.ind.{field}", lang)
    return {"field": field, "headerName": name, "headerTooltip": f"{name} = {t('industry.f.' + field, lang)} "
            f"({t('industry.unit.' + field, lang)})", "valueFormatter": fmt, "type": "rightAligned",
            "filter": "agNumberColumnFilter", "width": 130, **kw}


def ranking_columns(lang: str) -> list[dict]:
    return [
        _col("rank", lang, width=96, pinned="left", type="rightAligned",
             headerTooltip="全市名次(基准与名次按全市参评企业)" if lang != "en" else "city-wide rank"),
        _col("grade", lang, width=96, pinned="left", cellRenderer="GradeBadge"),
        _col("name", lang, minWidth=230, flex=2, pinned="left", tooltipField="credit_code",
             cellClass="ind-link", filter="agTextColumnFilter"),
        _col("score", lang, width=90, valueFormatter=NUM, type="rightAligned"),
        _ind("tax_per_mu", lang, fmt=NUM2),     # 2 digits: a small refund reads -0.02, not -0.0
        _ind("sales_per_mu", lang, width=140),
        _ind("value_added_per_energy", lang, width=150),
        _ind("rd_intensity", lang, fmt=PCT, width=110),
        _ind("labour_productivity", lang, width=140),
        _col("land_mu", lang, width=110, valueFormatter=NUM, type="rightAligned"),
        _col("what_if", lang, width=150, valueFormatter=NUM2, type="rightAligned",
             headerTooltip=t("industry.detail.what_if", lang)),
        _col("street", lang, field="street_name", width=150),
        _col("park", lang, width=130),
        _col("industry", lang, width=120),
        _col("reason", lang, minWidth=160, flex=1, tooltipField="reason"),
    ]


def low_columns(lang: str) -> list[dict]:
    return [
        _col("name", lang, minWidth=230, flex=2, cellClass="ind-link", tooltipField="credit_code"),
        _col("credit_code", lang, width=190, cellClass="mono"),
        _col("grade", lang, width=84, cellRenderer="GradeBadge"),
        _ind("tax_per_mu", lang, fmt=NUM2),
        _col("land_mu", lang, width=110, valueFormatter=NUM, type="rightAligned"),
        _col("low_reason", lang, minWidth=200, flex=1),
        _col("street", lang, field="street_name", width=150),
        _col("park", lang, width=130),
        _col("industry", lang, width=120),
    ]


def _clean(v):
    if v is None or v is pd.NA:
        return None
    if isinstance(v, (float, np.floating)):
        return None if math.isnan(v) else float(v)
    if isinstance(v, (np.integer,)):
        return int(v)
    if isinstance(v, np.bool_):
        return bool(v)
    return v


def grid_rows(df: pd.DataFrame, lang: str, threshold: float) -> list[dict]:
    """Rows for the grids: numbers stay numbers (null where missing), words translated."""
    keep = ["credit_code", "name", "grade", "rank", "score", "land_mu", "street_name", "park", "industry",
            "tax_per_mu", "sales_per_mu", "value_added_per_energy", "rd_intensity", "labour_productivity"]
    out = []
    for r in df.to_dict("records"):
        row = {k: _clean(r.get(k)) for k in keep}
        row["what_if"] = _clean(r.get("what_if_tax_per_mu"))
        notes = [reason_text(r.get("not_graded_reason"), lang, threshold)]
        if r.get("missing"):
            notes.append(f"{t('industry.col.missing', lang)}: {missing_text(r.get('missing'), lang)}")
        row["reason"] = "; ".join(n for n in notes if n)
        if not r.get("graded"):
            row["grade"] = None
        if "low_reason" in r:
            row["low_reason"] = t(f"industry.low.{r['low_reason']}", lang)
        out.append(row)
    return out


# -- summary, breadcrumb, areas ---------------------------------------------------------------
def _tile(value, label: str, cls: str = "", title: str = "", sub=None) -> html.Div:
    return html.Div(className=f"ind-tile {cls}", title=title, children=[
        html.Div(value, className="ind-tile-value"), html.Div(label, className="ind-tile-label"),
        html.Div(sub or "", className="ind-tile-sub")])


def summary_tiles(s: dict, lang: str) -> list:
    graded = s["graded"] or 0
    tiles = [_tile(f"{graded:,}", t("industry.graded", lang),
                   sub=f"{t('industry.enterprises', lang)} {s['enterprises']:,} · "
                       f"{t('industry.not_graded', lang)} {s['enterprises'] - graded:,}")]
    for g in GRADES:
        n = s["by_grade"].get(g, 0)
        share = f"{100 * n / graded:.0f}%" if graded else "—"
        tiles.append(_tile(f"{n:,}", t("industry.grade_n", lang).format(g=g), f"ind-tile-grade grade-{g}", sub=share))
    tiles.append(_tile(num(s["land_mu_all"], 0), t("industry.land", lang),
                       sub=f"{t('industry.land_graded', lang)} {num(s['land_mu_graded'], 0)}"))
    now, prev = s.get("tax_per_mu"), s.get("previous_tax_per_mu")
    if prev is None or now is None:
        sub = html.Span(t("industry.no_prev", lang), className="muted")
    else:
        d = now - prev
        pct = f" ({100 * d / prev:+.1f}%)" if prev else ""
        sub = html.Span(f"{'▲' if d >= 0 else '▼'} {d:+.2f}{pct} " + t("industry.vs_prev", lang).format(
            p=s["previous_period"]), className="up" if d >= 0 else "down")
    tiles.append(_tile(num(now, 2), t("industry.tax_per_mu_total", lang), "ind-tile-tax",
                       title="Σ税收 / Σ用地面积(参评企业)" if lang != "en" else "Σ tax / Σ land of graded enterprises",
                       sub=sub))
    return tiles


def notice(s: dict, lang: str, threshold: float) -> list:
    parts = []
    if s["not_graded"]:
        parts.append(t("industry.not_graded_note", lang) + ", ".join(
            f"{reason_text(k, lang, threshold)} {v}" for k, v in s["not_graded"].items()))
    if s.get("missing"):
        parts.append(t("industry.missing_note", lang) + ", ".join(
            f"{t('industry.ind.' + k, lang)} {v}" for k, v in s["missing"].items()))
    if s.get("unplaced"):
        parts.append(t("industry.unplaced", lang).format(n=s["unplaced"]))
    return [html.Span(p) for p in parts]


FILTER_LABELS = {"street": "industry.street", "park": "industry.park", "grade": "industry.grade",
                 "industry": "industry.industry"}


def ignored_filters(ignored: dict[str, str], lang: str) -> list:
    """The notice for filter values in the URL that the board ignored ({key: value})."""
    if not ignored:
        return []
    return [html.Span(t("industry.ignored_filters", lang) + ", ".join(
        f"{t(FILTER_LABELS[k], lang)} {v}" for k, v in ignored.items()), className="ind-ignored")]


def crumbs(path: list, link: Callable[[str | None], str], lang: str) -> list:
    """The breadcrumb; `link(code)` is the href of an area (None: the city)."""
    out = []
    for i, node in enumerate(path):
        name = t("industry.city", lang) + f"({node.name})" if i == 0 and lang == "en" else node.name
        if i:
            out.append(html.Span("›", className="sep"))
        cls = "crumb current" if i == len(path) - 1 else "crumb"
        out.append(dcc.Link(name, href=link(node.code if i else None), className=cls))
    return out


def area_table(rows: list[dict], link: Callable[[str], str], lang: str, drillable: bool) -> html.Table | html.Div:
    """The child areas; `link(code)` is the href that drills into one."""
    if not rows:
        return html.Div("—", className="muted")
    head = html.Tr([html.Th(t("industry.col.street" if not drillable else "industry.areas", lang))]
                   + [html.Th(t("industry.grade_n", lang).format(g=g), className=f"num grade-{g}") for g in GRADES]
                   + [html.Th(t("industry.enterprises", lang), className="num"),
                      html.Th(t("industry.col.land_mu", lang), className="num"),
                      html.Th(t("industry.tax_per_mu_total", lang), className="num")])
    body = []
    for r in rows:
        name = dcc.Link(r["name"], href=link(r["code"])) if drillable else r["name"]
        body.append(html.Tr([html.Td(name)] + [html.Td(r[g], className="num") for g in GRADES]
                            + [html.Td(r["enterprises"], className="num"), html.Td(num(r["land_mu"], 0), className="num"),
                               html.Td(num(r["tax_per_mu"], 2), className="num")]))
    return html.Table([html.Thead(head), html.Tbody(body)], className="ind-areas")


# -- the scatter ------------------------------------------------------------------------------
def scatter(df: pd.DataFrame, lang: str) -> tuple[go.Figure, int]:
    """Tax per mu (y) against value added per tce (x), log axes, marker area ∝ land; one
    trace per grade. Returns the figure and how many rows could not be drawn."""
    fig = go.Figure()
    ok = (df["tax_per_mu"] > 0) & (df["value_added_per_energy"] > 0)
    shown = df[ok]
    max_land = float(shown["land_mu"].max()) if len(shown) else 1.0
    for g in list(GRADES) + [None]:
        part = shown[shown["grade"] == g] if g else shown[~shown["graded"]]
        if part.empty:
            continue
        label = t("industry.grade_n", lang).format(g=g) if g else t("industry.not_graded", lang)
        fig.add_scatter(
            x=part["value_added_per_energy"].round(3).tolist(), y=part["tax_per_mu"].round(3).tolist(),
            mode="markers", name=label, customdata=part["credit_code"].tolist(), text=part["name"].tolist(),
            marker={"color": GRADE_COLOURS[g], "size": part["land_mu"].tolist(), "sizemode": "area",
                    "sizeref": 2.0 * max_land / 40 ** 2, "sizemin": 4, "opacity": 0.75,
                    "line": {"width": 0.5, "color": "#0b1220"}},
            hovertemplate="%{text}<br>" + t("industry.ind.tax_per_mu", lang) + " %{y:.2f}<br>"
                          + t("industry.ind.value_added_per_energy", lang) + " %{x:.2f}<extra></extra>")
    fig.update_layout(template="plotly_dark", paper_bgcolor="rgba(0,0,0,0)", plot_bgcolor="rgba(0,0,0,0)",
                      margin={"l": 70, "r": 10, "t": 10, "b": 56}, font={"size": 15},
                      legend={"orientation": "h", "y": 1.08, "x": 0},
                      xaxis={"type": "log", "gridcolor": "#1d2a44", "tickvals": LOG_TICKS,
                             "title": f"{t('industry.ind.value_added_per_energy', lang)} "
                                      f"({t('industry.unit.value_added_per_energy', lang)})"},
                      yaxis={"type": "log", "gridcolor": "#1d2a44", "tickvals": LOG_TICKS,
                             "title": f"{t('industry.ind.tax_per_mu', lang)} ({t('industry.unit.tax_per_mu', lang)})"})
    return fig, int((~ok).sum())


def empty_figure() -> go.Figure:
    fig = go.Figure()
    fig.update_layout(template="plotly_dark", paper_bgcolor="rgba(0,0,0,0)", plot_bgcolor="rgba(0,0,0,0)")
    return fig


def points_geojson(df: pd.DataFrame) -> dict:
    """Placed enterprises as GeoJSON points with what the map's JS needs."""
    d = df[df["placed"]]
    feats = [{"type": "Feature", "geometry": {"type": "Point", "coordinates": [round(lon, 6), round(lat, 6)]},
              "properties": {"code": c, "name": n, "grade": g if isinstance(g, str) else None,
                             "tax": None if pd.isna(tx) else round(float(tx), 2)}}
             for c, n, g, tx, lat, lon in zip(d["credit_code"], d["name"], d["grade"], d["tax_per_mu"],
                                              d["lat"], d["lon"])]
    return {"type": "FeatureCollection", "features": feats}
