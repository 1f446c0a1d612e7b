"""Widgets used on more than one page."""

from __future__ import annotations

from dash import html

from layouts.i18n import age_text, grid_locale, t


def feed_state(health: dict, now_ts: float) -> str:
    """ok | loading | stale | dead | failing | incomplete | never, from a feed's health record
    (the one function every chip, tile and row takes its state from).

    loading: not polled yet, or its first poll's backfill is not done (`backfilled` False);
    never: it failed before any success; incomplete: polled fine, but its coverage says it
    cannot prove it holds everything the upstream has, or knows it does not — never "ok"."""
    last = health.get("last_success")
    if last is None:
        return "never" if health.get("last_error") else "loading"
    if health.get("backfilled") is False:
        return "loading"
    age = now_ts - last
    if age > health.get("dead_after_s", 600):
        return "dead"
    if age > health.get("stale_after_s", 120):
        return "stale"
    if health.get("ok") is False:
        return "failing"
    return "incomplete" if coverage_missing(health) is not False else "ok"


def coverage_missing(health: dict) -> int | None | bool:
    """From the feed's coverage record: False when it is proven complete (or the feed reports
    no coverage), else how many are missing (None: unknown — it cannot prove it is complete)."""
    cov = health.get("coverage")
    if not isinstance(cov, dict) or cov.get("complete") is not False:
        return False
    missing = cov.get("missing")
    return int(missing) if isinstance(missing, (int, float)) and missing > 0 else None


def coverage_text(health: dict, lang: str) -> str:
    """不完整: 缺 20 条 / incomplete: 20 missing; 不完整: 无法证明完整 when the count is unknown."""
    missing = coverage_missing(health)
    if missing is False:
        return ""
    if missing is None:
        return t("feed.unproven", lang)
    return t("feed.incomplete", lang).format(n=f"{missing:,}")


def feed_chips(health: dict[str, dict], now_ts: float, lang: str) -> list:
    """One chip per feed: its name and data age, coloured by state."""
    chips = []
    for name, h in sorted(health.items()):
        last = h.get("last_success")
        age = None if last is None else now_ts - last
        state = feed_state(h, now_ts)
        if state == "loading":
            label = f"{name} · {loading_text(h.get('records_total') or 0, lang)}"
            chips.append(html.Span(label, className="chip chip-loading", title=h.get("last_error") or ""))
            continue
        label = f"{name} · {t('feed.age', lang)} {age_text(age, lang)}"
        if age is not None and lang == "en":
            label += " " + t("feed.ago", lang)
        elif age is not None:
            label += t("feed.ago", lang)
        if state == "incomplete":       # what is missing first: the age goes to the tooltip
            label, title = f"{name} · {coverage_text(h, lang)}", label
        else:
            title = h.get("last_error") or ""
        chips.append(html.Span(label, className=f"chip chip-{state}", title=title))
    return chips


def loading_text(n: int, lang: str) -> str:
    """载入中 · 已接收 1,234 条 (loading · 1,234 received)."""
    return t("feed.loading", lang).format(n=f"{int(n):,}")


def fmt_rate(x) -> str:
    return "—" if x is None else f"{100 * x:.1f}%"


def fmt_count(x) -> str:
    return "—" if x is None else f"{int(x):,}"


# dash-ag-grid (Theming API) in the console's dark colours, for every page's grids
GRID_THEME = {"function": "themeQuartz.withParams({browserColorScheme: 'dark', backgroundColor: '#0d1628', "
                          "foregroundColor: '#e8eef9', headerBackgroundColor: '#12203a', "
                          "oddRowBackgroundColor: '#0f1a30', borderColor: '#1c2b4a', accentColor: '#3ba7ff', "
                          "fontSize: 15, headerFontSize: 15, "
                          "fontFamily: 'Noto Sans CJK SC, Noto Sans SC, PingFang SC, Microsoft YaHei, sans-serif'})"}


def grid_options(lang: str = "zh", **extra) -> dict:
    """dashGridOptions shared by the pages' grids: the dark theme, tooltips, no animation, and
    the grid's own words in the page's language."""
    return {"theme": GRID_THEME, "tooltipShowDelay": 300, "animateRows": False,
            "localeText": grid_locale(lang), **extra}
