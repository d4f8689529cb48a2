# medclaim — the two commands a new machine needs are `make demo` and `make test`.
PYTHON ?= python3.11
VENV   ?= .venv
PY     := $(VENV)/bin/python
STAMP  := $(VENV)/.installed
# An editable install leaves medclaim's own modules uncompiled, and with PYTHONDONTWRITEBYTECODE set
# (as on many CI machines) every process would compile them again (about 0.1 s a run): compile them
# once, and again before the tests and benchmarks run (only what changed is compiled)
COMPILE = $(PY) -m compileall -q medclaim

.PHONY: setup demo test bench bench-10m clean

$(STAMP): pyproject.toml
	@command -v $(PYTHON) >/dev/null 2>&1 || { echo "need $(PYTHON) on PATH (or: make PYTHON=python3 ...)"; exit 2; }
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet -e '.[test,spark]'
	$(COMPILE)
	touch $(STAMP)

setup: $(STAMP)

## Settle the bundled sample month (three hospital files) with the 东至县 2021 rule set.
demo: $(STAMP)
	$(VENV)/bin/medclaim settle sample_data/dongzhi-2021-03-hospital-a.csv \
		sample_data/dongzhi-2021-03-hospital-b.parquet sample_data/dongzhi-2021-03-hospital-c.xlsx \
		--rules anhui/dongzhi-2021 --out out/demo --format csv ; \
	status=$$?; [ $$status -le 1 ] || exit $$status; \
	echo "medclaim is installed in $(VENV)/: run $(VENV)/bin/medclaim --help, or: source $(VENV)/bin/activate (README: Settling a month)"

test: $(STAMP)
	$(COMPILE)
	$(PY) -m pytest

## Benchmark: synthetic claims (1M by default; `make bench N=10000000`): settle from scratch vs
## the same rules in DuckDB SQL and as a plain polars script (and a read-and-write floor), then a
## month settled into a ledger holding 9× as many claims; issue-12 targets reported (bench/README.md).
N ?= 1000000
REPEAT ?= 3
bench: $(STAMP)
	$(COMPILE)
	$(PY) -m bench.run --claims $(N) --repeat $(REPEAT)
	$(PY) -m bench.run --claims $(N) --scenario continuation --repeat $(REPEAT)
	$(PY) -m bench.run --claims $(N) --scenario report-compare --repeat $(REPEAT)
	$(PY) -m bench.run --claims $(N) --scenario audit --repeat $(REPEAT)

bench-10m: $(STAMP)
	$(MAKE) bench N=10000000

clean:
	rm -rf $(VENV) out bench/data bench/out .pytest_cache .hypothesis
