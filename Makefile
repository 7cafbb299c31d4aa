# Tourbook — the two commands of the README (run, test) and a few helpers.
# The interpreter of .venv: the system's Python 3.11 or later where there is one (Debian's is built for speed;
# pyenv's default build, with a shared libpython, costs Tourbook's requests 7–10 % more CPU, bench/README.md),
# else python3 from PATH. `make PYTHON=... test` chooses another; a new interpreter needs `rm -rf .venv`.
PYTHON ?= $(or $(firstword $(wildcard /usr/bin/python3.1[1-9])),python3)
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
TRANSLATIONS := tourbook/translations
PORT ?= 5000
# Parallel test workers (pytest-xdist); each gets its own SQLite files and PostgreSQL database.
TEST_WORKERS ?= 2

export FLASK_APP := tourbook

.PHONY: run test lint bench translations extract-messages clean-db which-python

$(STAMP): pyproject.toml
	test -d $(VENV) || $(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip
	$(BIN)/pip install --quiet -e '.[test]'
	touch $(STAMP)

translations: $(STAMP)
	$(BIN)/pybabel compile --use-fuzzy -d $(TRANSLATIONS) -f --statistics 2>&1 | tail -n 2

instance/config.py:
	mkdir -p instance
	$(BIN)/python -c "import secrets; print('SECRET_KEY = ' + repr(secrets.token_hex(32)))" > instance/config.py
	@echo "created instance/config.py with a new secret key"

## make run: install, upgrade the database, load the demo region, serve on http://127.0.0.1:$(PORT)
run: $(STAMP) translations instance/config.py
	$(BIN)/flask db upgrade
	$(BIN)/flask demo
	$(BIN)/flask run --host 127.0.0.1 --port $(PORT)

## make test: install and run the whole suite (PostgreSQL too when TOURBOOK_TEST_DATABASE_URL is set)
test: $(STAMP) translations
	$(BIN)/pytest -n $(TEST_WORKERS) --dist loadfile $(PYTEST_ARGS)

lint: $(STAMP)
	$(BIN)/ruff check .

bench: $(STAMP) translations
	$(BIN)/python -m bench

## Refresh the message catalogues after changing texts in code or templates.
extract-messages: $(STAMP)
	$(BIN)/pybabel extract -F babel.cfg -k _l -k lazy_gettext -o $(TRANSLATIONS)/messages.pot --no-location --sort-output .
	$(BIN)/pybabel update -i $(TRANSLATIONS)/messages.pot -d $(TRANSLATIONS) --no-fuzzy-matching

clean-db:
	rm -f instance/tourbook.sqlite

## make which-python: the interpreter .venv is made with (CI installs what it needs to make one)
which-python:
	@echo $(PYTHON)
