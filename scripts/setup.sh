#!/usr/bin/env bash
# Install hwnas with every runtime it drives, the dev tools and the example plugins.
# Idempotent; safe to run again. Needs only PyPI (and Debian's archive when root).
set -euo pipefail
cd "$(dirname "$0")/.."

if command -v apt-get >/dev/null 2>&1 && [ "$(id -u)" = 0 ]; then
  # Cross toolchains for the tvm-arm and tvm-hexagon targets, qemu-user for the emulated AArch64
  # board (hwnas board emulate adds Debian's arm64 architecture itself on first use);
  # Fashion-MNIST for supernet training.
  apt-get update -qq
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends \
    g++-aarch64-linux-gnu lld qemu-user dataset-fashion-mnist >/dev/null
fi

python3 -m pip install -q --disable-pip-version-check torch==2.13.0  # the CPU build
# Strict editable mode: build/ holds one `hwnas` tree of links to core/, plugins/ and targets/,
# so tools that walk the package's folder (import-linter) see all of it; edits show at once, a new
# module file needs this script again (make test runs it).
python3 -m pip install -q --disable-pip-version-check -e ".[all,dev]" \
  --config-settings editable_mode=strict
python3 -m pip install -q --disable-pip-version-check -e examples/hwnas-target-example
python3 -m pip install -q --disable-pip-version-check -e examples/hwnas-strategy-example
