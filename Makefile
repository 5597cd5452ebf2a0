# Two commands on a fresh machine: `make run` and `make test`. Both create .venv when needed.
PYTHON ?= $(shell command -v python3.11 || command -v python3)
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
PORT ?= 8501

.PHONY: run test bench lint debian clean assets prepare

NODE_STAMP := node_modules/.package-lock.json

$(STAMP): requirements.txt requirements-nodeps.txt
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/pip install -q --disable-pip-version-check -r requirements.txt
	$(BIN)/pip install -q --disable-pip-version-check --no-deps -r requirements-nodeps.txt
	$(BIN)/python -m core.env_check
	touch $(STAMP)

# facesjs, for the cartoon-face generator (the generated set itself is committed under assets/); reveal.js, for the
# talk export (core/talk).
$(NODE_STAMP): package.json package-lock.json
	npm ci --no-audit --no-fund --loglevel=error

# The first run also starts training each study's compared variants in the background (python -m core.runs prepare):
# the pages fill as the runs finish. TLDASH_PREPARE=0 skips it.
run: $(STAMP) $(NODE_STAMP) debian
	@[ "$${TLDASH_PREPARE:-1}" = 0 ] || $(BIN)/python -m core.runs prepare --background
	$(BIN)/streamlit run streamlit_app.py --server.headless true --server.port $(PORT)

# The same in the foreground, with progress: 12 runs (each page's variants and baselines), 13 minutes on 2 CPU
# cores from nothing, instant when done.
prepare: $(STAMP)
	$(BIN)/python -m core.runs prepare

# Debian packages, installed when this runs as root with apt: Chromium for the real-browser tests and figure
# export (Playwright drives it; no browser download), and the full Fashion-MNIST (70,000 images).
DEBIAN_PACKAGES := chromium dataset-fashion-mnist
debian:
	@missing=$$(for p in $(DEBIAN_PACKAGES); do dpkg -s $$p >/dev/null 2>&1 || echo $$p; done); \
	[ -z "$$missing" ] || { [ "$$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1 && \
	  (apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq $$missing >/dev/null) ; } || \
	  echo "warning: not installed: $$missing (the real-browser tests skip without chromium; full Fashion-MNIST is offered only when present)"

test: $(STAMP) $(NODE_STAMP) debian
	$(BIN)/python -m pytest

bench: $(STAMP) debian
	$(BIN)/python -m bench

assets: $(STAMP) $(NODE_STAMP)
	$(BIN)/python -m core.data.cartoon_faces --seed 0 --out assets/cartoon_faces

lint: $(STAMP)
	$(BIN)/ruff check .

clean:
	rm -rf $(VENV) .pytest_cache
