# ThreatLab. A newcomer needs two commands:
#   make lab    create .venv if missing, install, open JupyterLab on labs/
#   make test   create/install if missing, then run the whole test suite
SHELL := /bin/bash
EXTRAS := [dev]
AFTER_INSTALL :=
ALLOW_ROOT := $(if $(filter 0,$(shell id -u)),--allow-root,)
# pytest-xdist workers for make test: two notebooks run side by side, each kernel on its share of
# the cores (tests/conftest.py schedules one work unit per notebook execution). 0 = one process.
TEST_WORKERS ?= 2
# Extra JupyterLab options, e.g. make lab LAB_OPTS="--no-browser --ServerApp.port=9000"
LAB_OPTS ?=

.PHONY: lab test test-grading test-e2e release install system system-e2e labs format check readme lint bench site site-instructors clean help

help:
	@echo "make lab     open the labs in JupyterLab (installs into $(VENV) first if needed)"
	@echo "make test    run the whole test suite (installs first if needed)"
	@echo "make test-grading  every lab graded by threatlab-grade: solved = full marks, stub = 0, correct alternatives full marks, mistakes lose points"
	@echo "make test-e2e  a real JupyterHub, Lab 01 and formgrader in Chromium (installs Chromium, the hub's proxy)"
	@echo "make labs    regenerate labs/ from solutions/ (never hand-edit labs/)"
	@echo "make format  ruff format + canonical notebooks (no outputs)"
	@echo "make check   notebooks clean, labs/ and README in sync"
	@echo "make readme  rewrite the README's lab table from notebook metadata"
	@echo "make bench   time every solution in FAST and full mode, and the grader against nbgrader (build/bench/)"
	@echo "make release build the learner release (labs, library, Binder; no solutions) into build/release"
	@echo "make site    build the course site offline with Jupyter Book (build/site/_build/html)"
	@echo "make site-instructors  the site plus executed solutions, not for learners (build/site-instructors/)"

# venv, torch, the package (+ EXTRAS): one recipe, shared with the learner release's Makefile.
include mk/install.mk

# System packages: bubblewrap (the grader's sandbox: threatlab-grade and its tests) and Graphviz's
# dot (Lab 06 renders data-flow diagrams). Installed here on Debian/Ubuntu when running as root
# (CI); otherwise install them yourself: sudo apt-get install bubblewrap graphviz.
SYSTEM_PACKAGES := bwrap:bubblewrap dot:graphviz
SYSTEM_WHY := the grader's sandbox needs bubblewrap, Lab 06 needs graphviz

system:
	@missing=""; for pair in $(SYSTEM_PACKAGES); do \
	  command -v $${pair%%:*} >/dev/null || missing="$$missing $${pair#*:}"; done; \
	if [ -n "$$missing" ]; then \
	  if [ "$$(id -u)" = 0 ] && command -v apt-get >/dev/null; then \
	    apt-get update -qq && apt-get install -y -qq $$missing >/dev/null; \
	  else \
	    echo "missing system packages:$$missing ($(SYSTEM_WHY)). Debian/Ubuntu: sudo apt-get install$$missing" >&2; \
	    exit 1; \
	  fi; \
	fi

# End-to-end tests (tests/e2e, marked e2e; skipped by plain pytest): Debian's Chromium, which
# Playwright drives (never `playwright install`: no browser downloads), and JupyterHub's proxy,
# configurable-http-proxy from npm, pinned, installed into the venv.
E2E_PACKAGES := chromium:chromium npm:npm
CHP_VERSION := 4.6.3
CHP := $(VENV)/node/node_modules/.bin/configurable-http-proxy

system-e2e:
	@$(MAKE) --no-print-directory system SYSTEM_PACKAGES="$(E2E_PACKAGES)" \
	  SYSTEM_WHY="the end-to-end tests drive Chromium; JupyterHub's proxy comes from npm"

$(CHP): | $(STAMP) system-e2e
	npm install --prefix $(VENV)/node --no-audit --no-fund --loglevel=error configurable-http-proxy@$(CHP_VERSION)
	@touch $@

test-e2e: $(STAMP) system-e2e $(CHP)
	THREATLAB_E2E=1 PATH="$(CURDIR)/$(BIN):$$PATH" $(BIN)/python -m pytest tests/e2e -m e2e

lab: $(STAMP)
	PATH="$(CURDIR)/$(BIN):$$PATH" $(BIN)/jupyter lab --ServerApp.root_dir=labs $(ALLOW_ROOT) $(LAB_OPTS)

test: $(STAMP) system
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	PATH="$(CURDIR)/$(BIN):$$PATH" $(BIN)/python -m pytest -n $(TEST_WORKERS) -m "not e2e and not validity and not grading"

# Grading through threatlab-grade, whole labs at a time (one FAST run per submission): every lab's
# solved notebook gets full marks and its stub 0 (test_grader_every_lab), hostile Lab 01 submissions
# are caught (test_grader_lab01), and grading validity (tests/grader/test_validity_*.py): per lab,
# submissions written from the student's contract -- alternative-correct ones must get full marks,
# plausible mistakes must lose points.
test-grading: $(STAMP) system
	PATH="$(CURDIR)/$(BIN):$$PATH" $(BIN)/python -m pytest -n $(TEST_WORKERS) -m "validity or grading" tests/grader

labs: $(STAMP)
	$(BIN)/python -m threatlab.course labs

format: $(STAMP)
	$(BIN)/ruff format .
	$(BIN)/python -m threatlab.course format

check: $(STAMP)
	$(BIN)/python -m threatlab.course check

readme: $(STAMP)
	$(BIN)/python -m threatlab.course readme

# Grading benchmark size: submissions of GRADER_LAB graded by threatlab-grade and by plain nbgrader.
GRADER_LAB ?= 01-evasion
GRADER_N ?= 40

bench: $(STAMP) system
	PATH="$(CURDIR)/$(BIN):$$PATH" $(BIN)/python -m threatlab.course bench --record
	PATH="$(CURDIR)/$(BIN):$$PATH" $(BIN)/python -m threatlab.grader.bench --lab $(GRADER_LAB) --n $(GRADER_N) --workers 2

# The course site (Jupyter Book 1.x, Sphinx: builds offline; 2.x fetches its theme from the web).
# Pages that depend on the labs are generated into build/ from the notebooks (threatlab.course.site);
# warnings, broken internal links included, fail the build.
site: $(STAMP)
	PATH="$(CURDIR)/$(BIN):$$PATH" $(BIN)/python -m threatlab.course.site build

# Adds every solution, executed in FAST mode with figures (runs reused while newer than the notebook).
# Keep this build away from learners.
site-instructors: $(STAMP)
	PATH="$(CURDIR)/$(BIN):$$PATH" $(BIN)/python -m threatlab.course.site build --instructors

# The learner release: what learners, Binder and the JupyterHub image get (an allow-list; the build
# stops if any file would show a hidden test or a solution). Push RELEASE_OUT to the public
# learners' repository ([tool.threatlab] learner-repository); RELEASE_OUT may be a clone of it.
RELEASE_OUT ?= build/release

release: $(STAMP)
	$(BIN)/python -m threatlab.course release --out $(RELEASE_OUT)

clean:
	rm -rf build .pytest_cache .ruff_cache course/gradebook.db course/submitted course/autograded course/feedback
