#!/usr/bin/env bash
# Configures and builds the C core, the CLI and the C tests into build/ (or $1; extra args go to cmake).
# Warnings are errors here (CI); a plain cmake build leaves them warnings.
set -euo pipefail
cd "$(dirname "$0")/.."
dir=${1:-build}; shift || true
log=$(mktemp)
if ! { cmake -S . -B "$dir" -DTASKER_WERROR=ON "$@" && cmake --build "$dir" -j"$(nproc)"; } >"$log" 2>&1; then
  cat "$log" >&2; rm -f "$log"; echo "build failed ($dir)" >&2; exit 1
fi
rm -f "$log"
