# Gongshu — two commands do everything on a fresh machine:
#   make run    create .venv, install, initialise ./var, load the demo city, serve :8000
#   make test   install what the tests need and run the whole suite (lint, types, layers, tests)

PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed
export GONGSHU_HOME ?= $(CURDIR)/var

.PHONY: run test install lock bench clean

$(STAMP): pyproject.toml requirements.lock
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -c requirements.lock -e '.[test]'
	touch $(STAMP)

install: $(STAMP)

run: $(STAMP)
	$(BIN)/gongshu up

test: $(STAMP)
	scripts/test.sh

lock: $(STAMP)
	$(BIN)/python -m pip freeze --exclude-editable | grep -v '^-e ' > requirements.lock

bench: $(STAMP)
	$(BIN)/python bench/startup.py
	$(BIN)/python bench/api_me.py

clean:
	rm -rf $(VENV) var
