#!/usr/bin/env bash
# The README's first command: installs what is missing, builds tasker-core, and runs a real workflow
# end to end — an e-commerce order (examples/templates/ecommerce_order.yaml) run by the CLI's C demo
# handlers, whose payment step fails once and is retried — then prints the task and its DAG.
# Uses $TASKER_DATABASE_URL when set; otherwise starts a private PostgreSQL for the run and removes it.
set -euo pipefail
cd "$(dirname "$0")/.."

bash ci/install-deps.sh
bash ci/build.sh build-demo -DTASKER_BUILD_TESTS=OFF -DCMAKE_BUILD_TYPE=Release
tasker=build-demo/tasker

if [ -z "${TASKER_DATABASE_URL:-}" ]; then
  # shellcheck source=ci/postgres.sh
  source ci/postgres.sh
  tasker_pg_start
  echo "Started a private PostgreSQL for this run (removed on exit)."
fi

step() { echo; echo "\$ tasker $*"; "$tasker" "$@"; }

step migrate
step template register examples/templates/ecommerce_order.yaml
context='{"order_id": 1001, "customer_email": "ada@example.com",
          "cart": [{"sku": "BOOK-42", "quantity": 2, "unit_price": 12.5},
                   {"sku": "MUG-7", "quantity": 1, "unit_price": 8}]}'
echo
echo "\$ tasker task create examples/templates/ecommerce_order.yaml --context '...'"
task_id=$("$tasker" task create examples/templates/ecommerce_order.yaml --context "$context")
echo "$task_id"
step task show "$task_id"
step worker --until-idle
step task show "$task_id"
step task show "$task_id" --mermaid
step health
