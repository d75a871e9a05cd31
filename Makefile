# Dokportal — every target documents itself: `make` or `make help` lists them.
SHELL := /bin/bash
.DEFAULT_GOAL := help

PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed
PORT   ?= 8000
export PORT

.PHONY: help
help: ## Show this help
	@awk 'BEGIN {FS = ":.*## "} /^[a-zA-Z_-]+:.*## / {printf "  \033[36m%-14s\033[0m %s\n", $$1, $$2}' $(MAKEFILE_LIST)

# Everything from the lock (exact versions, hashes checked), then Dokportal itself without
# dependencies: a venv never resolves anything of its own (locks/, hack/lock.py).
$(STAMP): pyproject.toml locks/dev.txt
	@test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip==26.3
	$(BIN)/python -m pip install --quiet --require-hashes -r locks/dev.txt
	$(BIN)/python -m pip install --quiet --no-deps --no-build-isolation -e .
	@touch $@

.PHONY: install
install: $(STAMP) ## Create .venv and install Dokportal with its development tools (from locks/dev.txt)

.PHONY: lock
lock: ## Re-resolve locks/*.txt (all dependencies, hashed) after changing pyproject.toml
	@test -x $(BIN)/uv || { echo "run make install first"; exit 1; }
	$(BIN)/python hack/lock.py

.PHONY: system-deps
system-deps: ## Install what the tests need from Debian (PostgreSQL server, DejaVu fonts, Chromium)
	@bash hack/system-deps.sh

.PHONY: run
run: install ## Serve the demo on http://127.0.0.1:$(PORT) (SQLite + folder under ./var)
	$(BIN)/dokportal run --port $(PORT)

.PHONY: lint
lint: install ## ruff and mypy --strict
	$(BIN)/ruff check portal operator tests bench
	$(BIN)/ruff format --check portal operator tests bench
	$(BIN)/mypy

.PHONY: fmt
fmt: install ## Format and auto-fix the code
	$(BIN)/ruff format portal operator tests bench
	$(BIN)/ruff check --fix portal operator tests bench

.PHONY: promtool
promtool: ## Build (or reuse) promtool for the alert rule tests (cached in ~/.cache/dokportal)
	@bash hack/build-promtool.sh >/dev/null

.PHONY: control-plane
control-plane: ## Build (or reuse) etcd, kube-apiserver, controllers, kwok, helm, kubectl (cached in ~/.cache/dokportal)
	@bash hack/build-control-plane.sh

.PHONY: images
images: install system-deps control-plane ## Build (or reuse) the portal and operator images as OCI archives in ~/.cache/dokportal/images (no Docker)
	@bash hack/build-images.sh

.PHONY: test
test: install system-deps control-plane images promtool lint ## Everything: lint, then all tests against real services
	$(BIN)/python -m pytest

FUZZ_FACTOR ?= 40
.PHONY: fuzz
fuzz: install ## Long fuzz run: FUZZ_FACTOR (40) × the test budget of every property and form fuzz test
	HYPOTHESIS_PROFILE=fuzz FUZZ_FACTOR=$(FUZZ_FACTOR) $(BIN)/python -m pytest -q \
		tests/portal/unit/test_multipart_properties.py tests/portal/integration/test_fuzz_forms.py \
		tests/portal/integration/staff/test_api_schema.py

.PHONY: cluster
cluster: install control-plane $(if $(REAL_NODE),images) ## Start the test control plane, SeaweedFS and the operator for manual use (REAL_NODE=1: plus a real node whose pods really run; Ctrl+C stops)
	REAL_NODE=$(REAL_NODE) $(BIN)/python -m tests.support.cluster

KIND_CLUSTER ?= dokportal
.PHONY: kind-up
IMAGES_DIR := $(or $(DOKPORTAL_CACHE),$(HOME)/.cache/dokportal)/images
kind-up: images ## With kind (Docker): a cluster with the images `make images` built, and the operator chart (untested here: no Docker)
	kind create cluster --name $(KIND_CLUSTER)
	kind load image-archive --name $(KIND_CLUSTER) $(IMAGES_DIR)/dokportal-portal.oci.tar
	kind load image-archive --name $(KIND_CLUSTER) $(IMAGES_DIR)/dokportal-operator.oci.tar
	helm install dokportal-operator charts/dokportal-operator --namespace dokportal --create-namespace --wait
	@echo "Now: create the credential Secrets in namespace dokportal and kubectl apply -f examples/"
.PHONY: e2e
e2e: install system-deps ## Only the browser tests (headless Chromium); screenshots in tests/e2e/screenshots/
	$(BIN)/python -m pytest tests/e2e

.PHONY: screenshots
screenshots: e2e ## Refresh the README's phone screenshots in docs/screenshots/ from a browser run
	$(BIN)/python hack/readme-screenshots.py

.PHONY: clean
clean: ## Remove caches (keeps ./var with your demo data)
	rm -rf .pytest_cache .mypy_cache .ruff_cache

KEYWORDS := -k N_ -k tr -k translate:2 -k BadRequest -k Forbidden -k NotFound -k TooLarge \
	-k UnsupportedType -k TooManyAttempts -k ServiceUnavailable -k PortalError \
	-k ActivationFailed -k SignInFailed \
	-k StaffSignInFailed -k ApiUnauthorized -k Unavailable -k KeyUnavailable
LOCALES  := portal/dokportal/locales
LANGS    := de en uk ar tr ru fa

.PHONY: messages
messages: install ## Extract translatable text and merge it into every language's catalog
	$(BIN)/pybabel extract -F babel.cfg $(KEYWORDS) --no-location --sort-output --width=100 \
		--project=Dokportal --copyright-holder="Dokportal" -o $(LOCALES)/messages.pot .
	@for lang in $(LANGS); do \
		po=$(LOCALES)/$$lang/LC_MESSAGES/messages.po; \
		if [ -f $$po ]; then $(BIN)/pybabel update -i $(LOCALES)/messages.pot -l $$lang -o $$po --no-fuzzy-matching --ignore-obsolete --width=100; \
		else $(BIN)/pybabel init -i $(LOCALES)/messages.pot -l $$lang -o $$po; fi; \
	done

.PHONY: bench
bench: install system-deps control-plane ## Benchmarks side by side (upload, memory, download, pages, operator); rewrites docs/benchmarks.md
	$(BIN)/python -m pip install --quiet -e '.[bench]'
	$(BIN)/python -m bench.run

.PHONY: bench-operator
bench-operator: install control-plane ## Only the operator benchmark (100 Portals on the test control plane); rewrites docs/benchmarks.md
	$(BIN)/python -m bench.run operator
