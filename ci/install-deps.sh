#!/usr/bin/env bash
# Installs the system packages tasker-core builds and tests with (Debian 12). Idempotent and quiet:
# does nothing when everything is already present. Needs root (or sudo) only when something is missing.
# A phase script may name more packages it needs: ci/install-deps.sh ruby ruby-pg
set -euo pipefail

PACKAGES=(
  build-essential cmake pkg-config
  libpq-dev libcjson-dev libyaml-dev libssl-dev libcmocka-dev
  postgresql json-schema-test-suite valgrind
  clang libclang-rt-14-dev
  "$@"
)

missing=()
for p in "${PACKAGES[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
[ ${#missing[@]} -eq 0 ] && exit 0

SUDO=
if [ "$(id -u)" != 0 ]; then
  command -v sudo >/dev/null || { echo "install-deps: need root to install: ${missing[*]}" >&2; exit 1; }
  SUDO=sudo
fi
echo "install-deps: installing ${missing[*]}"
export DEBIAN_FRONTEND=noninteractive
$SUDO apt-get update -qq
$SUDO apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
