VENV ?= .venv
PY := $(VENV)/bin/python
# The package alone (what `make demo` needs), and the test extras on top (real Glance 33...).
STAMP := $(VENV)/.installed
TEST_STAMP := $(VENV)/.test-installed

.PHONY: demo test test-fast lint bench clean qemu-img

$(VENV)/bin/python:
	python3 -m venv $(VENV)

$(STAMP): pyproject.toml | $(VENV)/bin/python
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet -e .
	touch $(STAMP)

$(TEST_STAMP): $(STAMP)
	$(PY) -m pip install --quiet -e '.[test]'
	touch $(TEST_STAMP)

demo: $(STAMP)
	$(VENV)/bin/replicator demo

# A real Keystone for the auth tests, in its own environment: its pins conflict with Glance's.
KEYSTONE_VENV := .venv-keystone
KEYSTONE_STAMP := $(KEYSTONE_VENV)/.installed

$(KEYSTONE_STAMP):
	python3 -m venv $(KEYSTONE_VENV)
	$(KEYSTONE_VENV)/bin/python -m pip install --quiet --upgrade pip
	$(KEYSTONE_VENV)/bin/python -m pip install --quiet keystone==30.0.0 gunicorn
	touch $(KEYSTONE_STAMP)

# ruff (lint and format), the layers (import-linter, [tool.importlinter] in pyproject.toml) and
# mypy (strict on the whole package; every test body checked too): part of `make test`.
lint: $(TEST_STAMP)
	$(VENV)/bin/ruff check replicator tests benchmarks
	$(VENV)/bin/ruff format --check replicator tests benchmarks
	$(VENV)/bin/lint-imports --no-cache
	$(VENV)/bin/mypy

# qemu-img, which Glance's image_conversion import plugin runs for the tests of a target that
# converts what it receives (tests/test_converting_target.py): Debian's qemu-utils, installed
# with apt-get where it is missing (as root, as CI runs).
qemu-img:
	@command -v qemu-img >/dev/null || (apt-get update -q && apt-get install -y -q qemu-utils)

test: lint $(KEYSTONE_STAMP) qemu-img
	REPLICATOR_KEYSTONE_VENV=$(abspath $(KEYSTONE_VENV)) $(PY) -m pytest -q

# The in-process part alone (marker `unit`: no child process, no real Glance or Keystone), for
# the edit-test loop; `make test` runs it too, with the rest.
test-fast: $(TEST_STAMP)
	$(PY) -m pytest -q -m unit

# The benchmarks' own tools (matplotlib, py-spy, python-glanceclient): `make bench BENCH_ARGS="-s 1 --quick"`.
BENCH_STAMP := $(VENV)/.bench-installed

$(BENCH_STAMP): $(TEST_STAMP)
	$(PY) -m pip install --quiet -e '.[test,bench]'
	touch $(BENCH_STAMP)

bench: $(BENCH_STAMP)
	$(PY) -m benchmarks.run $(BENCH_ARGS)

clean:
	rm -rf $(VENV) $(KEYSTONE_VENV) .pytest_cache build *.egg-info
