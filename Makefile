# The two commands of the README: `make demo` and `make test`. Both set themselves up.
PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin
UV_VERSION := 0.13.9
STAMP := $(VENV)/.installed
# The pure cores and services, checked with mypy --strict (see [tool.mypy] in pyproject.toml).
TYPED := hftplatform/embedded.py hftplatform/fields.py hftplatform/errors.py hftplatform/status.py hftplatform/demo.py \
	accounts/siwe.py accounts/tokens.py accounts/services.py accounts/selectors.py \
	orderbook/matching/reference.py orderbook/matching/feed.py orderbook/matching/_engine.pyi \
	orderbook/l2/book.py orderbook/l2/captures.py orderbook/l2/binance.py orderbook/l2/coinbase.py \
	orderbook/l2/checksum.py orderbook/l2/okx.py orderbook/l2/kraken.py orderbook/l2/bybit.py orderbook/l2/consolidated.py orderbook/l2/_fastbook.pyi \
	marketdata/core/venues.py marketdata/core/intervals.py marketdata/core/candles.py marketdata/core/rest.py \
	marketdata/core/binance.py marketdata/core/bybit.py marketdata/core/coinbase.py marketdata/core/paging.py \
	marketdata/core/aggregate.py marketdata/core/decimal_text.py marketdata/core/venue_payloads.py marketdata/core/candle_rows.py \
	marketdata/core/gaps.py marketdata/core/archives.py marketdata/exchanges/limits.py \
	marketdata/exchanges/transport.py marketdata/exchanges/clients.py marketdata/services.py marketdata/selectors.py \
	marketdata/downloads.py marketdata/tracking.py marketdata/live.py marketdata/overview.py \
	fees/core/__init__.py fees/core/numbers.py fees/core/vault.py fees/simulation.py \
	orderbook/live/connectors.py orderbook/live/snapshots.py \
	marketdata/leadlag/__init__.py marketdata/leadlag/alignment.py marketdata/leadlag/estimators.py \
	marketdata/leadlag/discovery.py marketdata/leadlag/analysis.py marketdata/leadlag/markets.py \
	vaults/custody/__init__.py vaults/custody/safe_tx.py vaults/custody/calls.py vaults/custody/withdrawal_request.py \
	vaults/custody/policy.py vaults/custody/cosigner.py vaults/custody/chain.py vaults/custody/cli.py \
	vaults/custody/destination_registration.py vaults/custody/selectors.py vaults/custody/errors.py \
	vaults/custody/services/__init__.py vaults/custody/services/proposal_steps.py vaults/custody/services/proposals.py \
	vaults/custody/services/signatures.py vaults/custody/services/execution.py vaults/custody/services/destinations.py \
	vaults/custody/apps.py \
	vaults/custody/templatetags/custody_tags.py vaults/custody/management/commands/safe.py \
	vaults/custody/deposits.py vaults/errors.py vaults/fee_engine_store.py vaults/services/__init__.py vaults/services/operations.py vaults/services/creation.py vaults/services/deposits.py vaults/services/withdrawals.py vaults/services/fees.py vaults/services/positions.py vaults/services/onchain.py vaults/services/valuation.py vaults/selectors.py vaults/core/__init__.py vaults/core/statements.py fees/core/years.py chains/__init__.py chains/addresses.py chains/erc20.py chains/rpc.py \
	hftplatform/devchain.py hftplatform/demo_chain.py

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

install: $(STAMP) $(ENGINE) $(FASTBOOK)

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
	$(BIN)/mypy $(TYPED)

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
