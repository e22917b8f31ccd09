#!/usr/bin/env bash
# Copies the C core into the gem (ext/tasker_core/vendor/, git-ignored) and builds tasker-core-*.gem
# in this directory. The gem is then self-contained: `gem install --local ./tasker-core-*.gem` needs
# only the system's libpq, cJSON, libyaml and libcrypto development packages.
#   build.sh            vendor + gem build
#   build.sh --vendor   only refresh ext/tasker_core/vendor/
set -euo pipefail
gem_dir=$(cd "$(dirname "$0")" && pwd)
repo=$(cd "$gem_dir/.." && pwd)
vendor="$gem_dir/ext/tasker_core/vendor"

rm -rf "$vendor"
mkdir -p "$vendor/core" "$vendor/include" "$vendor/migrations"
cp "$repo"/core/src/*.c "$repo"/core/src/*.h "$repo"/core/util/*.c "$repo"/core/util/*.h "$vendor/core/"
cp "$repo/c-api/include/tasker.h" "$vendor/include/"
cp "$repo"/migrations/*.sql "$vendor/migrations/"

[ "${1:-}" = --vendor ] && exit 0
cd "$gem_dir"
rm -f tasker-core-*.gem
gem build --silent tasker-core.gemspec >/dev/null
ls "$gem_dir"/tasker-core-*.gem
