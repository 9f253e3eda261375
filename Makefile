# Two commands on a fresh machine: `make demo` and `make test`. Both build .venv themselves.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed

.PHONY: demo test docs lint format bench chaos lock clean browser
# root installs system packages itself; anyone else through sudo
SUDO := $(shell [ "$$(id -u)" = 0 ] || echo sudo)

$(STAMP): pyproject.toml constraints.txt
	# the engine tests start a PostgreSQL server (Debian's) and Spark (needs Java 17+)
	ls /usr/lib/postgresql/*/bin/initdb >/dev/null 2>&1 || { $(SUDO) apt-get update -qq && \
		DEBIAN_FRONTEND=noninteractive $(SUDO) apt-get install -y -qq postgresql; }
	command -v java >/dev/null || { $(SUDO) apt-get update -qq && \
		DEBIAN_FRONTEND=noninteractive $(SUDO) apt-get install -y -qq openjdk-17-jre-headless; }
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -c constraints.txt -e ".[dev]"
	# the DuckDB 1.1 engine BI drivers embed: tests prove the published file opens in it
	$(BIN)/python -m pip install --quiet --no-deps --target $(VENV)/duckdb-1.1 duckdb==1.1.3
	touch $(STAMP)

demo: $(STAMP) ## sync the embedded emulator into DuckDB, build the views, print a summary
	$(BIN)/labsync demo

# the report tests' headless browser: Debian's chromium, driven by playwright (which downloads none)
browser:
	command -v chromium >/dev/null || { $(SUDO) apt-get update -q && \
		DEBIAN_FRONTEND=noninteractive $(SUDO) apt-get install -y -q --no-install-recommends chromium; }

test: $(STAMP) browser ## lint and run every test (offline, real loopback HTTP, headless chromium)
	$(BIN)/ruff check pipelines emulator tests bench
	$(BIN)/ruff format --check pipelines emulator tests bench
	$(BIN)/python -m pytest -q -n 2 --dist loadgroup
	NO_MKDOCS_2_WARNING=1 $(BIN)/mkdocs build --strict --site-dir $(VENV)/site

docs: $(STAMP) ## the manual in docs/, strictly (broken links fail), into .venv/site
	NO_MKDOCS_2_WARNING=1 $(BIN)/mkdocs build --strict --site-dir $(VENV)/site

lint: $(STAMP)
	$(BIN)/ruff check pipelines emulator tests bench

format: $(STAMP)
	$(BIN)/ruff format pipelines emulator tests bench
	$(BIN)/ruff check --fix pipelines emulator tests bench

bench: $(STAMP) ## 100k-run benchmark: full sync vs fetch floor, incremental after 1% changes
	# the emulator at 1M runs (generation, memory, page cost) and the scale tests marked slow
	$(BIN)/python -m bench.emulator_bench --runs 1000000
	$(BIN)/python -m pytest -q -m slow
	$(BIN)/python -m bench.sync_bench --runs 100000
	# what facets and artifact listings add (a full sync with and without them, then incremental)
	$(BIN)/python -m bench.facets_bench --runs 100000
	# the analytics marts and audits on a synthetic 1,000,000-run warehouse (no API involved)
	$(BIN)/python -m bench.models_bench --runs 1000000
	# `labsync report` over a 1,000,000-run warehouse: build time and peak memory (target 30 s)
	$(BIN)/python -m bench.report_bench --runs 1000000
	# constant cost (issue 13): full, no-change and 1%-changed syncs at 30k and 1M runs
	$(BIN)/python -m bench.scale_bench --small 30000 --runs 1000000

chaos: $(STAMP) ## kill -9 syncs of all three sources at 30+ points; prints converged/total
	$(BIN)/python -m bench.chaos --runs 600

lock: $(STAMP) ## re-pin constraints.txt to what the fresh resolver picks today
	rm -rf $(VENV)-lock && $(PYTHON) -m venv $(VENV)-lock
	$(VENV)-lock/bin/python -m pip install --quiet -e ".[dev]"
	head -2 constraints.txt > constraints.new
	$(VENV)-lock/bin/python -m pip freeze --exclude-editable >> constraints.new
	mv constraints.new constraints.txt && rm -rf $(VENV)-lock

clean:
	rm -rf $(VENV) warehouse .pytest_cache .ruff_cache
