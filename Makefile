# `make run` starts the dashboard and `make test` runs every test; both first create the
# virtual environment, install the pinned requirements and fetch the datasets if missing.
PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin
INSTALLED := $(VENV)/.installed
PORT ?= 8501

.PHONY: run test setup data browser postgres bench lint format clean help

help:  ## list the targets
	@grep -E '^[a-z]+:.*## ' $(MAKEFILE_LIST) | awk -F':.*## ' '{printf "  make %-8s %s\n", $$1, $$2}'

run: data  ## start the dashboard on http://localhost:$(PORT)
	$(BIN)/streamlit run dashboard/app.py --server.port $(PORT)

test: data browser postgres  ## lint, then the whole test suite (real-data and browser checks included)
	$(BIN)/ruff check .
	REQUIRE_REAL_DATA=1 REQUIRE_BROWSER=1 REQUIRE_POSTGRES=1 $(BIN)/python -m pytest

setup: $(INSTALLED)  ## create .venv and install the pinned requirements

$(INSTALLED): requirements.txt requirements-dev.txt
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --disable-pip-version-check -r requirements-dev.txt
	touch $@

data: setup  ## fetch and verify MNIST and Fashion-MNIST (nothing to do when present)
	$(BIN)/python -m core data fetch --dataset mnist
	$(BIN)/python -m core data fetch --dataset fashion-mnist

browser:  ## Debian's Chromium for the browser test (Playwright can't download its own here)
	@command -v chromium >/dev/null || { \
		if [ "$$(id -u)" = 0 ]; then apt-get update -q && DEBIAN_FRONTEND=noninteractive apt-get install -y -q chromium; \
		else echo "install Debian's chromium (sudo apt-get install chromium) for the browser test"; exit 1; fi; }

postgres:  ## Debian's PostgreSQL for the sweep-storage tests (they start a server of their own, on a socket)
	@ls /usr/lib/postgresql/*/bin/initdb >/dev/null 2>&1 || command -v initdb >/dev/null || { \
		if [ "$$(id -u)" = 0 ]; then apt-get update -q && DEBIAN_FRONTEND=noninteractive apt-get install -y -q postgresql; \
		else echo "install Debian's postgresql (sudo apt-get install postgresql) for the sweep-storage tests"; exit 1; fi; }

bench: data browser  ## the benchmark (about 25 min, on an idle machine) into results/bench.{json,md}
	$(BIN)/python -m bench

lint: setup  ## ruff
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .

format: setup  ## apply ruff's fixes and formatting
	$(BIN)/ruff check --fix .
	$(BIN)/ruff format .

clean:  ## remove the virtual environment (the datasets stay in data/)
	rm -rf $(VENV) .pytest_cache .ruff_cache
