# Two commands do everything on a fresh machine:
#   make run    installs into .venv, builds the index of the bundled articles, answers a question (Q=...)
#   make test   installs into .venv (with the dev extras) and runs the whole test suite
PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin
Q      ?= How much did trade between China and Russia reach last year?

.PHONY: run test eval install install-dev index lint clean

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip

# torch first, pinned: that version is served as a CPU build; an unpinned torch pulls CUDA packages.
$(VENV)/.installed: pyproject.toml | $(BIN)/python
	$(BIN)/pip install --quiet torch==2.13.0
	$(BIN)/pip install --quiet -e .
	touch $@

$(VENV)/.installed-dev: $(VENV)/.installed
	$(BIN)/pip install --quiet -e '.[dev]'
	touch $@

install: $(VENV)/.installed
install-dev: $(VENV)/.installed-dev

index: install
	$(BIN)/rag index

run: index
	$(BIN)/rag ask "$(Q)"

test: install-dev
	$(BIN)/python -m pytest

# The grounding evals on the bundled corpus, gated on evals/thresholds.toml (CI runs this).
eval: index
	$(BIN)/rag eval --gate evals/thresholds.toml --report evals/reports/latest --quiet

lint: install-dev
	$(BIN)/ruff check rag tests evals ui.py

clean:
	rm -rf $(VENV) index/chroma.sqlite3 index/*/ index/.rag.lock
