# Two commands do everything on a fresh machine:
#   make run    installs into .venv and opens the web chat on the bundled articles (index built on first run)
#   make test   installs into .venv (with the dev extras), Debian's chromium and tesseract-ocr, and runs the test suite
#               (all but the long runs marked `slow`: about 10 minutes on 2 cores)
# and one more that CI also runs:
#   make soak   the long runs (marked `slow`): the 10-minute service soak, the poisoning measurement, a 500-page
#               scan, the tuning scripts and the scorer's refit, a suite asked in two processes
PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin
Q      ?= How much did trade between China and Russia reach last year?

SUDO   := $(shell [ "$$(id -u)" = 0 ] || echo sudo)
PORT   ?= 7860
API_PORT ?= 8000

.PHONY: run serve ask test soak eval install install-dev browser index lint clean

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

# The web chat on http://127.0.0.1:$(PORT); `rag chat` builds the index of the bundled articles on first run.
run: install
	$(BIN)/rag chat --port $(PORT)

# The OpenAI-compatible API (/v1), the MCP server (/mcp) and the chat (/) in one process on http://127.0.0.1:$(API_PORT).
serve: install
	$(BIN)/rag serve --port $(API_PORT)

# One answer on the command line instead of the chat.
ask: index
	$(BIN)/rag ask "$(Q)"

# Debian's chromium for the browser tests: Playwright drives it (its own browser download fails offline); the
# DejaVu font the PDF tests write their PDFs with; tesseract-ocr for the OCR tests (optional for `make run`:
# without it scanned PDFs and page images are skipped with the command that installs it).
browser:
	@{ command -v chromium >/dev/null && command -v tesseract >/dev/null && [ -f /usr/share/fonts/truetype/dejavu/DejaVuSans.ttf ]; } || { \
	  echo "Installing Debian's chromium, tesseract-ocr and fonts-dejavu-core for the tests"; \
	  $(SUDO) apt-get update -qq && $(SUDO) env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium tesseract-ocr fonts-dejavu-core; }

test: install-dev browser
	$(BIN)/python -m pytest -m "not slow"

soak: install-dev browser
	$(BIN)/python -m pytest -m slow

# Every eval suite (the bundled questions and the public QA sets of evals/suites.toml), failing below the
# floors in evals/suites.toml (CI runs this; about 5 minutes on 2 cores, most of it indexing the suites once).
# The figures are kept in evals/results/suites.json (committed) and the README tables rewritten from them.
eval: install-dev
	$(BIN)/rag eval --suite all --gate evals/suites.toml --report evals/reports/latest --quiet; \
	  status=$$?; $(BIN)/python -m evals.results suites evals/reports/latest/summary.json && \
	  $(BIN)/cog -r -P -I . --verbosity=1 evals/README.md && exit $$status

lint: install-dev
	$(BIN)/ruff check rag tests evals ui.py

clean:
	rm -rf $(VENV) index/chroma.sqlite3 index/*/ index/.rag.lock index/lexical-* index/sentences-*
