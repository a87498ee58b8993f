# The two commands: `make run` and `make test`. Everything else is a helper.
SHELL := /bin/bash
.DEFAULT_GOAL := help

REDIS_PORT ?= 6390
POSTGRES_PORT ?= 5490
TEST_REDIS_PORT ?= 6391
ACTIONS_PORT ?= 5055
RASA_PORT ?= 5005
GATEWAY_PORT ?= 8080
VENV := .venv
RASA := $(VENV)/bin/rasa
PY := $(VENV)/bin/python

# Quiet, offline-friendly defaults for every Rasa command started from here.
export RASA_TELEMETRY_ENABLED := false
export SQLALCHEMY_SILENCE_UBER_WARNING := 1
export TF_CPP_MIN_LOG_LEVEL := 2
export PYTHONWARNINGS := ignore
# Project-local Redis with password-protected ACL users (scripts/redis.sh); the secrets are
# generated once under var/secrets/. Set these variables to use another Redis.
export PZ_REDIS_PASSWORD ?= $(shell scripts/secret.sh redis.password)
export PZ_REDIS_URL ?= redis://pz:$(PZ_REDIS_PASSWORD)@127.0.0.1:$(REDIS_PORT)/0
# Conversations: the project-local PostgreSQL (scripts/postgres.sh), user pz, database voltmart.
export PZ_POSTGRES_PASSWORD ?= $(shell scripts/secret.sh postgres.password)
export PZ_CONVERSATIONS_URL ?= postgresql://pz:$(PZ_POSTGRES_PASSWORD)@127.0.0.1:$(POSTGRES_PORT)/voltmart
export PZ_ACTION_SECRET ?= $(shell scripts/secret.sh action_secret)
export PZ_GATEWAY_SECRET ?= $(shell scripts/secret.sh gateway_secret)
# Generated answers (generation/): `PZ_GENERATOR_ENABLED=1 make run` also starts the local
# model server, whose API key is this development secret.
export PZ_GENERATOR_API_KEY ?= $(shell scripts/secret.sh llm_api_key)
LLM_PORT ?= 8081
GENERATING := $(filter 1 true yes on,$(PZ_GENERATOR_ENABLED))
# The event stream: Redis (default) or `PZ_EVENT_TRANSPORT=kafka make run` (the project's
# Kafka-compatible broker on 127.0.0.1:$(KAFKA_PORT)); `make run WORKERS=2` shares it.
export PZ_EVENT_TRANSPORT ?= redis
KAFKA_PORT ?= 9392
export PZ_KAFKA_BOOTSTRAP ?= 127.0.0.1:$(KAFKA_PORT)
export WORKERS ?= 1
KAFKA := $(filter kafka,$(PZ_EVENT_TRANSPORT))

.PHONY: help install install-dev run stop train demo-segments seed-demo test lint lint-responses \
	validate bench bench-generation eval-generation llm kafka bench-segmentation bench-spark retrain notebook experiments-report security-check shell \
	clean lock

help:  ## list the targets
	@grep -E '^[a-z-]+:.*## ' $(MAKEFILE_LIST) | awk -F':.*## ' '{printf "  make %-18s %s\n", $$1, $$2}'

install:  ## install what is missing (venv from requirements/runtime.txt, redis-server, PostgreSQL, Java)
	@scripts/install.sh

install-dev:  ## install also the test and lint tools (requirements/dev.txt)
	@scripts/install.sh --dev

run: install  ## start Redis and PostgreSQL, train if needed, start the servers and worker, publish segments, seed demo users
	@$(PY) -m responses.lint
	@scripts/redis.sh start dev $(REDIS_PORT)
	@scripts/postgres.sh start dev $(POSTGRES_PORT)
	@scripts/train.sh
	@$(if $(GENERATING),scripts/llm.sh start $(LLM_PORT))
	@$(if $(KAFKA),scripts/kafka.sh start $(KAFKA_PORT))
	@scripts/services.sh start $(ACTIONS_PORT) $(RASA_PORT) endpoints.yml $(GATEWAY_PORT)
	@$(MAKE) --no-print-directory demo-segments
	@$(MAKE) --no-print-directory seed-demo
	@scripts/banner.sh $(RASA_PORT) $(GATEWAY_PORT)

stop:  ## stop what `make run` started
	@scripts/services.sh stop
	@scripts/llm.sh stop
	@scripts/kafka.sh stop
	@scripts/redis.sh stop dev $(REDIS_PORT)
	@scripts/postgres.sh stop dev $(POSTGRES_PORT)

train: install  ## train the model if config, domain or data changed
	@scripts/train.sh

# The segment model of the generated shop history (tools/demo_segments.py); reused while the
# history and Redis still hold it, so a warm `make run` spends well under a second here.
demo-segments: install  ## train and publish segments on the generated shop history, if not done yet
	@$(VENV)/bin/voltmart-demo-segments

seed-demo: install  ## write the demo users (their order facts, consent) into Redis
	@$(VENV)/bin/voltmart-demo-users

test: install-dev  ## lint, import contracts, pytest (incl. end-to-end), rasa data validate, rasa test
	@TEST_REDIS_PORT=$(TEST_REDIS_PORT) scripts/test.sh

lint: install-dev  ## ruff, import contracts (.importlinter), dead code (vulture)
	@$(VENV)/bin/ruff check . && $(VENV)/bin/ruff format --check . && $(VENV)/bin/lint-imports --no-cache --no-logo && \
	  $(VENV)/bin/vulture

lint-responses: install  ## check the response catalogue (and the experiments naming its arms)
	@$(PY) -m responses.lint

validate: install  ## rasa data validate
	@$(RASA) data validate --fail-on-warnings

bench: install train  ## turns, answers, relevance, action server, worker, streams (Redis vs Kafka), gateway, responses, cluster, scope guard, generation; README
	@$(PY) -m bench.turns
	@$(PY) -m bench.answers
	@$(PY) -m bench.relevance
	@$(PY) -m bench.action_latency
	@$(PY) -m bench.realtime
	@scripts/install_kafka.sh
	@$(PY) -m bench.streams
	@$(PY) -m bench.gateway
	@$(PY) -m bench.responses
	@$(PY) -m bench.cluster
	@$(PY) -m bench.scope
	@scripts/install_llm.sh
	@$(PY) -m bench.generation
	@$(PY) -m bench.readme

kafka: install  ## install and start the Kafka-compatible broker (Tansu) on 127.0.0.1:$(KAFKA_PORT), create the topic
	@scripts/kafka.sh start $(KAFKA_PORT)

llm: install  ## build/install the local model server (once, ~5 min) and start it on 127.0.0.1:$(LLM_PORT)
	@scripts/llm.sh start $(LLM_PORT)

eval-generation: install  ## both packaged models on fixed shoppers: guard acceptance, traits, fact errors, HTML
	@scripts/install_llm.sh
	@$(PY) -m bench.eval_generation

bench-generation: install train  ## generation latency per model, budget fallbacks, memory, generated vs template turn
	@scripts/install_llm.sh
	@$(PY) -m bench.generation

bench-segmentation: install  ## segmentation at 1M synthetic users: time, memory, publish rate
	@$(PY) -m bench.segmentation --users $${USERS:-1000000}

bench-spark: install  ## segment train, scikit-learn vs Spark local[2]: 1M and 5M users, time, memory
	@$(PY) -m bench.segmentation_spark --users $${USERS:-1000000 5000000}

# The weekly segment retrain. Real data: make retrain EVENTS=endpoints.yml TRANSACTIONS=crm.csv
DEMO_DATA := var/segments/demo-data
EVENTS ?= $(DEMO_DATA)/events.parquet
TRANSACTIONS ?= $(DEMO_DATA)/transactions.csv
retrain: install  ## export, features, select, train, publish, report (synthetic demo data by default)
	@if [[ "$(TRANSACTIONS)" == "$(DEMO_DATA)/transactions.csv" && ! -f $(TRANSACTIONS) ]]; then \
	  $(VENV)/bin/segment demo-data --users 5000 -o $(DEMO_DATA); fi
	@$(VENV)/bin/segment retrain --events $(EVENTS) --transactions $(TRANSACTIONS) \
	  --workdir var/segments

notebook: install-dev  ## run notebooks/segments.ipynb: retrain, inspect, publish (namespace 'notebook'); copy with outputs in var/notebook/
	@scripts/redis.sh start dev $(REDIS_PORT) >/dev/null
	@mkdir -p var/notebook && $(VENV)/bin/jupyter-execute --timeout 600 \
	  --output ../var/notebook/segments notebooks/segments.ipynb
	@echo "executed notebook: var/notebook/segments.ipynb (open it with Jupyter; report.html under var/notebook/runs/)"

experiments-report: install  ## per-variant results, SRM check, offline policy values (HTML + text)
	@$(VENV)/bin/voltmart-experiments report --out var/reports/experiments.html

security-check: install-dev train  ## privacy, lock-down, fuzzing, fault and load tests; prints the table
	@scripts/security_check.sh

SENDER ?= user_casual
shell: install  ## chat in the terminal as a demo user: make shell SENDER=user_bargain
	@$(RASA) shell --endpoints endpoints.yml --port 5006 --conversation-id $(SENDER)

lock:  ## rewrite requirements/runtime.txt and dev.txt from the current venv
	@scripts/lock.sh

clean:  ## remove var/ (Redis data, logs) and trained models
	@$(MAKE) --no-print-directory stop || true
	rm -rf var models/*.tar.gz models/.fingerprint
