# The two commands of README.md: `make book` and `make test`. Both use the active Python environment.
PYTHON ?= python3
PIP := $(PYTHON) -m pip
export PYTHONUNBUFFERED := 1
# Repro defaults (override: make repro MODEL=edsr-baseline SCALE=2 PRESET=paper [ITERS=1000])
MODEL ?= srcnn
SCALE ?= 2
PRESET ?= quick
ITERS ?=
DATA ?= $(SR_DATA_DIR)
WEIGHTS ?= $(SR_WEIGHTS_DIR)

.PHONY: install book test student repro results chapter-measurements quick-runs studies league league-page chapter-times verify-results clean

install:  ## sr_lib with the book and test extras; torch only if it is not importable yet (Colab keeps its own)
	@$(PYTHON) -c "import torch" 2>/dev/null || $(PIP) install "torch>=2.2"
	$(PIP) install -q -e ".[book,test]"

book: install  ## execute every chapter and build the site into _build/html (warnings are errors)
	$(PYTHON) -c "from jupyter_book.cli.main import main; main()" build . --warningiserror --keep-going

# The chapters are executed once, by `make book`; tests/test_notebook_outputs.py then compares their checked cells
# with the committed outputs (without a build it skips, with the reason).
test: install  ## the test suite (tests/): unit, golden, data tests, and the checked cells of the last book build
	$(PYTHON) -m pytest tests -p no:cacheprovider $(PYTEST_ARGS)

student: install  ## the student edition: every notebook of the book without solutions, into student/
	$(PYTHON) -m sr_lib.cli student --out student

repro: install  ## papermill: train + evaluate MODEL through the reproduction notebook (resumes results/repro/<run>)
	$(PYTHON) -m sr_lib.cli repro --model $(MODEL) --scale $(SCALE) --preset $(PRESET) --output results/repro \
		$(if $(ITERS),--iters $(ITERS)) $(if $(DATA),--data-dir $(DATA)) $(if $(WEIGHTS),--weights-dir $(WEIGHTS))

results: install  ## regenerate every committed results file from one clean commit (needs SR_DATA_DIR, SR_WEIGHTS_DIR)
	@test -n "$(DATA)" -a -n "$(WEIGHTS)" || { echo "make results needs SR_DATA_DIR and SR_WEIGHTS_DIR"; exit 2; }
	@$(PYTHON) -m sr_lib.results clean-commit >/dev/null  # refuses modified code (sr_lib, book, benchmarks, ...)
	for s in 2 3 4; do for p in standard matlab-y; do \
	  $(PYTHON) -m sr_lib.cli eval --model bicubic --scale $$s --dataset Set5 --dataset Set14 --dataset B100 \
	    --data-dir $(DATA) --protocol $$p --json results/bicubic_x$${s}_$$p.json || exit 1; \
	  $(PYTHON) -m sr_lib.cli eval --model srcnn --scale $$s --dataset Set5 --dataset Set14 --dataset B100 \
	    --weights $(WEIGHTS)/srcnn/9-5-5_ImageNet/x$$s.mat --data-dir $(DATA) --protocol $$p \
	    --json results/srcnn_x$${s}_$$p.json || exit 1; \
	done; for p in standard float; do \
	  $(PYTHON) -m sr_lib.cli eval --model vdsr-nobias --scale $$s --dataset Set5 --dataset Set14 \
	    --weights $(WEIGHTS)/vdsr/model_epoch_50.pth --data-dir $(DATA) --protocol $$p \
	    --json results/vdsr-nobias_x$${s}_$$p.json || exit 1; \
	done; done
	$(PYTHON) benchmarks/bench_inference.py --device cpu --size 45x80 --scale 4 --repeat 5 --warmup 2 \
	  --models srcnn vdsr-nobias edsr-baseline srresnet msrn rcan --json results/bench_inference_cpu_45x80.json
	$(PYTHON) benchmarks/bench_train.py --data-dir $(DATA) --iters 60 --repeat 3 --json results/bench_train_cpu.json
	$(MAKE) chapter-measurements
	$(MAKE) quick-runs
	$(PYTHON) -m sr_lib.results check-commit results/*.json results/train/*/result.json  # one clean commit

# Measurements chapters 5 and 6 read (one thread: the numbers are per core): Newton-Schulz vs eigendecomposition,
# CSNLN's time and memory against the input size, cross-scale patch recurrence of the test sets (Urban100 if present).
chapter-measurements: install  ## the benchmarks/ files of chapters 5-6 (a few CPU minutes; needs SR_DATA_DIR)
	@test -n "$(DATA)" || { echo "make chapter-measurements needs SR_DATA_DIR"; exit 2; }
	OMP_NUM_THREADS=1 $(PYTHON) benchmarks/newton_schulz.py --json results/bench_newton_schulz_cpu.json
	OMP_NUM_THREADS=1 $(PYTHON) benchmarks/csnln_cost.py --json results/bench_csnln_cost_cpu.json
	OMP_NUM_THREADS=1 $(PYTHON) benchmarks/csnln_recurrence.py --data-dir $(DATA) --json results/selfsim_recurrence_x2.json

# Every family's quick preset (the chapters' live runs), trained from scratch into results/train/<run>/.
QUICK_RUNS := srcnn:2 vdsr:2 edsr-baseline:2 edsr:2 mdsr:2 rcan:2 san:2 csnln:2 msrn:2 cmsc:2 srresnet:4 srgan:4 dan:2
quick-runs: install  ## train each family's quick recipe (a few CPU minutes each) into results/train/
	@test -n "$(DATA)" || { echo "make quick-runs needs SR_DATA_DIR"; exit 2; }
	for ms in $(QUICK_RUNS); do m=$${ms%:*}; s=$${ms#*:}; out=results/train/$${m}_x$${s}_quick_s0; rm -rf $$out; \
	  $(PYTHON) -m sr_lib.cli train --model $$m --scale $$s --preset quick --out $$out --data-dir $(DATA) \
	  || exit 1; done

# The chapters' multi-seed experiments (sr_lib/train/studies.py): background hours on 2 CPU cores, resumable (run the
# target again after an interruption), from a clean commit so that every results file names the code it ran.
STUDIES ?= --all-studies
studies: install  ## train + evaluate every missing seed of the chapters' studies into results/studies/
	@test -n "$(DATA)" || { echo "make studies needs SR_DATA_DIR"; exit 2; }
	@$(PYTHON) -m sr_lib.results clean-commit >/dev/null
	$(PYTHON) -m sr_lib.cli experiments run $(STUDIES) --data-dir $(DATA)

league: install  ## train + evaluate every missing seed of the equal-compute league into results/league/
	@test -n "$(DATA)" || { echo "make league needs SR_DATA_DIR"; exit 2; }
	@$(PYTHON) -m sr_lib.results clean-commit >/dev/null
	$(PYTHON) -m sr_lib.cli experiments run --league --data-dir $(DATA)

league-page: install  ## re-execute book/league.ipynb in place from the results files under results/league/
	$(PYTHON) -m jupyter execute --inplace book/league.ipynb

# The instructor page's numbers: every chapter executed end to end in quick mode, one at a time (about half an hour on
# 2 CPU cores; on a GPU machine the file is chapter_times_cuda.json). Run it from a clean commit on an idle machine.
CHAPTER_TIMES_DEVICE := $(shell $(PYTHON) -c "import torch; print('cuda' if torch.cuda.is_available() else 'cpu')" 2>/dev/null)
chapter-times: install  ## time every chapter's quick run into results/chapter_times_<device>.json
	@$(PYTHON) -m sr_lib.results clean-commit >/dev/null
	$(PYTHON) benchmarks/chapter_times.py --json results/chapter_times_$(CHAPTER_TIMES_DEVICE).json

verify-results: install  ## re-run every committed evaluation results file; print each difference (exit 1 if any)
	$(PYTHON) -m sr_lib.results verify results/*.json $(if $(DATA),--data-dir $(DATA)) \
	  $(if $(WEIGHTS),--weights-dir $(WEIGHTS))

clean:
	rm -rf _build .pytest_cache results/repro
