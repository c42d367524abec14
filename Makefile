# manygil: the two commands a newcomer needs are `make demo` and `make test`.
# Both provision what is missing (CPython 3.13/3.14/3.15, venvs, tools) into
# ${XDG_CACHE_HOME:-~/.cache}/manygil and .venv/, then build and run.

VERSIONS      ?= 3.13 3.14 3.15
DEBUG_VERSION := 3.13d
DEMO_VERSION  ?= 3.14
PYTEST_ARGS   ?=
SHELL         := /bin/bash
ROOT          := $(CURDIR)
# One target dir for the pure-Rust parts; one per Python version for the extension,
# because pyo3-ffi's build configuration differs per interpreter and a shared dir
# would rebuild it on every switch.
export CARGO_TARGET_DIR = $(ROOT)/target
# cargo test/clippy of the glue crate embed CPython: link the shared 3.13 build.
PY313          = $(shell toolchain/python.sh 3.13)

.PHONY: all demo test provision venvs build rust-test rust-lint py-lint py-test pytest-debug clean

all: build

provision:
	@for v in $(VERSIONS) $(DEBUG_VERSION); do toolchain/python.sh $$v >/dev/null || exit 1; done

venvs: provision
	@for v in $(VERSIONS) $(DEBUG_VERSION); do toolchain/venv.sh $$v || exit 1; done

# Build manygil._native in development mode into every venv (skipped for a venv whose
# build inputs have not changed since its last build).
BUILD_INPUTS = $(shell find crates python/manygil -name '*.rs' -o -name '*.toml' -o -name 'build.rs' | sort) Cargo.lock pyproject.toml
build: venvs
	@sum=$$(cat $(BUILD_INPUTS) | sha256sum | cut -c1-16); \
	for v in $(VERSIONS) $(DEBUG_VERSION); do \
	    if [ "$$(cat .venv/$$v/.manygil-build 2>/dev/null)" = "$$sum" ] \
	        && .venv/$$v/bin/python -c 'import manygil._native' 2>/dev/null; then continue; fi; \
	    echo "== build manygil for $$v"; \
	    log=target/build-$$v.log; mkdir -p target; \
	    if ! VIRTUAL_ENV=$(ROOT)/.venv/$$v CARGO_TARGET_DIR=$(ROOT)/target/py$$v \
	        .venv/$$v/bin/maturin develop --release --quiet >$$log 2>&1; then \
	        cat $$log; echo "build for $$v failed"; exit 1; \
	    fi; \
	    .venv/$$v/bin/python -c 'import manygil._native' || exit 1; \
	    echo "$$sum" > .venv/$$v/.manygil-build; \
	done

rust-lint: venvs
	cargo fmt --all --check
	PYO3_PYTHON=$(PY313) cargo clippy --workspace --all-targets -- -D warnings

rust-test: venvs
	cargo test -p manygil-core
	PYO3_PYTHON=$(PY313) cargo test -p manygil-python

py-lint: build
	.venv/3.13/bin/ruff check python tests bench
	.venv/3.13/bin/ruff format --check python tests bench
	@# The .pyi stub must match the built native module (names and signatures).
	cd target && ../.venv/$(DEMO_VERSION)/bin/python -m mypy.stubtest manygil._native

# One pytest run per version (the bench command's own tests only on DEMO_VERSION, which has
# every backend), two at a time: most tests wait on interpreters, threads and subprocesses
# rather than compute. Each run logs to target/pytest-<version>.log, printed when done.
PYTEST_RUNS = $(addprefix pytest-,$(VERSIONS)) pytest-debug

py-test: build
	@mkdir -p target
	@$(MAKE) --no-print-directory -j2 $(PYTEST_RUNS)
	@# One closing line with the totals of every run above.
	@for f in $(addprefix target/,$(addsuffix .log,$(PYTEST_RUNS))); do tail -n 1 $$f; done \
	    | awk '{for (i = 1; i < NF; i++) { if ($$(i+1) ~ /^passed/) p += $$i; \
	        if ($$(i+1) ~ /^failed/) f += $$i; if ($$(i+1) ~ /^skipped/) s += $$i } } \
	        END { printf "pytest: %d passed, %d failed, %d skipped\n", p, f, s }'

pytest-%: build
	@sel="not bench"; [ "$*" = "$(DEMO_VERSION)" ] && sel=""; \
	if .venv/$*/bin/python -m pytest -q -p no:cacheprovider -m "$$sel" $(PYTEST_ARGS) \
	    >target/pytest-$*.log 2>&1; then \
	    echo "== pytest on $*: $$(tail -n 1 target/pytest-$*.log)"; \
	else cat target/pytest-$*.log; echo "== pytest on $* FAILED"; exit 1; fi

# The core tests under a --with-pydebug build, whose assertions catch objects used in the
# wrong interpreter and reference-count errors.
pytest-debug: build
	@if .venv/$(DEBUG_VERSION)/bin/python -X dev -m pytest -q -p no:cacheprovider -m "not slow" \
	    $(PYTEST_ARGS) tests/test_native_module.py tests/test_codec.py tests/test_interpreters.py \
	    tests/test_pool.py tests/test_queue.py tests/test_sync.py tests/test_shared_buffer.py \
	    >target/pytest-debug.log 2>&1; then \
	    echo "== pytest on the 3.13 debug build: $$(tail -n 1 target/pytest-debug.log)"; \
	else cat target/pytest-debug.log; echo "== pytest on the 3.13 debug build FAILED"; exit 1; fi

test: rust-lint py-lint rust-test py-test

demo: build
	.venv/$(DEMO_VERSION)/bin/python -m manygil bench --quick

clean:
	rm -rf target .venv python/manygil/*.so
