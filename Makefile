# Two commands for a newcomer on a fresh machine (Python 3.10+, git): `make demo` and `make test`.
# Each creates .venv with everything it needs on first use.
VENV ?= .venv
PY := $(VENV)/bin/python
PYTHON ?= python3
export DVC_NO_ANALYTICS := 1

.PHONY: venv demo test bench screenshots serve clean

$(VENV)/.installed: pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install -q --disable-pip-version-check --upgrade pip
	$(PY) -m pip install -q --disable-pip-version-check -e '.[test]'
	touch $@

venv: $(VENV)/.installed

demo: venv
	$(PY) -m demo

test: venv
	$(PY) -m pytest -n 2 -q

bench: venv
	$(PY) -m benchmarks --writers 1,4,8

# The README's pictures of `reg site`, taken by the browser tests in headless Chromium (apt-get install chromium).
screenshots: venv
	REG_SITE_SCREENSHOTS=docs/screenshots $(PY) -m pytest -q tests/test_site_browser.py -k screenshot

# The example churn service on 127.0.0.1, following REPO's production model (`make demo` prints a REPO).
REPO ?=
PORT ?= 8000
serve: venv
	@test -n "$(REPO)" || { echo "usage: make serve REPO=/path/to/registry [PORT=8000] (make demo prints one)"; exit 2; }
	REG_REPO="$(REPO)" REG_INTERVAL=5 $(VENV)/bin/uvicorn serve:app --app-dir pipelines/churn --host 127.0.0.1 --port $(PORT)

clean:
	rm -rf $(VENV) .pytest_cache
