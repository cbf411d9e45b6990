# Cloud Platform — a thin wrapper over cloudctl. `make up` runs the platform, `make test` tests it.
SHELL := /bin/bash
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
PIP := $(BIN)/pip install --disable-pip-version-check -q -c requirements/constraints.txt
PACKAGES := libs/contracts libs/shared libs/hetzner $(wildcard services/*) tools/cloudctl tools/hetzner-sim
PROTOS := $(shell find proto -name '*.proto')
STAMP := $(VENV)/.installed

.PHONY: help install contracts proto-baseline test-calendar bench bench-events bench-gateway bench-audit bench-compute bench-billing bench-network bench-storage up down status topics migrate lint test test-unit test-integration test-e2e clean

help:
	@echo "make up      install what is missing, start MariaDB, Kafka and every service"
	@echo "make down    stop everything make up started"
	@echo "make status  each process: pid, port, health, memory"
	@echo "make test    lint, contract checks, unit, integration and end-to-end tests"
	@echo "make test-calendar  the calendar-sensitive suites with the clock faked at month end, year end, a leap day, a DST change"
	@echo "make bench   benchmarks (make bench-events: relay, consumer, replay; make bench-gateway: HTTP; make bench-audit: the audit log; make bench-compute: servers; make bench-billing: usage ingestion, invoice run; make bench-network: floating IPs; make bench-storage: volumes)"

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --disable-pip-version-check -q --upgrade pip

TOOLS := $(VENV)/.tools

$(TOOLS): $(BIN)/python requirements/constraints.txt requirements/dev.txt
	$(PIP) -r requirements/dev.txt
	@touch $@

# Generated contracts: built from proto/, never committed.
libs/contracts/gen/.stamp: $(PROTOS) libs/contracts/generate.py $(TOOLS)
	$(BIN)/python libs/contracts/generate.py
	@touch $@

contracts: libs/contracts/gen/.stamp

$(STAMP): $(TOOLS) libs/contracts/gen/.stamp $(foreach p,$(PACKAGES),$(p)/pyproject.toml)
	$(PIP) --no-build-isolation $(foreach p,$(PACKAGES),-e $(p))
	@touch $@

install: $(STAMP)

up: install
	$(BIN)/cloudctl up

down:
	@if [ -x $(BIN)/cloudctl ]; then $(BIN)/cloudctl down; else echo "nothing to stop: not installed"; fi

status: install
	$(BIN)/cloudctl status

topics: install
	$(BIN)/cloudctl topics --ensure

migrate: install
	$(BIN)/cloudctl migrate

lint: install
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/mypy libs/shared/src libs/hetzner/src tools/cloudctl/src tools/hetzner-sim/src services/*/src tests bench
	$(BIN)/lint-imports --no-cache
	$(BIN)/buf lint
	$(BIN)/buf breaking --against proto/baseline.binpb

test-unit: install
	$(BIN)/pytest tests/unit

test-integration: install
	$(BIN)/cloudctl up --infra-only
	$(BIN)/pytest -m integration tests/integration

test-e2e: install
	$(BIN)/pytest -m e2e tests/e2e

test: lint test-unit test-integration test-e2e

# The calendar-sensitive suites (unit, billing, audit, identity) under libfaketime at the
# awkward instants (a month's and a year's last 30 s, a leap day, the day summer time ends in
# Europe/Berlin): proof that no test depends on the machine's calendar. ~5 min per instant.
test-calendar: install
	$(BIN)/cloudctl up --infra-only
	$(BIN)/python -m tests.calendar

# Benchmarks print figures and ratios against the raw speed of the same parts, measured in
# the same run; they are never timed assertions in tests.
bench-events: install
	$(BIN)/cloudctl up --infra-only
	$(BIN)/python bench/relay_bench.py -n 100000
	$(BIN)/python bench/consumer_bench.py -n 100000
	$(BIN)/python bench/replay_bench.py --events 1000000

bench-gateway: up
	$(BIN)/python bench/gateway_bench.py

bench-audit: install
	$(BIN)/cloudctl up --infra-only
	$(BIN)/python bench/audit_bench.py

bench-compute: install
	$(BIN)/cloudctl up --infra-only
	$(BIN)/python bench/compute_bench.py

bench-billing: install
	$(BIN)/cloudctl up --infra-only
	$(BIN)/python bench/billing_bench.py

bench-network: install
	$(BIN)/cloudctl up --infra-only
	$(BIN)/python bench/network_bench.py

bench-storage: install
	$(BIN)/cloudctl up --infra-only
	$(BIN)/python bench/storage_bench.py

bench: bench-events bench-gateway bench-audit bench-compute bench-billing bench-network bench-storage

# Record the current contracts as the baseline `buf breaking` compares against (at a release).
proto-baseline: install
	$(BIN)/buf build -o proto/baseline.binpb

clean:
	rm -rf libs/contracts/gen $(VENV)
