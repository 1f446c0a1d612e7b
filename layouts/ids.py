"""Every component id, once. Layouts and callbacks import these; no id is typed twice."""

# the page frame
URL = "url"
LANG = "lang"
LANG_BUTTON = "lang-button"
PAGE = "page"
CLOCK = "clock"
TICK = "tick"                 # the refresh interval
NAV = "nav"
TITLE = "title"               # the console's name in the header (words follow the language)
CITY_TZ = "city-tz"           # dcc.Store: the city's time zone, for the header clock
STORE_BANNER = "store-banner"   # degraded mode: the data store is unreachable
PAGE_PENDING = "page-pending"   # the path of a page that could not open while the store was away

# the wall
WALL_FEEDS = "wall-feeds"
WALL_MAP = "wall-map"
WALL_AREAS = "wall-areas"
WALL_TREND = "wall-trend"
WALL_NOTICE = "wall-notice"
WALL_LEGEND = "wall-legend"          # what the map's colours mean (units), and the alarm levels
WALL_SCALE = "wall-scale"            # dcc.Store: the screen's size unit (1 at 1920×1080, 2 at 4K)
WALL_ALARM_MARKERS = "wall-alarm-markers"   # the active alarms on the wall map (emergency mode)


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
HEALTH_UNPLACED = "health-unplaced"    # the tickets behind an unplaced count (?placement=REASON)
HEALTH_UNPLACED_GRID = "health-unplaced-grid"
HEALTH_STORE = "health-store"

# the industry page (亩均效益)
IND_URL = "ind-url"                  # the page's own dcc.Location (the frame's fires before the page exists)
IND_TICK = "ind-tick"                # the page's own refresh interval
IND_FEEDS = "ind-feeds"              # the industry feeds' data age
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


# /tickets (leaders' drill-down)
TK_ROOT = "tk-root"
TK_URL = "tk-url"                    # the page's own location: node, window, metric in ?search
TK_WINDOW = "tk-window"              # preset radio
TK_DATES = "tk-dates"                # custom window date range
TK_METRIC = "tk-metric"              # the metric colouring the map
TK_FORMULA = "tk-formula"
TK_CRUMBS = "tk-crumbs"
TK_INFO = "tk-info"                  # window and as-of line
TK_NOTICE = "tk-notice"
TK_MAP = "tk-map"
TK_AREAS = "tk-areas"
TK_LEGEND = "tk-legend"
TK_TABLE = "tk-table"
TK_TREND = "tk-trend"
TK_CATEGORIES = "tk-categories"
TK_DEPARTMENTS = "tk-departments"
TK_ASOF = "tk-asof"                  # store: the instant and window the numbers are for
TK_MEMBERS = "tk-members"            # the panel listing the tickets behind a number
TK_MEMBERS_TITLE = "tk-members-title"
TK_MEMBERS_PART = "tk-members-part"
TK_MEMBERS_GRID = "tk-members-grid"
TK_MEMBERS_NOTE = "tk-members-note"
TK_MEMBERS_CLOSE = "tk-members-close"
TK_MEMBERS_EXPORT = "tk-members-export"  # the list as CSV (a link: same query, masked, audited)
TK_MEMBERS_LINK = "tk-members-link"      # the page URL that opens this list
TK_MEMBERS_QUERY = "tk-members-query"  # store: which number is open

# /overdue (department heads' board)
OD_ROOT = "od-root"
OD_URL = "od-url"                    # the page's own location: the filters in ?state=&dept=&area=&q=
OD_DEPT = "od-dept"
OD_AREA = "od-area"
OD_STATE = "od-state"
OD_SEARCH = "od-search"
OD_GRID = "od-grid"
OD_CSV = "od-csv"
OD_XLSX = "od-xlsx"
OD_DOWNLOAD = "od-download"
OD_SUMMARY = "od-summary"
OD_NOTICE = "od-notice"
OD_KEY = "od-key"                    # store: what the rows on screen were built from


def tk_crumb(code: str) -> dict:
    """A breadcrumb link of /tickets (one per level above the current node)."""
    return {"type": "tk-crumb", "code": code}


# the alarm map (/alarms)
ALARM_MAP = "alarm-map"
ALARM_AREAS = "alarm-areas"
ALARM_MARKERS = "alarm-markers"
ALARM_TEAMS = "alarm-teams"
ALARM_F_NETWORK = "alarm-f-network"
ALARM_F_LEVEL = "alarm-f-level"
ALARM_F_STATUS = "alarm-f-status"
ALARM_F_SINCE = "alarm-f-since"       # raised within (24 h, 7 days, 30 days, all)
ALARM_URL = "alarm-url"               # the page's own location: ?alarm=ID opens the alarm's own page
ALARM_MAIN = "alarm-main"             # the map and list (hidden while an alarm's own page is open)
ALARM_PAGE = "alarm-page"             # an alarm's own page: its whole timeline
ALARM_GRID = "alarm-grid"
ALARM_SELECTED = "alarm-selected"
ALARM_DETAIL = "alarm-detail"
ALARM_ACK = "alarm-ack"
ALARM_FIXED = "alarm-fixed"
ALARM_FALSE = "alarm-false"
ALARM_MESSAGE = "alarm-message"
AUDIT_WHAT = "audit-what"
AUDIT_WHO = "audit-who"
AUDIT_GRID = "audit-grid"
AUDIT_EXPORT = "audit-export"
AUDIT_DOWNLOAD = "audit-download"
ALARM_NOTE = "alarm-note"               # the action's note (mandatory for a false alarm)
ALARM_CONFIRM = "alarm-confirm"         # the false-alarm confirmation step (hidden until asked)
ALARM_FALSE_CONFIRM = "alarm-false-confirm"
ALARM_FALSE_CANCEL = "alarm-false-cancel"
ALARM_KPIS = "alarm-kpis"
ALARM_DONE = "alarm-done"             # bumps after an action, so the list refreshes at once


def alarm_sensors(network: str) -> dict:
    """One clustered sensor layer per network (shown or hidden by the network filter)."""
    return {"type": "alarm-sensors", "network": network}


# the wall's alarm part
WALL_ALARMS = "wall-alarms"
WALL_ALARM_TICK = "wall-alarm-tick"
WALL_ALARM_SEEN = "wall-alarm-seen"
WALL_FLASH = "wall-flash"
WALL_EMERGENCY = "wall-emergency"
WALL_MODE = "wall-mode"
WALL_SOUND = "wall-sound"
WALL_ROOT = "wall-root"
WALL_SOUND_BUTTON = "wall-sound-button"
WALL_FLASH_DATA = "wall-flash-data"
WALL_SERIOUS = "wall-serious"
# fingerprints of what the browser last got of the alarm list and the alarm markers: sent
# again only when they change (every 2 s otherwise)
WALL_ALARMS_SIG = "wall-alarms-sig"
WALL_MARKERS_SIG = "wall-markers-sig"
