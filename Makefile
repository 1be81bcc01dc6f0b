# GridMap. `make demo` runs the whole thing, `make test` the tests; both start a private PostGIS
# (or use DATABASE_URL when it is set).
VENV    ?= .venv
PYTHON  ?= python3
GRIDMAP := $(VENV)/bin/gridmap
SAMPLE  := sample_shapefiles
HOST    ?= 127.0.0.1
PORT    ?= 8000

.PHONY: install db-up demo load balance maps test lint format bench clean

$(VENV)/.installed: pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(VENV)/bin/pip install -q -e ".[dev]"
	touch $@

install: $(VENV)/.installed

db-up: install
	$(GRIDMAP) db up
	$(GRIDMAP) db migrate

load: db-up
	$(GRIDMAP) load-divisions
	$(GRIDMAP) import $(SAMPLE)/communities.shp $(SAMPLE)/compounds.shp $(SAMPLE)/buildings.shp
	$(GRIDMAP) import-people
	$(GRIDMAP) summary

balance: load
	$(GRIDMAP) balance --street 150102003000 --rebalance --approve
	$(GRIDMAP) worker seed-sample

maps: balance
	$(GRIDMAP) maps --all --out out/maps
	$(GRIDMAP) signboards --community 150102003001 --out out/signboards --base-url http://$(HOST):$(PORT)

demo: maps
	@echo "GridMap on http://$(HOST):$(PORT)/  (pages: /planner /worker /overview; API docs: /docs; maps in out/maps, signboards in out/signboards)"
	$(GRIDMAP) serve --host $(HOST) --port $(PORT)

test: install
	$(GRIDMAP) db up
	$(VENV)/bin/pytest -q

lint: install
	$(VENV)/bin/ruff check .
	$(VENV)/bin/ruff format --check .

format: install
	$(VENV)/bin/ruff format .
	$(VENV)/bin/ruff check --fix .

bench: install
	$(VENV)/bin/pip install -q -e ".[dev,bench]"
	@# wrk sends the HTTP load (a Python client would take CPU from the servers measured)
	@command -v wrk >/dev/null || { [ "$$(id -u)" = 0 ] && command -v apt-get >/dev/null && \
		(apt-get install -y -qq wrk >/dev/null 2>&1 || (apt-get update -qq && apt-get install -y -qq wrk >/dev/null)); } || \
		echo "wrk not found: the HTTP benchmarks fall back to a Python client (install wrk for fair figures)"
	$(GRIDMAP) db up
	$(VENV)/bin/python bench/import.py
	$(VENV)/bin/python bench/balance.py
	$(VENV)/bin/python bench/tiles.py
	$(VENV)/bin/python bench/queries.py
	$(VENV)/bin/python bench/maps.py
	$(VENV)/bin/python bench/sync.py

clean:
	-$(GRIDMAP) db down
	rm -rf .gridmap
