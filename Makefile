# The two commands of the README: `make demo` and `make test`. Both set themselves up.
PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin
UV_VERSION := 0.13.9
STAMP := $(VENV)/.installed
.PHONY: install demo test test-fast lint format bench lock clean-data

# The virtual environment, from the lock file (hash-checked); remade when the lock changes.
$(STAMP): requirements-dev.lock
	@$(PYTHON) -c 'import sys; sys.exit("Python 3.11+ is required, found " + sys.version.split()[0]) if sys.version_info < (3, 11) else None'
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --disable-pip-version-check uv==$(UV_VERSION)
	$(BIN)/uv pip install --quiet --python $(BIN)/python --require-hashes -r requirements-dev.lock
	touch $(STAMP)

# The compiled matching engine, rebuilt when its source changes (the venv's Python is $(PYTHON)'s version).
ENGINE := orderbook/matching/_engine$(shell $(PYTHON) -c 'import sysconfig; print(sysconfig.get_config_var("EXT_SUFFIX"))')
$(ENGINE): $(STAMP) orderbook/matching/_engine.pyx setup.py
	$(BIN)/python setup.py -q build_ext --inplace
	rm -rf build
	touch $(ENGINE)

# The compiled exact tick book (orderbook.l2._fastbook), built the same way.
FASTBOOK := orderbook/l2/_fastbook$(shell $(PYTHON) -c 'import sysconfig; print(sysconfig.get_config_var("EXT_SUFFIX"))')
$(FASTBOOK): $(STAMP) orderbook/l2/_fastbook.pyx setup.py
	$(BIN)/python setup.py -q build_ext --inplace
	rm -rf build
	touch $(FASTBOOK)

# Our own contracts (contracts/*.vy), compiled by the pinned Vyper from the lock file into contracts/build/.
CONTRACTS := $(patsubst contracts/%.vy,contracts/build/%.json,$(wildcard contracts/*.vy))
contracts/build/%.json: contracts/%.vy $(STAMP)
	$(BIN)/python -m chains.contracts

install: $(STAMP) $(ENGINE) $(FASTBOOK) $(CONTRACTS)

demo: install
	$(BIN)/python manage.py demo

test: install
	$(BIN)/python -m pytest

test-fast: install
	$(BIN)/python -m pytest -m "not browser and not worker"

lint: install
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/python manage.py makemigrations --check --dry-run
	$(BIN)/mypy  # strict, on the files [tool.mypy] in pyproject.toml lists

format: install
	$(BIN)/ruff format .
	$(BIN)/ruff check --fix .

bench: install
	$(BIN)/python -m bench

# Re-pin the dependencies after editing pyproject.toml.
lock: install
	$(BIN)/uv pip compile --quiet pyproject.toml -o requirements.lock --generate-hashes --no-emit-index-url --no-emit-find-links --universal --python-version 3.11
	$(BIN)/uv pip compile --quiet pyproject.toml --extra dev -o requirements-dev.lock --generate-hashes --no-emit-index-url --no-emit-find-links --universal --python-version 3.11

# Stop the embedded servers and delete their data (the demo users and everything else).
clean-data:
	-$(BIN)/python -c 'from hftplatform.embedded import EmbeddedServices, default_data_dir; EmbeddedServices(default_data_dir()).stop()'
	rm -rf .data
