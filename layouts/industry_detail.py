"""/industry?ent=CODE: one enterprise — its indicators over the periods, its grade, and the
what-if (how much more tax per mu reaches each better grade)."""

from __future__ import annotations

import pandas as pd
import plotly.graph_objects as go
from dash import dcc, html

from dashboard.queries.industry_views import Filters
from layouts.i18n import t
from layouts.industry import GRADE_COLOURS, indicator_value, missing_text, num, reason_text
from layouts.industry_tables import href
from metrics.industry_rules import INDICATORS

INPUTS = ("land_mu", "tax", "sales", "value_added", "energy_tce", "employees", "rd_spend")


def _badge(grade: str | None, lang: str, big: bool = False) -> html.Span:
    cls = f"grade-badge grade-{grade or 'none'}" + (" big" if big else "")
    return html.Span(grade or t("industry.not_graded", lang), className=cls)


def what_if_lines(steps: list[tuple[str, float | None, float]], grade: str | None, cap: float, lang: str) -> list:
    """`steps`: (better grade, increase of tax per mu or None when capped, that grade's lowest score)."""
    if grade == "A":
        return [html.Li(t("industry.detail.top", lang))]
    out = []
    for g, x, floor in steps:
        if x is None:
            text = t("industry.detail.capped", lang).format(cap=f"{cap:g}", g=g)
        elif x <= 0:
            text = t("industry.detail.reach_now", lang).format(g=g)
        else:
            text = t("industry.detail.reach", lang).format(x=f"{x:,.2f}", g=g, s=f"{floor:.2f}")
        out.append(html.Li([_badge(g, lang), " ", text], className="ind-whatif-step"))
    return out


def history_table(hist: pd.DataFrame, lang: str, threshold: float) -> html.Table:
    periods = hist["period"].tolist()
    head = html.Tr([html.Th("")] + [html.Th(p, className="num") for p in periods])
    rows = [html.Tr([html.Th(t("industry.col.grade", lang))]
                    + [html.Td(_badge(g if ok else None, lang), className="num")
                       for g, ok in zip(hist["grade"], hist["graded"])])]
    rows.append(html.Tr([html.Th(t("industry.col.score", lang))] + [html.Td(num(x, 2), className="num")
                                                                       for x in hist["score"]]))
    rows.append(html.Tr([html.Th(t("industry.col.rank", lang))] + [
        html.Td("—" if pd.isna(r) else t("industry.detail.rank_of", lang).format(r=int(r), n=n), className="num")
        for r, n in zip(hist["rank"], hist["n_graded"])]))
    for ind in INDICATORS:
        name = t(f"industry.ind.{ind}", lang)
        rows.append(html.Tr([html.Th(f"{name}({t('industry.unit.' + ind, lang)})",
                                     title=f"{name} = {t('industry.f.' + ind, lang)}")] + [
            html.Td(indicator_value(ind, x), className="num" + (" missing" if pd.isna(x) else ""))
            for x in hist[ind]]))
    for col in INPUTS:
        rows.append(html.Tr([html.Th(t(f"industry.col.{col}", lang), className="input")] + [
            html.Td(num(x, 0 if col == "employees" else 2), className="num input" + (" missing" if pd.isna(x) else ""))
            for x in hist[col]]))
    notes = [reason_text(r, lang, threshold) or missing_text(m, lang)
             for r, m in zip(hist["not_graded_reason"], hist["missing"])]
    rows.append(html.Tr([html.Th(t("industry.col.reason", lang))] + [html.Td(n or "", className="note") for n in notes]))
    return html.Table([html.Thead(head), html.Tbody(rows)], className="ind-history")


def trend(hist: pd.DataFrame, lang: str) -> go.Figure:
    fig = go.Figure()
    periods = hist["period"].tolist()
    fig.add_bar(x=periods, y=[None if pd.isna(v) else float(v) for v in hist["tax_per_mu"]],
                name=f"{t('industry.ind.tax_per_mu', lang)} ({t('industry.unit.tax_per_mu', lang)})",
                marker_color=[GRADE_COLOURS.get(g if ok else None) for g, ok in zip(hist["grade"], hist["graded"])])
    fig.add_scatter(x=periods, y=[None if pd.isna(v) else float(v) for v in hist["score"]], yaxis="y2",
                    name=t("industry.detail.score", lang), mode="lines+markers", line={"color": "#e8eef9", "width": 3})
    fig.update_layout(template="plotly_dark", paper_bgcolor="rgba(0,0,0,0)", plot_bgcolor="rgba(0,0,0,0)",
                      margin={"l": 50, "r": 50, "t": 10, "b": 30}, font={"size": 14},
                      legend={"orientation": "h", "y": 1.12, "x": 0}, xaxis={"type": "category"},
                      yaxis={"gridcolor": "#1d2a44"}, yaxis2={"overlaying": "y", "side": "right", "showgrid": False})
    return fig


def detail(hist: pd.DataFrame, period: str, steps, rules, node: str | None, lang: str,
           filters: Filters = Filters()) -> html.Div:
    """The enterprise panel; `hist` from industry_views.enterprise_history, `period` the one
    whose what-if is shown. The back link returns to the board with the same filters."""
    back = dcc.Link(t("industry.detail.back", lang), href=href(node, period, filters=filters), className="ind-back")
    if hist.empty:
        return html.Div([back, html.P(t("industry.detail.unknown", lang), className="muted")])
    cur = hist[hist["period"] == period]
    row = (cur if len(cur) else hist.tail(1)).iloc[0]
    graded = bool(row["graded"])
    head = html.Div(className="ind-detail-head", children=[
        back,
        html.H2([row["name"] or row["credit_code"], " ", _badge(row["grade"] if graded else None, lang, big=True)]),
        html.Div(className="ind-detail-meta", children=[
            html.Span(row["credit_code"], className="mono"),
            html.Span(" · ".join(str(x) for x in (row.get("district_name"), row.get("street_name"), row.get("park"),
                                                  row.get("industry")) if isinstance(x, str))),
        ]),
    ])
    if graded:
        status = [html.P(f"{row['period']}: {t('industry.col.score', lang)} {num(row['score'], 2)} · "
                         + t("industry.detail.rank_of", lang).format(r=int(row["rank"]), n=int(row["n_graded"]))),
                  html.H3(t("industry.detail.what_if", lang)),
                  html.Ul(what_if_lines(steps, row["grade"], rules.cap, lang), className="ind-whatif")]
    else:
        status = [html.P(t("industry.detail.not_graded", lang).format(
            r=reason_text(row["not_graded_reason"], lang, rules.land_threshold_mu)), className="warn")]
    return html.Div(className="ind-detail-body", children=[
        head,
        html.Div(className="ind-row", children=[
            html.Section(className="panel", children=status + [
                html.H3(t("industry.detail.trend", lang)),
                dcc.Graph(figure=trend(hist, lang), config={"displayModeBar": False}, style={"height": "260px"})]),
            html.Section(className="panel", children=[html.H3(t("industry.detail.history", lang)),
                                                      history_table(hist, lang, rules.land_threshold_mu)]),
        ]),
    ])
