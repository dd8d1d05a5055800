#!/usr/bin/env bash
# What `floe-bench` needs beyond the test suite's tools, installed only when missing:
# cmake and curl's headers (the rdkafka crate builds librdkafka from source: Debian's
# 2.0.2 cannot read Tansu's ApiVersions), moto_server (S3 on loopback), and the
# peer broker, Tansu 0.6.0 (the newest release that builds with Rust 1.95; its later
# releases, renamed nisshi, need 1.96). Then builds the release `floe` and `floe-bench`.
set -euo pipefail
cd "$(dirname "$0")/.."

step() { printf '\n==> %s\n' "$*"; }

step "system packages"
need=()
command -v cmake >/dev/null || need+=(cmake)
command -v pkg-config >/dev/null || need+=(pkg-config)
dpkg -s zlib1g-dev >/dev/null 2>&1 || need+=(zlib1g-dev)
# librdkafka 2.12's CMake build includes curl.h even without curl (it uses none of it)
dpkg -s libcurl4-openssl-dev >/dev/null 2>&1 || need+=(libcurl4-openssl-dev)
[ -f /usr/share/fonts/truetype/dejavu/DejaVuSans.ttf ] || need+=(fonts-dejavu-core)  # chart text
if [ ${#need[@]} -gt 0 ]; then
  SUDO=""; [ "$(id -u)" -eq 0 ] || SUDO="sudo"
  $SUDO apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq "${need[@]}"
fi

step "moto_server"
command -v moto_server >/dev/null || python3 -m pip install -q --disable-pip-version-check 'moto[server]'

step "tansu 0.6.0 (the peer broker; about 7 minutes to build)"
if ! command -v tansu >/dev/null || ! tansu --version 2>/dev/null | grep -q '0\.6\.0'; then
  nice -n 10 cargo install tansu --version 0.6.0 --locked --no-default-features --features dynostore
fi

step "release builds of floe and floe-bench"
nice -n 10 cargo build --release --locked -p floe-broker -p floe-bench
