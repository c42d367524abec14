# manygil: the two commands a newcomer needs are `make demo` and `make test`.
# Both provision what is missing (CPython, venvs, tools) into
# ${XDG_CACHE_HOME:-~/.cache}/manygil and .venv/, then build and run: `make demo` only
# DEMO_VERSION, `make test` every version in VERSIONS plus the debug build.
# `make wheel` builds release wheels for WHEEL_VERSIONS and an sdist into dist/.
# `make compat` regenerates docs/compatibility.md (VERSION=3.14 by default; needs the network).

VERSIONS      ?= 3.13 3.14 3.15
DEBUG_VERSION := 3.13d
DEMO_VERSION  ?= 3.14
WHEEL_VERSIONS ?= 3.13 3.14 3.15
PYTEST_ARGS   ?=
SHELL         := /bin/bash
ROOT          := $(CURDIR)
# One target dir for the pure-Rust parts; one per Python version for the extension,
# because pyo3-ffi's build configuration differs per interpreter and a shared dir
# would rebuild it on every switch.
export CARGO_TARGET_DIR = $(ROOT)/target
# clippy and rustdoc of the glue crate build against the shared 3.13 (its tests run on every version).
PY313          = $(shell toolchain/python.sh 3.13)
# Each step says what it does and how long it took (toolchain/step.sh).
STEP          := toolchain/step.sh
START         := $(shell date +%s)

.PHONY: all demo test provision venvs build rust-test rust-lint py-lint py-test pytest-debug clean \
	wheel test-wheel loom compat

all: build

provision:
	@for v in $(VERSIONS) $(DEBUG_VERSION); do \
	    $(STEP) "provision CPython $$v" toolchain/python.sh $$v || exit 1; done

venvs: provision
	@for v in $(VERSIONS) $(DEBUG_VERSION); do \
	    $(STEP) "virtual environment .venv/$$v" toolchain/venv.sh $$v $(VENV_OPTIONS) || exit 1; done

# Build manygil._native in development mode into every venv (skipped for a venv whose
# build inputs have not changed since its last build).
BUILD_INPUTS = $(shell find crates python/manygil -name '*.rs' -o -name '*.toml' -o -name 'build.rs' | sort) Cargo.lock pyproject.toml
build: venvs
	@sum=$$(cat $(BUILD_INPUTS) | sha256sum | cut -c1-16); \
	for v in $(VERSIONS) $(DEBUG_VERSION); do \
	    if [ "$$(cat .venv/$$v/.manygil-build 2>/dev/null)" = "$$sum" ] \
	        && .venv/$$v/bin/python -c 'import manygil._native' 2>/dev/null; then \
	        echo "== build manygil for $$v: up to date"; continue; fi; \
	    $(STEP) --log target/build-$$v.log "build manygil for $$v (maturin develop --release)" \
	        env VIRTUAL_ENV=$(ROOT)/.venv/$$v CARGO_TARGET_DIR=$(ROOT)/target/py$$v \
	        .venv/$$v/bin/maturin develop --release --quiet || exit 1; \
	    .venv/$$v/bin/python -c 'import manygil._native' || exit 1; \
	    echo "$$sum" > .venv/$$v/.manygil-build; \
	done

rust-lint: venvs
	@$(STEP) "cargo fmt --check" cargo fmt --all --check
	@# The glue crate's layers, file cycles and C-API gate (docs/design.md, "Layers").
	@$(STEP) "check_layers" .venv/3.13/bin/python toolchain/check_layers.py
	@$(STEP) "cargo clippy" env PYO3_PYTHON=$(PY313) cargo clippy --workspace --all-targets -- -D warnings
	@# The public Rust API's rustdoc must render without broken links or warnings.
	@$(STEP) "cargo doc" env PYO3_PYTHON=$(PY313) RUSTDOCFLAGS="-D warnings" \
	    cargo doc -q --no-deps -p manygil-core -p manygil-serve -p manygil-python

rust-test: venvs
	@$(STEP) "cargo test -p manygil-core" cargo test -q -p manygil-core
	@$(STEP) "cargo test -p manygil-serve" cargo test -q -p manygil-serve
	@# The glue crate's tests embed CPython: once per version (the Rust API's doctests, its
	@# example and the pool tests), each in its version's own target dir (pyo3-ffi's build
	@# configuration differs), linked as toolchain/embed-env.sh says for that CPython.
	@for v in $(VERSIONS); do \
	    $(STEP) "cargo test -p manygil-python on $$v (with the Rust API's doctests and example)" \
	        toolchain/embed-env.sh $$v -- env CARGO_TARGET_DIR=$(ROOT)/target/py$$v \
	        cargo test -q -p manygil-python || exit 1; \
	done

py-lint: build
	@$(STEP) "ruff check" .venv/3.13/bin/ruff check python tests bench toolchain
	@$(STEP) "ruff format --check" .venv/3.13/bin/ruff format --check python tests bench toolchain
	@# The .pyi stub must match the built native module (names and signatures).
	@cd target && $(ROOT)/$(STEP) "stubtest manygil._native" \
	    $(ROOT)/.venv/$(DEMO_VERSION)/bin/python -m mypy.stubtest manygil._native

# One pytest run per version (the bench command's own tests only on DEMO_VERSION, which has
# every backend; the Dask cluster tests on every version: 3.13 crashed there alone), two at a time: most tests wait on interpreters,
# threads and subprocesses rather than compute. Each run logs to target/pytest-<version>.log, printed when done.
PYTEST_RUNS = $(addprefix pytest-,$(VERSIONS)) pytest-debug
# What a pytest-<version> run needs first; py-test has built it already and passes nothing.
PYTEST_NEEDS ?= build

py-test: build test-wheel
	@mkdir -p target
	@$(STEP) "pytest on $(VERSIONS) and the debug build, two runs at a time" \
	    $(MAKE) --no-print-directory -j2 $(PYTEST_RUNS) PYTEST_NEEDS=
	@# One closing line with the totals of every run above.
	@for f in $(addprefix target/,$(addsuffix .log,$(PYTEST_RUNS))); do tail -n 1 $$f; done \
	    | awk '{for (i = 1; i < NF; i++) { if ($$(i+1) ~ /^passed/) p += $$i; \
	        if ($$(i+1) ~ /^failed/) f += $$i; if ($$(i+1) ~ /^skipped/) s += $$i } } \
	        END { printf "pytest: %d passed, %d failed, %d skipped\n", p, f, s }'

pytest-%: $(PYTEST_NEEDS)
	@sel="not bench and not wheel"; [ "$*" = "$(DEMO_VERSION)" ] && sel=""; \
	if .venv/$*/bin/python -m pytest -q -p no:cacheprovider -m "$$sel" $(PYTEST_ARGS) \
	    >target/pytest-$*.log 2>&1; then \
	    echo "== pytest on $*: $$(tail -n 1 target/pytest-$*.log)"; \
	else cat target/pytest-$*.log; echo "== pytest on $* FAILED"; exit 1; fi

# The core tests under a --with-pydebug build, whose assertions catch objects used in the
# wrong interpreter and reference-count errors.
pytest-debug: $(PYTEST_NEEDS)
	@if .venv/$(DEBUG_VERSION)/bin/python -X dev -m pytest -q -p no:cacheprovider -m "not slow" \
	    $(PYTEST_ARGS) tests/test_native_module.py tests/test_codec.py tests/test_interpreters.py \
	    tests/test_pool.py tests/test_queue.py tests/test_sync.py tests/test_shared_buffer.py \
	    tests/test_lifecycle.py::test_interpreters_that_imported_datetime_end_cleanly \
	    >target/pytest-debug.log 2>&1; then \
	    echo "== pytest on the 3.13 debug build: $$(tail -n 1 target/pytest-debug.log)"; \
	else cat target/pytest-debug.log; echo "== pytest on the 3.13 debug build FAILED"; exit 1; fi

test: rust-lint py-lint rust-test loom py-test
	@echo "== make test: everything passed, $$(( $$(date +%s) - $(START) )) s in all"

# loom models of the core's blocking primitives (crates/manygil-core/tests/loom.rs): every
# interleaving within the preemption bound; a few seconds once built.
loom:
	@$(STEP) "loom models of the core's primitives" env RUSTFLAGS="--cfg loom" \
	    CARGO_TARGET_DIR=$(ROOT)/target/loom LOOM_MAX_PREEMPTIONS=3 \
	    cargo test -q -p manygil-core --release --test loom

# Only what the demo runs: DEMO_VERSION's interpreter, a venv with maturin alone, the build
# (no 3.13 source build, no test tools).
demo:
	@$(MAKE) --no-print-directory build VERSIONS=$(DEMO_VERSION) DEBUG_VERSION= \
	    VENV_OPTIONS=--build-only
	@$(STEP) "python -m manygil bench --quick (Python $(DEMO_VERSION))" \
	    .venv/$(DEMO_VERSION)/bin/python -m manygil bench --quick
	@echo "== make demo: $$(( $$(date +%s) - $(START) )) s in all"

# Release wheels (stripped; the manylinux tag maturin's audit allows) and an sdist in dist/.
# toolchain/wheel.sh skips a wheel whose inputs have not changed since it was built.
wheel:
	@$(STEP) "release wheels for $(WHEEL_VERSIONS)" toolchain/wheel.sh --dist dist $(WHEEL_VERSIONS)
	@$(STEP) "sdist" .venv/$(firstword $(WHEEL_VERSIONS))/bin/maturin sdist --out dist

# The wheel tests/test_wheel.py installs (DEMO_VERSION's), built before the pytest runs start.
test-wheel: build
	@$(STEP) "release wheel for $(DEMO_VERSION) (for tests/test_wheel.py)" \
	    toolchain/wheel.sh $(DEMO_VERSION)

# docs/compatibility.md: `python -m manygil check` on the 100 most-downloaded PyPI
# packages (toolchain/top-packages.txt), each installed separately into a throwaway venv
# under target/compat/<version>/ (toolchain/compat.sh). Needs the network and takes a
# while, so it is not part of `make test`; tests/test_compat_table.py covers the renderer.
# VERSION chooses the Python (3.13, 3.14 or 3.15).
VERSION ?= 3.14
compat:
	@$(MAKE) --no-print-directory build VERSIONS=$(VERSION) DEBUG_VERSION=
	@$(STEP) "compatibility table on Python $(VERSION) (docs/compatibility.md)" \
	    toolchain/compat.sh $(VERSION)

clean:
	rm -rf target .venv python/manygil/*.so
