# Two commands for users: `make demo` (the whole pipeline on embedded data, CPU, minutes) and
# `make test` (lint + the test suite, including real Snakemake runs). Both set themselves up.
SHELL := /bin/bash
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
CORES ?= 2

# envs/cpu.lock.txt pins every package of the install to the version `make test` and
# `make demo` run with, torch as its CPU build (+cpu; a cluster takes a CUDA build instead:
# README, "On a SLURM GPU cluster"). pyproject.toml keeps the ranges, for other environments.
LOCK := envs/cpu.lock.txt
# Where the CPU build of torch comes from, when pip's configured indexes do not carry it.
TORCH_INDEX ?= https://download.pytorch.org/whl/cpu
# `make lock` resolves pyproject.toml's ranges anew (uv, from the installed dev tools).
TORCH_VERSION ?= 2.13.0
LOCK_PYTHON ?= 3.11

.PHONY: demo test lint install lock debian-packages clean

# uv (pinned in the lock) installs the lock in seconds where pip takes minutes. uv reads no pip
# configuration, so envs/pip_sources.py hands it pip's configured indexes, wheel folders and
# constraints, and like pip it may take each package from whichever index has the best match.
# Each attempt is tried only where the one before it failed: the configured sources, then with
# PyTorch's CPU index, then pip itself in the same two ways (also where uv cannot be had).
PIP := $(BIN)/python -m pip install --quiet
UV := $(BIN)/uv pip install --quiet --python $(BIN)/python --index-strategy unsafe-best-match \
	$$($(BIN)/python envs/pip_sources.py)

$(BIN)/.installed: $(LOCK) pyproject.toml envs/pip_sources.py
	$(PYTHON) -m venv $(VENV)
	($(PIP) "$$(grep '^uv==' $(LOCK))" && $(UV) -r $(LOCK)) 2>/dev/null \
		|| $(UV) -r $(LOCK) --extra-index-url $(TORCH_INDEX) 2>/dev/null \
		|| $(PIP) -r $(LOCK) 2>/dev/null \
		|| $(PIP) -r $(LOCK) --extra-index-url $(TORCH_INDEX)
	$(UV) --no-deps -e . 2>/dev/null || $(PIP) --no-deps -e .
	touch $@

install: $(BIN)/.installed

lock: install
	$(BIN)/uv pip compile pyproject.toml --extra workflow --extra slurm --extra dev \
		--python-version $(LOCK_PYTHON) --python-platform x86_64-manylinux_2_28 \
		--constraints <(echo "torch==$(TORCH_VERSION)+cpu") \
		$(if $(TORCH_INDEX),--extra-index-url $(TORCH_INDEX) --index-strategy unsafe-best-match) \
		--no-emit-index-url --custom-compile-command "make lock" --output-file $(LOCK)

demo: install
	PATH="$(CURDIR)/$(BIN):$$PATH" snakemake --cores $(CORES)
	@echo "Tables: results/demo/tables/summary.md  Report: results/demo/report/report.html"

lint: install
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/snakefmt --check Snakefile workflow/
	PATH="$(CURDIR)/$(BIN):$$PATH" snakemake --lint

# Two tests need Debian packages: tests/test_slurm.py (a real one-node SLURM cluster) and
# tests/test_report_browser.py (the HTML report in headless chromium). `make test` installs the
# missing ones only where that is expected: in CI (CI=true) or when asked with
# `make test DEBIAN_PACKAGES=1`, as root with apt-get; those tests must then run
# (DBLEND_REQUIRE_SLURM / DBLEND_REQUIRE_BROWSER turn their skips into failures). Elsewhere
# nothing is installed and each skips with a line saying how to enable it.
DEBIAN_PACKAGES ?= $(if $(filter true,$(CI)),1,0)
PACKAGES := slurmctld slurmd slurm-client munge chromium
PROGRAMS := slurmctld slurmd sinfo munged chromium
CAN_APT := [ "$(DEBIAN_PACKAGES)" = 1 ] && [ "$$(id -u)" = 0 ] && command -v apt-get >/dev/null

debian-packages:
	@if $(CAN_APT) && ! (for c in $(PROGRAMS); do \
		command -v $$c >/dev/null || exit 1; done); then \
		echo "Installing $(PACKAGES) for tests/test_slurm.py and tests/test_report_browser.py"; \
		apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq \
			--no-install-recommends $(PACKAGES) >/dev/null; \
	fi

# The suite runs on CORES pytest-xdist workers, one test file at a time per worker, so each
# file's module fixtures (whole Snakemake runs among them) are made once.
test: lint debian-packages
	PATH="$(CURDIR)/$(BIN):$$PATH" DBLEND_REQUIRE_SLURM=$$($(CAN_APT) && echo 1) \
		DBLEND_REQUIRE_BROWSER=$$($(CAN_APT) && echo 1) $(BIN)/python -m pytest \
		-n $(CORES) --dist loadfile

clean:
	rm -rf results/* .snakemake
