#!/bin/sh
# Installs llama.cpp's prebuilt CPU libraries (npm @node-llama-cpp/linux-x64@3.21.1: llama.cpp
# release v0.4.0, commit 5b4ebc5, ~29 MB) into .cache/peers/ (git-ignored) for the tests in
# test/model/llamacpp_test.ts. Quick when already there; says so and exits 0 where it cannot install
# (the tests are then skipped with that reason).
set -u
ROOT=$(CDPATH= cd -- "$(dirname -- "$0")/../.." && pwd)
DIR="$ROOT/.cache/peers"
PKG="@node-llama-cpp/linux-x64@3.21.1"
LIB="$DIR/node_modules/@node-llama-cpp/linux-x64/bins/linux-x64/libllama.v0.4.0.so"
if [ -f "$LIB" ]; then exit 0; fi
if [ "$(uname -s)-$(uname -m)" != "Linux-x86_64" ]; then
  echo "llama.cpp peer: $PKG is built for Linux x86-64 only; its tests will be skipped" >&2
  exit 0
fi
if ! command -v npm >/dev/null 2>&1; then
  echo "llama.cpp peer: npm is not available; its tests will be skipped" >&2
  exit 0
fi
mkdir -p "$DIR"
[ -f "$DIR/package.json" ] || echo '{"private": true}' > "$DIR/package.json"
if ! (cd "$DIR" && npm install --no-audit --no-fund --loglevel=error --no-package-lock "$PKG" >&2); then
  echo "llama.cpp peer: npm install $PKG failed; its tests will be skipped" >&2
fi
exit 0
