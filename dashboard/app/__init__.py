"""Process wiring: the CLI and its commands, the web server, the Dash app factory, the runtime that starts the poller and the demo."""
