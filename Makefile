# Two commands matter: `make demo` and `make test`. Both install whatever is missing
# (each step is skipped when its stamp is newer than its inputs) and then do their work.
# Caches (uv, Maven, models, llama-server build) live in ~/.cache, outside the repo.

SHELL := /bin/bash
PYTHON ?= python3.11
VENV := .venv
BIN := $(VENV)/bin
CLI := $(BIN)/sdr-pipeline
STAMP := $(VENV)/.installed
PYTEST_ARGS ?=

.PHONY: demo test test-e2e install deps llm-deps system-deps lock clean-state help

# command → Debian package that provides it (installed only when the command is missing)
SYSTEM_PACKAGES := java:openjdk-17-jdk-headless javac:openjdk-17-jdk-headless mvn:maven cmake:cmake g++:g++ chromium:chromium chromedriver:chromium-driver

help:  ## list the targets
	@grep -E '^[a-z-]+:.*## ' $(MAKEFILE_LIST) | sed 's/:.*## /\t/'

demo: deps llm-deps  ## install what is missing, start the stack and run the demo
	$(CLI) demo

test: deps llm-deps  ## install what is missing and run the whole test suite, end-to-end tier and every notebook (nbmake) included
	$(BIN)/pytest $(PYTEST_ARGS)

test-e2e: deps llm-deps  ## only the routing job's end-to-end tests on the default local model
	$(BIN)/pytest -m e2e $(PYTEST_ARGS)

install: $(STAMP)  ## the virtual environment with the locked packages and the project

$(BIN)/python:
	@command -v $(PYTHON) >/dev/null || { echo "error: $(PYTHON) not found — install Python 3.11 or run make PYTHON=/path/to/python3.11" >&2; exit 1; }
	$(PYTHON) -m venv $(VENV)

$(STAMP): $(BIN)/python requirements/requirements.lock pyproject.toml
	$(BIN)/python -m pip install --quiet --disable-pip-version-check "uv==$$(sed -n 's/^uv==//p' requirements/requirements.lock)"
	$(BIN)/uv pip sync --quiet --python $(BIN)/python requirements/requirements.lock
	$(BIN)/uv pip install --quiet --python $(BIN)/python --no-deps -e .
	touch $(STAMP)

system-deps:  ## JDK, Maven, cmake, g++, Chromium + driver from Debian, if a command is missing
	@missing=""; for pair in $(SYSTEM_PACKAGES); do command -v "$${pair%%:*}" >/dev/null || missing="$$missing $${pair#*:}"; done; \
	if [ -n "$$missing" ]; then \
	  echo "installing:$$missing"; \
	  if [ "$$(id -u)" = 0 ]; then SUDO=""; else SUDO="sudo"; fi; \
	  $$SUDO apt-get update -qq && $$SUDO apt-get install -y -qq --no-install-recommends $$missing \
	    || { echo "error: could not install$$missing — install them with your package manager" >&2; exit 1; }; \
	fi

deps: system-deps $(STAMP)  ## plus the Java jars (Kafka broker, Flink connector) from Maven Central
	$(CLI) infra fetch

llm-deps: $(STAMP)  ## plus llama-server and the local models
	$(CLI) llm setup

lock:  ## recompile requirements/requirements.lock from requirements/requirements.in
	$(BIN)/uv pip compile --python-version 3.11 requirements/requirements.in -o requirements/requirements.lock

clean-state:  ## stop the stack and delete broker data, MLflow db and logs (.state/)
	-$(CLI) infra down
	rm -rf .state
