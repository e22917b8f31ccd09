#!/usr/bin/env bash
# Ruby handlers vs C handlers on the same no-op workload (bench/ruby/noop_template.yaml: tasks of 100
# independent steps), side by side in one run: each round runs C then Ruby, each on a fresh database
# of a private, durable PostgreSQL (fsync on). Prints every run, the medians and the ratio (the round
# loop: bench/lib/rounds.sh).
#   bench/ruby/run.sh [TASKS per run (default 100)] [ROUNDS (default 3)] [CONCURRENCY (default 10)]
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
repo=$(cd "$here/../.." && pwd)
tasks=${1:-100}
rounds=${2:-3}
concurrency=${3:-10}
# shellcheck source=../lib/rounds.sh
source "$repo/bench/lib/rounds.sh"

bench_start build-ruby
(cd "$repo/ruby-gem" && rake compile >/dev/null)
bench_migrate() { ruby -I"$repo/ruby-gem/lib" -rtasker_core -e 'TaskerCore::Client.new.migrate!'; }
bench_side() { ruby -I"$repo/ruby-gem/lib" "$here/ruby_noop.rb" "$template" "$tasks" "$concurrency"; }
bench_rounds ruby=Ruby
