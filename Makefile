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

.PHONY: demo test lint install clean

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

test: lint
	PATH="$(CURDIR)/$(BIN):$$PATH" $(BIN)/python -m pytest

clean:
	rm -rf results/* .snakemake
