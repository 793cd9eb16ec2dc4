# Two commands for users: `make demo` (the whole pipeline on embedded data, CPU, minutes) and
# `make test` (lint + the test suite, including real Snakemake runs). Both set themselves up.
SHELL := /bin/bash
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
# torch is pinned here (a CPU build) while the package itself accepts a range, so clusters can
# install CUDA builds; see README "Installing on a GPU cluster".
TORCH_PIN ?= torch==2.13.0
CORES ?= 2

.PHONY: demo test lint install slurm-packages clean

$(BIN)/.installed: pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet "$(TORCH_PIN)"
	$(BIN)/python -m pip install --quiet -e ".[dev,slurm]"
	touch $@

install: $(BIN)/.installed

demo: install
	PATH="$(CURDIR)/$(BIN):$$PATH" snakemake --cores $(CORES)
	@echo "Tables: results/tables/summary.md  Report: results/report/report.html"

lint: install
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/snakefmt --check Snakefile workflow/
	PATH="$(CURDIR)/$(BIN):$$PATH" snakemake --lint

# tests/test_slurm.py runs the pipeline on a real one-node SLURM cluster. Where the tests run as
# root with apt-get (CI), Debian's packages are installed when missing and the test must run:
# DBLEND_REQUIRE_SLURM=1 turns its skip into a failure. Elsewhere it skips without them.
SLURM_PACKAGES := slurmctld slurmd slurm-client munge
CAN_APT := [ "$$(id -u)" = 0 ] && command -v apt-get >/dev/null

slurm-packages:
	@if $(CAN_APT) && ! (for c in slurmctld slurmd sinfo munged; do \
		command -v $$c >/dev/null || exit 1; done); then \
		echo "Installing $(SLURM_PACKAGES) for tests/test_slurm.py"; \
		apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq \
			--no-install-recommends $(SLURM_PACKAGES) >/dev/null; \
	fi

test: lint slurm-packages
	PATH="$(CURDIR)/$(BIN):$$PATH" DBLEND_REQUIRE_SLURM=$$($(CAN_APT) && echo 1) \
		$(BIN)/python -m pytest

clean:
	rm -rf results/* .snakemake
