# The two commands of the README:
#   make run    creates .venv (with the system Python), installs the console into it when
#               pyproject.toml changed, and starts it on the embedded default (demo city)
#   make test   also installs the test tools (apt: chromium, chromium-driver, fonts-noto-cjk,
#               redis-server; pip: the test extra) and runs the whole suite
# Debian's own Python is "externally managed" (PEP 668): nothing is installed into it.
PYTHON ?= $(shell [ -x /usr/bin/python3 ] && echo /usr/bin/python3 || command -v python3)
VENV ?= .venv
PY := $(VENV)/bin/python

.PHONY: run install test test-deps bench

$(PY):
	bash scripts/ensure-venv.sh "$(PYTHON)" "$(VENV)"

# reinstalled only when pyproject.toml changes (the install is editable: code changes need none)
$(VENV)/.installed: pyproject.toml | $(PY)
	$(PY) -m pip install -q --disable-pip-version-check -e .
	touch $@

$(VENV)/.installed-test: pyproject.toml $(VENV)/.installed
	$(PY) -m pip install -q --disable-pip-version-check -e ".[test]"
	touch $@

install: $(VENV)/.installed

run: install
	$(PY) app.py

test-deps:
	bash scripts/install-test-deps.sh
	$(MAKE) --no-print-directory $(VENV)/.installed-test

test: test-deps
	$(PY) -m pytest --headless -q

bench: install
	$(PY) bench/bench_tickets.py
