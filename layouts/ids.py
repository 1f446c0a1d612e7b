"""Every component id, once. Layouts and callbacks import these; no id is typed twice."""

# the page frame
URL = "url"
LANG = "lang"
LANG_BUTTON = "lang-button"
PAGE = "page"
CLOCK = "clock"
TICK = "tick"                 # the refresh interval
NAV = "nav"

# the wall
WALL_FEEDS = "wall-feeds"
WALL_MAP = "wall-map"
WALL_AREAS = "wall-areas"
WALL_TREND = "wall-trend"
WALL_CATEGORIES = "wall-categories"
WALL_NOTICE = "wall-notice"


def kpi(metric: str) -> dict:
    """A wall tile's value, matched with ALL in one callback."""
    return {"type": "kpi", "metric": metric}


def kpi_tile(metric: str) -> dict:
    return {"type": "kpi-tile", "metric": metric}


# the health page
HEALTH_TABLE = "health-table"
HEALTH_FEED = "health-feed"
HEALTH_REJECTS = "health-rejects"
HEALTH_PLACEMENT = "health-placement"
HEALTH_AREAS = "health-areas"
