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

# the industry page (亩均效益)
IND_VERSION = "ind-version"          # dcc.Store: enterprises data version, bumps on new data
IND_PERIOD = "ind-period"
IND_STREET = "ind-street"
IND_PARK = "ind-park"
IND_GRADE = "ind-grade"
IND_INDUSTRY = "ind-industry"
IND_CRUMBS = "ind-crumbs"
IND_SUMMARY = "ind-summary"
IND_AREAS = "ind-areas"              # the child areas of the current node (drill)
IND_FORMULA = "ind-formula"
IND_NOTICE = "ind-notice"
IND_RANKING = "ind-ranking"
IND_SCATTER = "ind-scatter"
IND_SCATTER_NOTE = "ind-scatter-note"
IND_MAP = "ind-map"
IND_MAP_AREAS = "ind-map-areas"
IND_MAP_POINTS = "ind-map-points"
IND_LOW = "ind-low"
IND_LOW_COUNT = "ind-low-count"
IND_EXPORT_CSV = "ind-export-csv"
IND_EXPORT_XLSX = "ind-export-xlsx"
IND_DOWNLOAD = "ind-download"
IND_DETAIL = "ind-detail"
IND_BOARD = "ind-board"
