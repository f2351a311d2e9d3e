# tzurot-go: the two commands a self-hoster needs are `make run` and `make test`.
SHELL := /bin/bash
GO ?= go
BIN := bin/tzurot
# Every first-party plugin is a folder under plugins/ built to plugins/<name>/<name>.wasm.
PLUGIN_DIRS := $(wildcard plugins/*/)
PLUGIN_WASMS := $(foreach d,$(PLUGIN_DIRS),$(d)$(notdir $(patsubst %/,%,$(d))).wasm)
# Race detector on host-side packages (plugins themselves build only for wasip1).
TEST_PKGS := ./host/... ./internal/... ./sdk/... ./plugins/... ./examples/...
TEST_FLAGS ?= -race -count=1 -timeout 45m

.PHONY: all build plugins dist examples run doctor test vet fmt bench sqlc db clean

all: build plugins

# -buildvcs=auto: `tzurot version` names the commit in a git checkout, and a
# build outside one (a Docker context without .git) still works.
build:
	$(GO) build -buildvcs=auto -o $(BIN) ./host/cmd/tzurot

plugins: $(PLUGIN_WASMS)

plugins/%.wasm: FORCE
	cd $(dir $@) && GOOS=wasip1 GOARCH=wasm CGO_ENABLED=0 $(GO) build -buildmode=c-shared -o $(notdir $@) .

# make dist DIST=dir: what a deployment needs, laid out as the repository
# does (bin/tzurot, plugins/<name>/<name>.wasm, plugins.toml, docs), so the
# relative paths in plugins.toml hold. The Dockerfile and the systemd unit
# install from it.
DIST ?= dist
dist: build plugins
	mkdir -p $(DIST)/bin $(DIST)/docs
	cp $(BIN) $(DIST)/bin/tzurot
	for w in $(PLUGIN_WASMS); do mkdir -p $(DIST)/$$(dirname $$w) && cp $$w $(DIST)/$$w; done
	cp plugins.toml $(DIST)/plugins.toml
	cp docs/*.md $(DIST)/docs/

examples:
	@if [ -f examples/as-provider/package.json ]; then \
		cd examples/as-provider && { [ node_modules/.package-lock.json -nt package-lock.json ] || npm ci --no-audit --no-fund; } && npm run --silent build; fi
	@if [ -d examples/go-provider ]; then \
		cd examples/go-provider && GOOS=wasip1 GOARCH=wasm CGO_ENABLED=0 $(GO) build -buildmode=c-shared -o go-provider.wasm .; fi

# make run: build the host and the plugins, then serve (which creates the
# database if it is missing and applies migrations). Settings come from the
# environment, or from a .env file (KEY=value lines) when one exists; see
# examples/env.example. DATABASE_URL defaults to the local server.
run: build plugins
	@set -a; [ ! -f .env ] || . ./.env; set +a; \
	export DATABASE_URL="$${DATABASE_URL:-postgres://postgres@127.0.0.1:5432/tzurot?sslmode=disable}"; \
	exec ./$(BIN) serve

# make doctor: check the setup (settings, database, plugins, Discord, DNS)
# with the same environment make run uses (.env and the default database).
doctor: build
	@set -a; [ ! -f .env ] || . ./.env; set +a; \
	export DATABASE_URL="$${DATABASE_URL:-postgres://postgres@127.0.0.1:5432/tzurot?sslmode=disable}"; \
	./$(BIN) doctor

test: plugins examples
	$(GO) vet $(TEST_PKGS)
	@unformatted=$$(gofmt -l host internal sdk plugins examples); if [ -n "$$unformatted" ]; then echo "gofmt needed:"; echo "$$unformatted"; exit 1; fi
	$(GO) test $(TEST_FLAGS) $(TEST_PKGS)
	# disgo's own gateway code races when a real websocket closes, so the few
	# websocket end-to-end tests (build tag !race) run once more without -race.
	$(GO) test -count=1 -run 'Gateway' ./host/internal/discord/ ./host/internal/app/

bench: plugins examples
	$(GO) test -run '^$$' -bench . -benchmem -count=1 $(TEST_PKGS)

fmt:
	gofmt -w host internal sdk plugins examples

# Regenerate host/internal/store/query from schema/ (sqlc.yaml). CGO_ENABLED=0
# selects sqlc's pure-Go parser, which builds in about a minute.
sqlc:
	CGO_ENABLED=0 $(GO) run github.com/sqlc-dev/sqlc/cmd/sqlc@v1.31.1 generate

clean:
	rm -rf bin dist
	find plugins examples -name '*.wasm' -delete

FORCE:
