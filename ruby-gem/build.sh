#!/usr/bin/env bash
# Copies the C core into the gem (ext/tasker_core/vendor/, git-ignored) with the build recipe
# (recipe/recipe.sh vendor) and builds tasker-core-*.gem in this directory. The gem is then self-contained: `gem install --local ./tasker-core-*.gem` needs
# only the system's libpq, cJSON, libyaml and libcrypto development packages.
#   build.sh            vendor + gem build
#   build.sh --vendor   only refresh ext/tasker_core/vendor/
set -euo pipefail
gem_dir=$(cd "$(dirname "$0")" && pwd)
repo=$(cd "$gem_dir/.." && pwd)
vendor="$gem_dir/ext/tasker_core/vendor"

rm -rf "$vendor"
sh "$repo/recipe/recipe.sh" vendor "$vendor"

[ "${1:-}" = --vendor ] && exit 0
cd "$gem_dir"
rm -f tasker-core-*.gem
gem build --silent tasker-core.gemspec >/dev/null
ls "$gem_dir"/tasker-core-*.gem
