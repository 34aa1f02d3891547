# The project's commands. `make render` and `make test` are all a fresh clone needs.
PYTHON     ?= python3
VENV       := .venv
CHECKOV_VENV := .venv-checkov
PY         := $(VENV)/bin/python
ENV        ?= dev
OUT        ?= build/render
# CRD schemas for `check`: the shared copy beside the repository when present (offline), else the public catalog.
CRD_SCHEMAS ?= $(if $(wildcard ../shared/schemas/crds),../shared/schemas/crds,https://raw.githubusercontent.com/datreeio/CRDs-catalog/main/{group}/{kind}_{version}.json)
export MLOPS_CRD_SCHEMAS := $(CRD_SCHEMAS)
# Upstream sources of the expansion (what Argo CD applies): the shared copies beside the repository when present
# (offline), else caches in .cache/ that `make sources` fills from the network.
CHART_CACHE ?= $(if $(wildcard ../shared/charts/*.tgz),../shared/charts,.cache/charts)
GIT_CACHE   ?= $(if $(wildcard ../shared/kubeflow-manifests),../shared,.cache/git)
export MLOPS_CHART_CACHE := $(CHART_CACHE)
export MLOPS_GIT_CACHE := $(GIT_CACHE)

.PHONY: install sources render check test bench lint docs clean

install: $(VENV)/.installed $(CHECKOV_VENV)/.installed

$(VENV)/.installed: requirements.txt pyproject.toml
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --disable-pip-version-check -r requirements.txt
	$(PY) -m pip install --quiet --disable-pip-version-check --no-deps -e .
	touch $@

# checkov pins a `packaging` that conflicts with pulumi's, so it lives in its own virtualenv.
$(CHECKOV_VENV)/.installed: requirements-checkov.txt
	test -x $(CHECKOV_VENV)/bin/python || $(PYTHON) -m venv $(CHECKOV_VENV)
	$(CHECKOV_VENV)/bin/python -m pip install --quiet --disable-pip-version-check -r requirements-checkov.txt
	touch $@

# Every pinned chart and git source the environments use; whatever the caches hold already is not fetched again.
sources: $(VENV)/.installed
	$(PY) -m infra.cli charts pull

render: sources
	$(PY) -m infra.cli render --expand --env $(ENV) --out $(OUT)

check: install sources
	$(PY) -m infra.cli check

test: install sources
	$(PY) -m pytest -q

bench: install
	$(PY) -m infra.bench

lint: $(VENV)/.installed
	$(VENV)/bin/ruff check infra policies tests
	$(VENV)/bin/ruff format --check infra policies tests

docs: $(VENV)/.installed
	$(PY) -m infra.cli docs

clean:
	rm -rf build
