"""Windows cut in local time, daily ticket counts, and the formula texts of the rates."""

from __future__ import annotations

from datetime import date, timedelta

import numpy as np
import pandas as pd

_EPOCH = date(1970, 1, 1)
WINDOW_PRESETS: tuple[str, ...] = ("today", "this_week", "this_month", "last_30_days")

RATE_FORMULAS: dict[str, dict[str, str]] = {
    "received": {"zh": "受理量：创建时间在时段内的工单（含已撤销）",
                 "en": "received: tickets created in the window (cancelled included)"},
    "closed": {"zh": "结案量：结案时间在时段内的工单",
               "en": "closed: tickets closed in the window"},
    "due": {"zh": "应结案量：办理时限在时段内且已到期、未撤销的工单",
            "en": "due: tickets whose deadline fell in the window and has passed, not cancelled"},
    "on_time": {"zh": "按期结案量：应结案中结案时间 ≤ 办理时限",
                "en": "on time: due tickets closed at or before their deadline"},
    "open": {"zh": "在办量：此刻未结案、未撤销的工单",
             "en": "open: tickets not closed and not cancelled now"},
    "overdue": {"zh": "超期：在办且办理时限早于此刻",
                "en": "overdue: open and past the deadline"},
    "due_soon": {"zh": "临期：在办且办理时限在此刻起预警时长内",
                 "en": "due soon: open, deadline within the warning window from now"},
    "volume": {"zh": "样本量：时段内受理或应结案的工单（排名的最低样本量按此计）",
               "en": "sample: tickets received or due in the window (the ranking's minimum counts these)"},
    "rated": {"zh": "参评量：时段内结案且有评价的工单",
              "en": "rated: tickets closed in the window with a rating"},
    "response_rate": {"zh": "响应率 = 按时响应数 ÷ 响应已定数（已响应或响应时限已到）",
                      "en": "response rate = responded by the response limit ÷ received with response settled"},
    "closure_rate": {"zh": "结案率 = 应结案中已结案数 ÷ 应结案数",
                     "en": "closure rate = due tickets closed by now ÷ due tickets"},
    "on_time_rate": {"zh": "按期结案率 = 按期结案数 ÷ 应结案数",
                     "en": "on-time rate = due tickets closed by their deadline ÷ due tickets"},
    "resolution_rate": {"zh": "解决率 = 回访已解决数 ÷ 回访有结论的结案数",
                        "en": "resolution rate = resolved 'yes' ÷ closed with a yes/no verdict"},
    "satisfaction_rate": {"zh": "满意率 = (满意数 + 基本满意系数 × 基本满意数) ÷ 参评数",
                          "en": "satisfaction = (satisfied + w_basic × basic) ÷ rated"},
    "satisfaction_rate_adjusted": {
        "zh": "核减后满意率：同上，剔除核定为不合理诉求的评价（分子分母同剔）",
        "en": "adjusted satisfaction: the same, leaving out ratings audited as unreasonable"},
    "return_rate": {"zh": "退单率 = 退回过（退单/核查不通过）的结案数 ÷ 结案数",
                    "en": "return rate = closed tickets sent back at least once ÷ closed"},
    "repeat_rate": {"zh": "重复诉求率 = 重复诉求数 ÷ 受理量",
                    "en": "repeat rate = received tickets repeating an earlier one ÷ received"},
    "mean_handling_hours": {"zh": "平均处置时长 = 结案时间 − 派遣时间 的均值（小时）",
                            "en": "mean handling time = mean of closed − dispatched (hours)"},
    "p90_handling_hours": {"zh": "处置时长90分位（小时，线性插值）",
                           "en": "90th percentile of closed − dispatched (hours, linear)"},
    "score": {"zh": "综合得分 = 100 × Σ 权重×比率 ÷ Σ 权重（仅计非空比率）",
              "en": "score = 100 × Σ weight·rate ÷ Σ weight over the rates that are not null"},
}


def _midnight(d: date, tz: str) -> pd.Timestamp:
    """The instant of local midnight starting date d (a DST gap shifts it forward)."""
    return pd.Timestamp(d).tz_localize(tz, nonexistent="shift_forward", ambiguous=False)


def _local_date(now, tz: str) -> tuple[pd.Timestamp, date]:
    ts = pd.Timestamp(now)
    if ts.tzinfo is None:
        raise ValueError(f"now: expected a timezone-aware instant, got {now!r}")
    return ts, ts.tz_convert(tz).date()


def local_day(now, tz: str = "Asia/Shanghai") -> tuple[pd.Timestamp, pd.Timestamp]:
    """[start, end) of the local day of `now`: its midnight and the next one."""
    today = _local_date(now, tz)[1]
    return _midnight(today, tz), _midnight(today + timedelta(days=1), tz)


def window(preset: str, now, tz: str = "Asia/Shanghai") -> tuple[pd.Timestamp, pd.Timestamp]:
    """(start, end) of a preset window ending at `now`, days cut in local time.

    today: from local midnight; this_week: from Monday's local midnight; this_month: from
    the 1st; last_30_days: today and the 29 local days before it.
    """
    ts, today = _local_date(now, tz)
    if preset == "today":
        first = today
    elif preset == "this_week":
        first = today - timedelta(days=today.weekday())
    elif preset == "this_month":
        first = today.replace(day=1)
    elif preset == "last_30_days":
        first = today - timedelta(days=29)
    else:
        raise ValueError(f"preset: expected one of {', '.join(WINDOW_PRESETS)}, got {preset!r}")
    return _midnight(first, tz), ts


def daily_counts(df: pd.DataFrame, tz: str, start, end) -> pd.DataFrame:
    """Tickets received and closed per local day over [start, end).

    Columns: date (local calendar date), received, closed — one row per local day the
    window touches, zeros included. "closed" counts status closed, as closed(W) does.
    """
    t0, t1 = pd.Timestamp(start), pd.Timestamp(end)
    if t0.tzinfo is None or t1.tzinfo is None:
        raise ValueError("start: expected timezone-aware instants for start and end")
    first = t0.tz_convert(tz).date()
    last = (t1 - pd.Timedelta(1, "ns")).tz_convert(tz).date() if t1 > t0 else first - timedelta(days=1)
    days = pd.date_range(first, last, freq="D").date if last >= first else np.array([], dtype=object)
    out = pd.DataFrame({"date": list(days)})
    created, closed_at = df["created_at"], df["closed_at"]
    is_closed = (df["status"] == "closed").to_numpy(dtype=bool, na_value=False)
    # withdrawn upstream: in no population (METRICS.md)
    kept = ~df["withdrawn"].to_numpy(dtype=bool, na_value=False) if "withdrawn" in df else None
    for name, times, extra in (("received", created, None), ("closed", closed_at, is_closed)):
        ok = (times >= t0) & (times < t1)
        ok = ok.to_numpy(dtype=bool, na_value=False)
        if extra is not None:
            ok = ok & extra
        if kept is not None:
            ok = ok & kept
        local = times[ok].dt.tz_convert(tz).dt.tz_localize(None).to_numpy("datetime64[ns]")
        offset = local.astype("datetime64[D]").astype(np.int64) - (first - _EPOCH).days
        out[name] = np.bincount(offset, minlength=len(out))[:len(out)].astype(np.int64)
    return out
