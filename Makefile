# zgoda: `make run` starts everything locally; `make test` runs every test and lint.
# Nothing here needs a hand-installed tool: Python tools live in venvs this file creates.

SHELL := /bin/bash
PYTHON ?= python3
VENV := .venv
SAM_VENV := .venv-sam
CHECKOV_VENV := .venv-checkov
FUZZ_VENV := .venv-schemathesis
export CARGO_TARGET_DIR ?= $(CURDIR)/target
export PATH := $(CURDIR)/$(VENV)/bin:$(PATH)
# Only loopback traffic, and never a real AWS account by accident.
export AWS_EC2_METADATA_DISABLED := true
export SAM_CLI_TELEMETRY := 0

# One build serves `make run`, `make test` and `make bench` (Cargo.toml's `local` profile).
PROFILE := local
BIN := $(CARGO_TARGET_DIR)/$(PROFILE)
LOCAL := $(BIN)/zgoda-local

SUDO := $(shell [ "$$(id -u)" = 0 ] || echo sudo)

.PHONY: run test check lint smoke setup venv tools browser build fuzz-api lint-infra bench package deploy clean

$(VENV)/.stamp: requirements/local.txt
	$(PYTHON) -m venv $(VENV)
	$(VENV)/bin/pip install --quiet --disable-pip-version-check -r requirements/local.txt
	touch $@

# Each tool with pins of its own (SAM CLI, checkov, schemathesis) gets its own venv, from its own
# requirements file: .venv-sam from requirements/sam.txt, and so on.
.venv-%/.stamp: requirements/%.txt
	$(PYTHON) -m venv .venv-$*
	.venv-$*/bin/pip install --quiet --disable-pip-version-check -r $<
	touch $@

venv: $(VENV)/.stamp

tools: $(VENV)/.stamp $(SAM_VENV)/.stamp $(CHECKOV_VENV)/.stamp $(FUZZ_VENV)/.stamp

# Browser tests drive Debian's Chromium through chromedriver.
browser:
	@command -v chromium >/dev/null && command -v chromedriver >/dev/null || { \
	  $(SUDO) apt-get update -qq && DEBIAN_FRONTEND=noninteractive $(SUDO) apt-get install -y -qq chromium chromium-driver; }

# Everything `make test` installs (the venvs and Debian's Chromium), and nothing built.
setup: tools browser

# Everything, tests included, in the one profile: the benchmarks run the binaries the tests
# passed on (they are run only by `make bench`, never by `make test`).
build:
	cargo build --profile $(PROFILE) --workspace --lib --bins --tests

run: venv build
	$(LOCAL) run

# Formatting and lints first: they fail in seconds to minutes, before the long build.
lint:
	cargo fmt --all -- --check
	cargo clippy --profile $(PROFILE) --workspace --all-targets -- -D warnings

# The fast loop: lints and the tests that need no emulator (unit tests, the adapters' tests over
# scripted SDK responses). The integration tests, the template's policy evaluation among them,
# run in `make test`.
check: lint
	cargo test --profile $(PROFILE) --workspace --lib --bins --tests --exclude zgoda-tests

# One build, one emulator for the whole run; every test makes its own table and secrets in it.
test: lint setup build
	$(LOCAL) with-emulator -- cargo test --profile $(PROFILE) --workspace --lib --bins --tests
	$(MAKE) fuzz-api
	$(MAKE) lint-infra

# The end-to-end check of a running stack: `make smoke URL=https://api.example.pl` with
# ZGODA_OPERATOR_KID and ZGODA_OPERATOR_KEY in the environment; without URL, the stack `make run`
# started. Health, a signed request, a form post, a mail to SES's mailbox simulator and its Send
# and Delivery events back through ses-events, each ✓ or what to fix. `make test` runs the same
# command against the local stack (tests/integration/cli.rs).
smoke: build
	$(BIN)/zgoda doctor $(if $(URL),--url $(URL))

# Schemathesis from openapi.yaml against a running local stack: no 5xx, everything as documented.
fuzz-api: tools build
	$(PYTHON) scripts/fuzz_api.py $(LOCAL) $(FUZZ_VENV)/bin/st

lint-infra: tools
	$(SAM_VENV)/bin/sam validate --lint --template infra/template.yaml --region eu-central-1
	$(VENV)/bin/cfn-lint infra/template.yaml
	$(CHECKOV_VENV)/bin/checkov --quiet --compact --skip-download --framework cloudformation --file infra/template.yaml

# Release-mode benchmarks; rewrites BENCHMARKS.md (each figure beside a same-run baseline).
# The build is `make test`'s, so after it nothing compiles: criterion's crypto benchmarks run
# inside zgoda-bench, which then measures cold starts, request cost, load and fan-out of the same
# binaries against one emulator.
bench: venv build
	$(BIN)/zgoda-bench crypto --out $(CARGO_TARGET_DIR)/criterion
	$(BIN)/zgoda-bench run --bin-dir $(BIN) --out $(CARGO_TARGET_DIR)/bench/system.json
	$(PYTHON) scripts/bench_report.py

# One arm64 zip per function (what SAM uploads), and their sizes against the 5 MB budget.
FUNCTIONS := intake operator links notifier deadline-watch retention-sweep ses-events
package: venv
	cargo lambda build --release --arm64 --output-format zip $(addprefix -p ,$(FUNCTIONS))
	$(PYTHON) scripts/package_sizes.py $(CARGO_TARGET_DIR)/lambda $(FUNCTIONS)

# Deploys to the AWS account in your environment; the first run asks for the parameters.
deploy: tools
	$(SAM_VENV)/bin/sam build --beta-features --template infra/template.yaml
	$(SAM_VENV)/bin/sam deploy $(if $(wildcard samconfig.toml),,--guided)

clean:
	rm -rf $(VENV) $(SAM_VENV) $(CHECKOV_VENV) $(FUZZ_VENV) .zgoda
	cargo clean
