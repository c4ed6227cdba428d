# Two commands set everything up on a fresh machine: `make demo` and `make test`.
PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.installed

# Tests, CI and the demo run offline on the synthetic stand-in; quick mode keeps notebooks short.
export FEDLAB_DATA ?= synthetic
# nbgrader runs alembic and jupyter from the environment it was installed into
export PATH := $(CURDIR)/$(VENV)/bin:$(PATH)

.PHONY: install test test-slow demo notebooks clean

install: $(STAMP)

$(STAMP): pyproject.toml
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet -e ".[course]"
	$(PY) -m ipykernel install --sys-prefix --name python3 >/dev/null
	touch $(STAMP)

test: $(STAMP)
	FEDLAB_QUICK=1 $(PY) -m pytest --nbval-lax --nbval-current-env -m "not slow" tests solutions

# The demo class, the hostile submissions, the sandboxed grading and the fresh-environment journey (CI runs both).
test-slow: $(STAMP)
	FEDLAB_QUICK=1 $(PY) -m pytest -m slow tests

# The course's main job: release, a demo class, autograding, feedback, grades (build/demo/grades.csv).
demo: $(STAMP)
	$(PY) -m course demo

notebooks: $(STAMP)
	$(PY) -m course release

clean:
	rm -rf build
