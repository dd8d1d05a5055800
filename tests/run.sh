#!/usr/bin/env bash
# Floe's whole test suite, from a fresh Debian machine with the Rust toolchain:
# installs what the tests need (kcat and librdkafka, Python clients, kafkajs, moto_server),
# checks formatting and lints, runs the Rust tests, builds the real `floe` binary and
# runs the end-to-end tests against it with real clients, over a local directory and
# over S3 (moto_server on loopback). `.ci/run` calls exactly this.
set -euo pipefail
cd "$(dirname "$0")/.."

step() { printf '\n==> %s\n' "$*"; }

step "system packages"
need=()
command -v kcat >/dev/null || need+=(kcat)
dpkg -s librdkafka-dev >/dev/null 2>&1 || need+=(librdkafka-dev)
# floe-bench builds librdkafka from source (rdkafka's cmake-build; librdkafka 2.12's CMake
# build includes curl.h even without curl)
command -v cmake >/dev/null || need+=(cmake)
command -v pkg-config >/dev/null || need+=(pkg-config)
dpkg -s zlib1g-dev >/dev/null 2>&1 || need+=(zlib1g-dev)
dpkg -s libcurl4-openssl-dev >/dev/null 2>&1 || need+=(libcurl4-openssl-dev)
command -v npm >/dev/null || need+=(nodejs npm)
# floe-bench's report test draws text on its charts with this font
[ -f /usr/share/fonts/truetype/dejavu/DejaVuSans.ttf ] || need+=(fonts-dejavu-core)
if [ ${#need[@]} -gt 0 ]; then
  SUDO=""; [ "$(id -u)" -eq 0 ] || SUDO="sudo"
  $SUDO apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq "${need[@]}"
fi

step "python packages"
python3 -m pip install -q --disable-pip-version-check -r tests/requirements.txt 2>&1 | grep -v "Running pip as the 'root' user" || true
command -v moto_server >/dev/null || { echo "moto_server missing after pip install" >&2; exit 1; }

step "node packages (kafkajs)"
npm ci --prefix tests/e2e/js --no-audit --no-fund --loglevel=error

step "format and lints"
cargo fmt --all -- --check
cargo clippy --workspace --all-targets --locked -- -D warnings

step "rust tests"
if command -v cargo-nextest >/dev/null; then
  cargo nextest run --workspace --locked --no-fail-fast
else
  cargo test --workspace --locked --no-fail-fast
fi

step "fuzzing request decoding and dispatch (bounded)"
# cargo-fuzz wants nightly flags; RUSTC_BOOTSTRAP lets this stable toolchain take them.
# Sanitizers stay off (they need nightly's std); libFuzzer still finds panics and aborts.
command -v cargo-fuzz >/dev/null || cargo install cargo-fuzz --version 0.13.2 --locked
# --dev: an unoptimised build costs half the time of a release one (the whole dependency
# tree is built again, instrumented); a third of the executions per second is the price.
(cd fuzz && RUSTC_BOOTSTRAP=1 cargo fuzz run --dev -s none request corpus/request -- \
  -max_total_time="${FLOE_FUZZ_SECONDS:-60}" -rss_limit_mb=4096 -print_final_stats=1 2>&1 | tail -n 12)

step "end-to-end tests (real floe binary, real clients, fs and S3)"
# The debug build: its dependencies are already compiled for the Rust tests, so this is
# minutes cheaper than a release build. Speed is measured in bench/, not here.
cargo build --locked -p floe-broker
export FLOE_BIN="$PWD/target/debug/floe"
python3 -m pytest tests/e2e -q -p no:warnings -p no:cacheprovider
