# The whole set-up on a fresh machine: `make run` and `make test`.
PYTHON ?= python3
VENV   ?= .venv
BIN    := $(VENV)/bin
# Root installs Debian packages directly; anyone else goes through sudo.
SUDO   := $(shell [ "$$(id -u)" = "0" ] || echo sudo)

.PHONY: run test lint typecheck importlint unit system-deps bench clean schemas manifests

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip

$(VENV)/.installed-run: pyproject.toml | $(BIN)/python
	$(BIN)/pip install --quiet -e .
	touch $@

$(VENV)/.installed-dev: pyproject.toml | $(BIN)/python
	$(BIN)/pip install --quiet -e '.[dev]'
	touch $@ $(VENV)/.installed-run

## make run: create the venv, install Medic, start `medic dev` (Temporal dev server + Web UI, worker, API).
run: $(VENV)/.installed-run
	$(BIN)/medic dev

## Debian's Prometheus and Alertmanager for the end-to-end tests (and their promtool and amtool, which
## check the Helm chart's rules and receiver), and rsvg-convert, which renders the postmortem chart as a
## non-browser renderer would; nginx and openssl for the TLS-to-Temporal tests (a gRPC proxy with a test
## CA in front of the dev server); installed only when missing.
system-deps:
	@if ! command -v prometheus >/dev/null || ! command -v prometheus-alertmanager >/dev/null \
		|| ! command -v promtool >/dev/null || ! command -v amtool >/dev/null \
		|| ! command -v rsvg-convert >/dev/null \
		|| ! PATH="$$PATH:/usr/sbin" command -v nginx >/dev/null || ! command -v openssl >/dev/null; then \
		echo "installing Debian's prometheus, prometheus-alertmanager, librsvg2-bin, nginx-light, openssl"; \
		$(SUDO) apt-get update -qq && \
		DEBIAN_FRONTEND=noninteractive $(SUDO) apt-get install -y -qq --no-install-recommends \
			prometheus prometheus-alertmanager librsvg2-bin nginx-light openssl >/dev/null; \
	fi

lint: $(VENV)/.installed-dev
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .

typecheck: $(VENV)/.installed-dev
	$(BIN)/mypy medic remediations activities workflows service tests bench

importlint: $(VENV)/.installed-dev
	$(BIN)/lint-imports

## make test: install what the tests need, then lint, type-check, import contracts and every test.
test: $(VENV)/.installed-dev system-deps lint typecheck importlint
	$(BIN)/pytest

bench: $(VENV)/.installed-dev
	$(BIN)/python -m bench.webhook_throughput

clean:
	rm -rf $(VENV) .medic .pytest_cache .mypy_cache .ruff_cache

## make manifests: render deploy/kubernetes/ from the Helm chart (Helm's engine from helm-python-sdk).
manifests: $(VENV)/.installed-dev
	$(BIN)/python deploy/helm/render.py --manifests

## make schemas: regenerate docs/schemas/ from the pydantic models.
schemas: $(VENV)/.installed-dev
	$(BIN)/python -m service.schemas docs/schemas
