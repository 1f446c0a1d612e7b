"""The words on the screen, in Chinese (default) and English. Code stays in English."""

from __future__ import annotations

TEXT: dict[str, tuple[str, str]] = {
    # key: (zh, en)
    "title": ("城市运行管理中心 · 一网统管", "City Operations Centre"),
    "nav.wall": ("大屏", "Wall"),
    "nav.tickets": ("工单考核", "Tickets"),
    "nav.overdue": ("超期督办", "Overdue"),
    "nav.alarms": ("报警地图", "Alarms"),
    "nav.industry": ("亩均效益", "Per-mu"),
    "nav.health": ("数据健康", "Data health"),
    "lang.switch": ("English", "中文"),
    "kpi.received": ("今日受理", "Received today"),
    "kpi.closed": ("今日办结", "Closed today"),
    "kpi.open": ("在办工单", "Open"),
    "kpi.overdue": ("已超期", "Overdue"),
    "kpi.due_soon": ("临期(24h)", "Due within 24 h"),
    "kpi.on_time_rate": ("今日按期结案率", "On-time rate today"),
    "kpi.satisfaction_rate": ("今日满意率", "Satisfaction today"),
    "wall.map": ("各街道在办工单", "Open tickets by street"),
    "wall.trend": ("近30日受理与办结", "Received vs closed, last 30 days"),
    "wall.received": ("受理", "Received"),
    "wall.closed": ("办结", "Closed"),
    "wall.made_up": ("街道、社区、网格边界为演示用虚构形状", "Street, community and grid shapes are made up for the demo"),
    "wall.no_data": ("暂无数据", "No data yet"),
    "feed.age": ("数据", "data"),
    "feed.never": ("从未成功", "never succeeded"),
    "feed.ago": ("前", "ago"),
    "health.title": ("数据接入健康", "Feed health"),
    "health.feed": ("数据源", "Feed"),
    "health.kind": ("类型", "Kind"),
    "health.status": ("状态", "Status"),
    "health.last_success": ("上次成功", "Last success"),
    "health.age": ("数据龄", "Data age"),
    "health.duration": ("耗时", "Duration"),
    "health.last_run": ("上次 接收/接受/拒收", "Last run in/accepted/rejected"),
    "health.totals": ("累计接受/拒收", "Total accepted/rejected"),
    "health.error": ("最近错误", "Last error"),
    "health.ok": ("正常", "OK"),
    "health.failing": ("失败", "Failing"),
    "health.stale": ("滞后", "Stale"),
    "health.dead": ("中断", "Dead"),
    "health.rejects": ("最近拒收记录", "Latest rejects"),
    "health.reason": ("原因", "Reason"),
    "health.excerpt": ("原始内容节选", "Raw excerpt"),
    "health.index": ("序号", "Index"),
    "health.at": ("时间", "At"),
    "health.placement": ("工单落格", "Ticket placement"),
    "health.by_code": ("按网格编码", "By grid code"),
    "health.by_position": ("按坐标落格", "By position"),
    "health.unknown_code": ("未知网格编码(未落格)", "Unknown grid code (unplaced)"),
    "health.no_place": ("无编码无坐标(未落格)", "No code, no position (unplaced)"),
    "health.areas": ("区划数据", "Area tree"),
    "health.code_scheme": ("区划代码体系", "Division code scheme"),
    "health.next_try": ("下次重试", "Next retry"),
    "unit.s": ("秒", "s"),
    "unit.min": ("分", "min"),
    "unit.h": ("小时", "h"),
    "unit.d": ("天", "d"),
}


def t(key: str, lang: str = "zh") -> str:
    zh, en = TEXT.get(key, (key, key))
    return en if lang == "en" else zh


def age_text(seconds: float | None, lang: str = "zh") -> str:
    """A short human age: 12秒 / 3分 / 2小时 / 4天 (12 s, 3 min, …)."""
    if seconds is None:
        return t("feed.never", lang)
    s = max(0.0, seconds)
    for unit, size in (("d", 86400), ("h", 3600), ("min", 60)):
        if s >= size:
            n = int(s // size)
            return f"{n}{t('unit.' + unit, lang)}" if lang == "zh" else f"{n} {t('unit.' + unit, lang)}"
    return f"{int(s)}{t('unit.s', lang)}" if lang == "zh" else f"{int(s)} s"
