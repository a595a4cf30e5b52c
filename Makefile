# entra-purge — make targets. Run `make help` for the list.
SHELL := /bin/bash
.DEFAULT_GOAL := help

GO        ?= go
STATICCHECK_VERSION := v0.8.2

.PHONY: help
help: ## list the targets
	@grep -hE '^[a-zA-Z_-]+:.*## ' $(MAKEFILE_LIST) | awk -F':.*## ' '{printf "  %-12s %s\n", $$1, $$2}'

.PHONY: build
build: ## build ./handler (linux/amd64, static, stripped) where host.json expects it: infra/scripts/build.sh
	sh infra/scripts/build.sh handler

# The Service Bus emulator (a stand-in) and the infra checker are Node programs with their own lock files.
standin/sbemu/emulator/node_modules/.package-lock.json: standin/sbemu/emulator/package-lock.json
	cd standin/sbemu/emulator && npm ci --no-audit --no-fund
tools/infracheck/node_modules/.package-lock.json: tools/infracheck/package-lock.json
	cd tools/infracheck && npm ci --no-audit --no-fund

.PHONY: deps
deps: standin/sbemu/emulator/node_modules/.package-lock.json tools/infracheck/node_modules/.package-lock.json ## install Go modules and the npm packages of the emulator and the infra checker
	$(GO) mod download

.PHONY: run
run: build deps ## the local stack: every stand-in, ./handler under the host stand-in, the demo (go run ./standin localstack)
	$(GO) run ./standin localstack

.PHONY: test
test: build deps ## everything CI runs: vet, Go tests (race), emulator tests, infra checks
	$(GO) vet ./...
	$(GO) test -race -count=1 -timeout 15m ./...
	cd standin/sbemu/emulator && npm test
	$(MAKE) --no-print-directory infra-check

.PHONY: chaos
chaos: build deps ## 2,000 requests through Graph, identity and Service Bus faults and handler kills, then a ledger of where each ended (a few minutes; not in make test; CHAOS_FLAGS="-seed 7")
	$(GO) run ./chaos/cmd/chaos $(CHAOS_FLAGS)

.PHONY: bench
bench: build deps ## the issue-10 figures on the stand-ins (~4 min): bench/results.json, docs/benchmarks.md and .svg
	$(GO) run ./bench

.PHONY: microbench
microbench: ## the Go micro-benchmarks (go test -bench): parsing, decoding, one invocation in-process
	$(GO) test -run '^$$' -bench . -benchmem ./...

.PHONY: fuzz
fuzz: ## run each fuzz target for a while (FUZZTIME, default 30s)
	$(GO) test ./internal/purge -run '^$$' -fuzz FuzzParseRequest -fuzztime $${FUZZTIME:-30s}
	$(GO) test ./internal/funcproto -run '^$$' -fuzz FuzzDecodeInvocation -fuzztime $${FUZZTIME:-30s}

.PHONY: infra-check
infra-check: tools/infracheck/node_modules/.package-lock.json ## offline checks of infra/ (parse every .bicep, consistency with the code)
	cd tools/infracheck && npm test

.PHONY: package
package: ## dist/entra-purge.zip: host.json, purge/, handler — what Azure runs
	bash infra/scripts/package.sh

.PHONY: lint
lint: ## gofmt, go vet, staticcheck
	@test -z "$$(gofmt -l $$(git ls-files '*.go'))" || { echo "gofmt needed:"; gofmt -l $$(git ls-files '*.go'); exit 1; }
	$(GO) vet ./...
	$(GO) run honnef.co/go/tools/cmd/staticcheck@$(STATICCHECK_VERSION) ./...

.PHONY: clean
clean: ## remove build output
	rm -rf handler dist bin
