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

.PHONY: demo test lint install lock slurm-packages clean

$(BIN)/.installed: $(LOCK) pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -r $(LOCK) 2>/dev/null \
		|| $(BIN)/python -m pip install --quiet -r $(LOCK) --extra-index-url $(TORCH_INDEX)
	$(BIN)/python -m pip install --quiet --no-deps -e .
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
