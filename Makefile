# Every target that needs Python depends on the local virtual environment (.venv).
PY ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
TEST_STAMP := $(VENV)/.installed-test
HOST ?= 127.0.0.1
PORT ?= 5000
ARGS ?=

STORE := sqlite:///$(CURDIR)/mlruns/mlflow.db
ARTIFACTS := $(CURDIR)/mlruns/artifacts

.PHONY: install train sweep ui server test test-fast bench lint clean

$(STAMP): pyproject.toml
	test -x $(BIN)/python || $(PY) -m venv $(VENV)
	$(BIN)/pip install --upgrade "pip>=23.1" setuptools wheel
	$(BIN)/pip install -e ".[dev]" --config-settings editable_mode=compat
	touch $(STAMP)

# The tests also run sweeps on a real local Ray cluster and through submitit: `make test` adds the `ray` and
# `slurm` extras to the same venv (about 30 packages; joblib/cloudpickle pinned for hydra-ray-launcher), so
# `make sweep` on a fresh machine stays lean.
$(TEST_STAMP): $(STAMP)
	$(BIN)/pip install -e ".[dev,ray,slurm]" --config-settings editable_mode=compat
	touch $(TEST_STAMP)

install: $(STAMP)

train: $(STAMP)
	$(BIN)/python train.py $(ARGS)

sweep: $(STAMP)
	$(BIN)/python train.py -m $(ARGS)

# The MLflow UI on the project's store, on loopback unless HOST says otherwise.
ui: $(STAMP)
	$(BIN)/mlflow ui --backend-store-uri "$(STORE)" --default-artifact-root "$(ARTIFACTS)" --host $(HOST) --port $(PORT)

# A tracking server for workers on other processes or machines (artifacts served through it), without
# MLflow's job runner (a pool of worker processes for features this project does not use).
server: $(STAMP)
	MLFLOW_SERVER_ENABLE_JOB_EXECUTION=false $(BIN)/mlflow server --backend-store-uri "$(STORE)" --artifacts-destination "$(ARTIFACTS)" --serve-artifacts --host $(HOST) --port $(PORT)

test: $(TEST_STAMP)
	$(BIN)/python -m pytest $(ARGS)

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
