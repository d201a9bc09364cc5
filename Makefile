# Thin wrappers over cargo and the scripts in deploy/. `make help` lists the targets.
SHELL := /bin/bash
CARGO ?= cargo

.PHONY: help run run-services test test-only test-standalone chaos bench flow lint fmt openapi infra-up infra-down stack-up stack-down stack-config

help: ## list the targets
	@grep -E '^[a-z-]+:.*## ' $(MAKEFILE_LIST) | awk -F':.*## ' '{printf "  %-14s %s\n", $$1, $$2}'

run: ## the whole system in one process, no servers to install (data in ./data); Ctrl-C stops it
	$(CARGO) run -q -p standalone -- $(ARGS)

run-services: ## both services as separate processes on local MariaDB, Redis and RabbitMQ
	deploy/local-infra/run-local.sh

test: ## every test: real MariaDB/Redis/RabbitMQ (started and stopped here), standalone, browser
	deploy/local-infra/with-infra.sh $(CARGO) test --workspace --all-targets
	deploy/examples/standalone-checks.sh

chaos: ## the chaos harness: real servers and services, process faults, invariants (ARGS=scenario numbers)
	deploy/chaos/run.sh $(ARGS)

bench: ## ceilings and every endpoint in both compositions, table in target/bench/ (SMOKE=1: a short check)
	deploy/bench/run.sh

test-standalone: ## the example flow and the Swagger UI browser check against the standalone binary
	deploy/examples/standalone-checks.sh

flow: ## the example flow against running services (make run in another terminal)
	deploy/examples/flow.sh

test-only: ## run the tests against servers named by TEST_MYSQL_URL/TEST_REDIS_URL/TEST_AMQP_URL
	$(CARGO) test --workspace --all-targets

lint: ## rustfmt check and clippy with warnings as errors
	$(CARGO) fmt --all -- --check
	$(CARGO) clippy --workspace --all-targets -- -D warnings
	$(CARGO) clippy -p adapters --features fault-points --all-targets -- -D warnings

fmt: ## format the code
	$(CARGO) fmt --all

openapi: ## regenerate openapi/order.json and openapi/product.json from the code
	@mkdir -p openapi
	$(CARGO) run -q -p order-service -- openapi > openapi/order.json
	$(CARGO) run -q -p product-service -- openapi > openapi/product.json

infra-up: ## start the local test servers (see deploy/local-infra/infra.sh)
	deploy/local-infra/infra.sh up

infra-down: ## stop the local test servers started by infra-up
	deploy/local-infra/infra.sh down

stack-config: ## validate docker-compose.yml
	docker-compose -f docker-compose.yml config -q

stack-up: ## build and start the docker compose stack (needs a Docker engine)
	docker compose up -d --build

stack-down: ## stop the docker compose stack
	docker compose down
