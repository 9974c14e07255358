# Linx's two set-up commands. Each installs what it needs on first use (a virtual
# environment in .venv, rebuilt when pyproject.toml changes), then does its job:
#   make demo    run Linx on the bundled sandboxes and open the admin
#   make test    run the whole test suite
#   make test-fast  run the tests that need neither the sandboxes nor a browser (under a minute)
PYTHON ?= $(shell command -v python3.12 || command -v python3)
VENV := .venv
INSTALLED := $(VENV)/.installed

.PHONY: demo test test-fast chromium lint format clean

demo: $(INSTALLED)
	$(VENV)/bin/python -m linx.demo

test: $(INSTALLED) chromium
	$(VENV)/bin/python -m pytest $(PYTEST_ARGS)

test-fast: $(INSTALLED)
	$(VENV)/bin/python -m pytest -m "not sandbox and not browser" $(PYTEST_ARGS)

# The browser tests (tests/browser) drive Debian's chromium. As root with apt-get it is
# installed when missing; otherwise those tests skip and say how to install it.
CHROMIUM_PACKAGES := chromium fonts-liberation
chromium:
	@command -v chromium >/dev/null || { \
	  if [ "$$(id -u)" = 0 ] && command -v apt-get >/dev/null; then \
	    echo "Installing Debian's chromium for the browser tests"; \
	    (apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq \
	      --no-install-recommends $(CHROMIUM_PACKAGES) >/dev/null) \
	    || echo "!! could not install chromium: the browser tests will skip" >&2; \
	  else \
	    echo "!! chromium is not installed: the browser tests will skip (sudo apt-get install chromium)" >&2; \
	  fi; }

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
