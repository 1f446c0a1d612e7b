# The two commands of the README:
#   make run    installs the console (pip) and starts it on the embedded default (demo city)
#   make test   installs the test tools (apt: chromium, chromium-driver, fonts-noto-cjk,
#               redis-server; pip: the test extra) and runs the whole suite
PYTHON ?= python3

.PHONY: run install test test-deps bench

install:
	$(PYTHON) -m pip install -q -e .

run: install
	$(PYTHON) app.py

test-deps:
	bash scripts/install-test-deps.sh
	$(PYTHON) -m pip install -q -e ".[test]"

test: test-deps
	$(PYTHON) -m pytest --headless -q

bench: install
	$(PYTHON) bench/bench_tickets.py
