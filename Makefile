# Everything runs from the project's own virtualenv; `make run` and `make test` set it up on first use.
PYTHON ?= python3
VENV   ?= .venv
PY     := $(VENV)/bin/python
BUF_VERSION := 1.75.0
BUF    := $(VENV)/node/node_modules/.bin/buf
PROTOS := $(wildcard proto/astra/v1/*.proto)

.PHONY: install run test lint gen check-gen buf bench clean

$(VENV)/.installed: pyproject.toml
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet -e '.[dev]'
	touch $@

install: $(VENV)/.installed

run: install
	$(VENV)/bin/astra serve

test: install
	$(PY) -m pytest -q

$(BUF):
	npm install --silent --no-audit --no-fund --prefix $(VENV)/node @bufbuild/buf@$(BUF_VERSION)

buf: $(BUF)

# Regenerates gen/ from proto/ (the vendored google/api protos come from googleapis-common-protos at run time).
gen: install
	rm -rf gen/astra
	mkdir -p gen
	$(PY) -m grpc_tools.protoc -Iproto --python_out=gen --grpc_python_out=gen --pyi_out=gen $(PROTOS)
	touch gen/astra/__init__.py gen/astra/v1/__init__.py

# Fails when the committed gen/ is not what `make gen` writes.
check-gen: install
	rm -rf $(VENV)/gencheck && mkdir -p $(VENV)/gencheck
	$(PY) -m grpc_tools.protoc -Iproto --python_out=$(VENV)/gencheck --grpc_python_out=$(VENV)/gencheck \
		--pyi_out=$(VENV)/gencheck $(PROTOS)
	touch $(VENV)/gencheck/astra/__init__.py $(VENV)/gencheck/astra/v1/__init__.py
	diff -r -x __pycache__ $(VENV)/gencheck/astra gen/astra || (echo "gen/ is stale: run 'make gen' and commit" && exit 1)

lint: install buf check-gen
	$(VENV)/bin/ruff check .
	$(VENV)/bin/ruff format --check .
	$(BUF) lint
	$(BUF) format -d --exit-code
	# The contract may change until the first release: breaking changes are reported, not gated.
	-git rev-parse -q --verify HEAD~1 >/dev/null && $(BUF) breaking --against '.git#ref=HEAD~1' || true

bench: install
	$(PY) bench/edge_overhead.py

clean:
	rm -rf $(VENV) .astra .pytest_cache .ruff_cache
