PYTHON ?= python3.11
VENV := .venv
PY := $(VENV)/bin/python

.PHONY: run test lint bench-sync clean

$(VENV)/.installed: requirements.txt requirements-dev.txt constraints.txt
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install -q --disable-pip-version-check -r requirements-dev.txt -c constraints.txt
	touch $@

## run: the product with embedded Redis, SQLite and the sandbox GitHub on http://127.0.0.1:8000/
run: $(VENV)/.installed
	$(PY) -m project.devrun

## test: the whole suite (PostgreSQL and Redis when DATABASE_URL / REDIS_URL are set); installs
## Debian's Chromium for the browser tests when it is missing and apt-get may (root or sudo)
test: $(VENV)/.installed
	@missing=""; \
	  command -v chromium >/dev/null 2>&1 || missing="chromium"; \
	  command -v nginx >/dev/null 2>&1 || test -x /usr/sbin/nginx || missing="$$missing nginx"; \
	  if [ -n "$$missing" ]; then \
	  SUDO=$$(test "$$(id -u)" = 0 || echo sudo -n); \
	  if command -v apt-get >/dev/null 2>&1 && $$SUDO true 2>/dev/null; then \
	    echo "installing $$missing for the browser and topology tests (apt-get)"; \
	    $$SUDO apt-get update -qq && DEBIAN_FRONTEND=noninteractive $$SUDO apt-get install -y -qq $$missing >/dev/null; \
	  else echo "$$missing missing and apt-get cannot install it here: the tests that need it will say so"; fi; fi
	PATH="$$PATH:/usr/sbin" $(PY) -m pytest

## lint: ruff and mypy (django-stubs loads settings: throwaway values with DEBUG off)
lint: $(VENV)/.installed
	$(VENV)/bin/ruff format --check .
	$(VENV)/bin/ruff check .
	DEBUG=0 SECRET_KEY=mypy ENCRYPTION_KEYS=x7rL0Ulh2c3jc6M1d3JXW1dnpzZxQp3Kqn2E3mYkP4A= \
	  ALLOWED_HOSTS=mypy $(VENV)/bin/mypy

## bench-sync: baseline vs engine on the sandbox at 50 ms (ARGS="--throughput" / "--memory")
bench-sync: $(VENV)/.installed
	$(PY) -m benchmarks.bench_sync $(ARGS)

clean:
	rm -rf $(VENV) var .pytest_cache .ruff_cache

## bench-repos: repository page: shell server time, 2,000 repositories on screen at 50 ms (ARGS="--repos N")
.PHONY: bench-repos
bench-repos: $(VENV)/.installed
	$(PY) -m benchmarks.bench_repos $(ARGS)

## bench-progress: live progress: commit-to-DOM latency in Chromium (>= 200 updates) and 500-socket fan-out at 5 updates/s (REDIS_URL, BENCH_DATABASE_URL optional; ARGS="--clients N --rate R")
.PHONY: bench-progress
bench-progress: $(VENV)/.installed
	$(PY) -m benchmarks.bench_progress $(ARGS)

## bench-load: 20 teams onboarding at once over HTTP against one worker pool (2 x 8) at 50 ms: each team's wall time and PRs/s beside the same teams one after another (REDIS_URL, BENCH_DATABASE_URL optional; ARGS="--teams N --acme-prs N")
.PHONY: bench-load
bench-load: $(VENV)/.installed
	$(PY) -m benchmarks.bench_load $(ARGS)

## bench-truth: the progress page's honesty on a 25-repository import at 50 ms: percent and ETA error, recovery after SIGKILL (ARGS="--prs N")
.PHONY: bench-truth
bench-truth: $(VENV)/.installed
	$(PY) -m benchmarks.bench_truth $(ARGS)

## bench-scale: the 20-team crowd on 1, 2 and 4 worker processes, 1,000 sockets on 1 and 2 Daphnes (REDIS_URL, BENCH_DATABASE_URL optional; ARGS="--processes 1 2 4 8 --sockets 2000 --webs 1 2 4")
.PHONY: bench-scale
bench-scale: $(VENV)/.installed
	$(PY) -m benchmarks.bench_scale $(ARGS)

## bench-sweep: GitHub points of one sweep of an idle 2,000-repository organization, and per hour at the default period, beside the incremental sync of every repository (ARGS="--repos N")
.PHONY: bench-sweep
bench-sweep: $(VENV)/.installed
	$(PY) -m benchmarks.bench_sweep $(ARGS)

## bench-recent: a first import of 200 repositories at 50 ms: when every repository's last 30 days are stored beside the whole import's time, and PRs/s beside main's (ARGS="--prs N --baseline-ref REF --no-baseline")
.PHONY: bench-recent
bench-recent: $(VENV)/.installed
	$(PY) -m benchmarks.bench_recent $(ARGS)
