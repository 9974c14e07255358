# Linx's two set-up commands. Each installs what it needs on first use (a virtual
# environment in .venv, rebuilt when pyproject.toml changes), then does its job:
#   make demo    run Linx on the bundled sandboxes and open the admin
#   make test    run the whole test suite
PYTHON ?= $(shell command -v python3.12 || command -v python3)
VENV := .venv
INSTALLED := $(VENV)/.installed

.PHONY: demo test lint format clean

demo: $(INSTALLED)
	$(VENV)/bin/python -m linx.demo

test: $(INSTALLED)
	$(VENV)/bin/python -m pytest $(PYTEST_ARGS)

lint: $(INSTALLED)
	$(VENV)/bin/ruff check .
	$(VENV)/bin/ruff format --check .

format: $(INSTALLED)
	$(VENV)/bin/ruff check --fix .
	$(VENV)/bin/ruff format .

$(INSTALLED): pyproject.toml
	@$(PYTHON) -c 'import sys; sys.exit(0 if sys.version_info >= (3, 12) else "Linx needs Python 3.12 or newer; found " + sys.version.split()[0])'
	test -x $(VENV)/bin/python || $(PYTHON) -m venv $(VENV)
	$(VENV)/bin/python -m pip install --quiet --upgrade pip
	$(VENV)/bin/python -m pip install --quiet -e '.[dev]'
	touch $(INSTALLED)

clean:
	rm -rf $(VENV) var staticfiles .pytest_cache .ruff_cache
