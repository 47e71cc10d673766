# NeuroTune: `make run` starts the app, `make test` runs every test. Both set up everything first.
# The first Python 3.11 that can make a venv, the distribution's own first: Debian builds it with
# profile-guided optimization, which runs TensorFlow's Python (tracing, Keras) about 10% faster than a
# build without it (pyenv's default). PYTHON=... on the command line picks another.
PYTHON ?= $(shell for candidate in /usr/bin/python3.11 python3.11 python3; do \
	$$candidate -c 'import ensurepip, sys; assert sys.version_info >= (3, 11)' 2>/dev/null && \
	{ command -v $$candidate; break; }; done)
VENV := .venv
UV := uv==0.13.9
BIN := $(VENV)/bin
PORT ?= 8501
export TF_CPP_MIN_LOG_LEVEL ?= 2

.PHONY: run test setup system-packages lint format bench

run: setup
	@echo "Preparing the bundled Bach chorales dataset 'bach' (a cache hit after the first time)..."
	@$(BIN)/python -m core dataset build --corpus bach-chorales --name bach || \
		echo "Could not prepare the 'bach' dataset; build it from the Dataset page."
	$(BIN)/python -m core serve --port $(PORT)

test: setup
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	# Three workers on two cores: while one waits (on a browser, a server or a training process), two compute.
	# Whole test files go to the workers, the longest first (tests/conftest.py).
	$(BIN)/python -m pytest -n 3 --dist loadfile --no-loadscope-reorder

setup: $(VENV)/.installed system-packages

$(VENV)/.installed: requirements.txt
	@test -n "$(PYTHON)" || { echo "Python 3.11 with venv is needed (python3.11 or python3 on PATH; on Debian apt-get install python3-venv)."; exit 1; }
	$(PYTHON) -m venv $(VENV)
	# uv installs the pinned packages in parallel, byte-compiled as pip would: the set-up takes about 14 s where
	# pip's install alone takes 44 s. Where uv cannot (no build for the machine, an index only pip.conf names),
	# pip installs them.
	{ $(BIN)/pip install --quiet $(UV) && \
		$(BIN)/uv pip install --quiet --compile-bytecode --python $(BIN)/python -r requirements.txt; } || \
		{ echo "uv could not install the packages: installing them with pip."; \
			$(BIN)/pip install --quiet -r requirements.txt; }
	touch $@

# FluidSynth and a General MIDI soundfont render audio; Chromium's headless shell runs the browser tests; the tests
# start their own PostgreSQL server (its programs in /usr/lib/postgresql/<version>/bin) to run the store on it as well
# as on SQLite.
# Installed with apt-get when missing; without them the app still runs (with a notice).
system-packages:
	@missing=""; \
	command -v fluidsynth >/dev/null 2>&1 || missing="$$missing fluidsynth"; \
	ls /usr/share/sounds/sf2/*.sf2 >/dev/null 2>&1 || missing="$$missing fluid-soundfont-gm"; \
	command -v chromium-headless-shell >/dev/null 2>&1 || missing="$$missing chromium-headless-shell"; \
	ls /usr/lib/postgresql/*/bin/initdb >/dev/null 2>&1 || command -v initdb >/dev/null 2>&1 || \
		missing="$$missing postgresql"; \
	if [ -n "$$missing" ]; then \
		echo "Installing system packages:$$missing"; \
		if [ "$$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then \
			(apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq $$missing >/dev/null) || \
			echo "WARNING: apt-get could not install$$missing. Audio falls back to simple synthesis;" \
				"browser and PostgreSQL tests are skipped."; \
		else \
			echo "WARNING: cannot install$$missing (needs root and apt-get): run 'sudo apt-get install$$missing'." \
				"Until then audio falls back to simple synthesis; browser and PostgreSQL tests are skipped."; \
		fi; \
	fi

lint: $(VENV)/.installed
	$(BIN)/ruff check --fix .
	$(BIN)/ruff format .

bench: setup
	$(BIN)/python bench/preprocess.py
