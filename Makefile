# FreshMart platform. `make help` lists the targets.
SHELL := /bin/bash
GO ?= go
# Two Go modules: the root (schemas, migrations, internal, services, web, scripts) and the broker.
PKGS := ./... ./broker/...

.PHONY: help build run test bench bench-broker bench-dashboard bench-complaints bench-reorder lint fmt clean

help: ## list the targets
	@grep -hE '^[a-zA-Z_-]+:.*## ' $(MAKEFILE_LIST) | awk -F':.*## ' '{printf "  %-14s %s\n", $$1, $$2}'

build: ## build every binary into bin/
	@mkdir -p bin
	$(GO) build -o bin/ ./broker/cmd/... ./services/cmd/... ./web/cmd/... ./scripts/cmd/...

run: build ## start Postgres, the broker, every service, the simulator and the dashboard
	@bash scripts/run.sh

test: ## run every test (what CI runs)
	@bash scripts/test.sh

bench: ## every benchmark: platform (POS throughput, sale-to-stock latency), broker vs kfake, dashboard at 100x, complaints
	@bash scripts/bench.sh
	@bash scripts/bench-dashboard.sh
	@$(GO) run ./services/bench/complaints

bench-broker: ## broker vs kfake, side by side
	@bash scripts/bench-broker.sh

.PHONY: kgo-suite
kgo-suite: ## franz-go's own integration suite (pkg/kgo) against a fresh broker (RUN='TestTxnEtl|TestConsumeRegex' for some)
	@bash broker/scripts/kgo-suite.sh $(if $(RUN),'$(RUN)')

bench-dashboard: ## simulator at 100x: sales/s, sale-to-websocket latency, CPU and RSS per process
	@bash scripts/bench-dashboard.sh

.PHONY: bench-etl
bench-etl: ## analytics ETL: 10M staged lines into the star schema vs a raw COPY (ARGS="-lines 2000000" for fewer)
	$(GO) run ./services/bench/etl $(ARGS)

.PHONY: bench-signs
bench-signs: ## signs hub vs a centrifuge hub: 10,000 signs, a chain-wide price change and a promotion on 500 SKUs (ARGS="-signs 2000 -rounds 1")
	@$(GO) run ./services/bench/signs $(ARGS)

bench-complaints: ## complaints: 1,000,000 folded/s, third complaint's 202 to its spike alert at 100/s (ARGS="-complaints 100000")
	@$(GO) run ./services/bench/complaints $(ARGS)

bench-reorder: ## reorder: events folded/s into Postgres, and the lag at the simulator's -rate 100 (ARGS="-events 50000")
	@$(GO) run ./services/bench/reorder $(ARGS)

.PHONY: bench-loyalty
bench-loyalty: ## loyalty: pos-sales events folded/s into the ledger, consumer lag at the simulator's -rate 100 (ARGS="-events 50000")
	@$(GO) run ./services/bench/loyalty $(ARGS)

lint: ## gofmt, go mod tidy, each module on its own (GOWORK=off), go vet, staticcheck (pinned in go.mod)
	@bash scripts/lint.sh

fmt: ## gofmt every module
	gofmt -w .

clean: ## remove build output (keeps .data/)
	rm -rf bin artifacts
