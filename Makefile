# Thin wrappers over dev.py, which needs nothing but Python 3.11+.
PY ?= python3

.PHONY: setup plan test lint bench generate validate
setup:    ; $(PY) dev.py setup
plan:     ; $(PY) dev.py plan
test:     ; $(PY) dev.py test
lint:     ; $(PY) dev.py lint
bench:    ; $(PY) dev.py bench
validate: setup ; .venv/bin/mlrig validate bundles
generate: setup ; .venv/bin/mlrig generate
