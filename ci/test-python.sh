#!/usr/bin/env bash
# The Python package, as a user gets it: builds the sdist and one abi3 wheel (made self-contained by
# auditwheel), installs the wheel into fresh virtualenvs outside the repository on the oldest and the
# newest Python at hand, and runs against the installed package (never the source tree):
#   - the conformance suite with sync and with async handlers (one line per case);
#   - the pytest suite (client, errors, workers, shutdown, event loop lag, FastAPI, events, delegation,
#     reference counts and memory); the FastAPI and mypy parts on the newest Python;
#   - mypy --strict on the examples;
#   - a debug build of the extension under AddressSanitizer for a conformance subset.
# Runs standalone (its own private PostgreSQL) or from ci/test.sh. Ends "python: N passed, N failed".
set -euo pipefail
cd "$(dirname "$0")/.."
root=$(pwd)

bash ci/install-deps.sh
if [ -z "${TASKER_DATABASE_URL:-}" ]; then
  # shellcheck source=ci/postgres.sh
  source ci/postgres.sh
  tasker_pg_start fast
fi

passed=0
failed=0
record() { # name, exit status
  if [ "$2" = 0 ]; then passed=$((passed + 1)); echo "--- ok: $1"; else failed=$((failed + 1)); echo "--- FAILED: $1"; fi
}

# The oldest and newest CPython of pyenv (3.9 and 3.13 here); the system python3 when pyenv has none.
pick_python() { # major.minor prefix
  local p
  p=$(ls -d "${PYENV_ROOT:-$HOME/.pyenv}/versions/$1".* 2>/dev/null | sort -V | tail -1 || true)
  if [ -n "$p" ] && [ -x "$p/bin/python3" ]; then echo "$p/bin/python3"; else command -v python3; fi
}
py_old=$(pick_python 3.9)
py_new=$(pick_python 3.13)

work=$(mktemp -d /tmp/tasker-python.XXXXXX)
trap 'rm -rf "$work"; declare -F tasker_pg_stop >/dev/null && tasker_pg_stop' EXIT

venv() { # dir python requirements...
  local dir=$1 py=$2; shift 2
  "$py" -m venv "$dir" >/dev/null
  "$dir/bin/python" -m pip install -q --disable-pip-version-check --upgrade "pip==24.2" >/dev/null
  local r
  for r in "$@"; do "$dir/bin/pip" install -q --disable-pip-version-check --no-deps -r "$r"; done
}

echo "=== build: sdist and abi3 wheel ($("$py_new" --version))"
venv "$work/build-env" "$py_new" python-pkg/requirements/build.txt
rc=0
( TASKER_PY_WERROR=1 "$work/build-env/bin/python" -m build -o "$work/dist" python-pkg >"$work/build.log" 2>&1 ) || rc=$?
[ $rc = 0 ] || tail -80 "$work/build.log"
record "sdist + wheel" $rc
[ $rc = 0 ] || { echo "python: $passed passed, $failed failed"; exit 1; }
rc=0
( PATH="$work/build-env/bin:$PATH" auditwheel repair -w "$work/wheelhouse" "$work"/dist/*.whl >"$work/auditwheel.log" 2>&1 ) || rc=$?
[ $rc = 0 ] || tail -20 "$work/auditwheel.log"
record "auditwheel repair (libpq, libcjson, libyaml, libcrypto and their libraries inside the wheel)" $rc
wheel=$(ls "$work"/wheelhouse/*.whl)
echo "wheel: $(basename "$wheel") ($(du -k "$wheel" | cut -f1) KiB)"

# Runs a command in a fresh directory outside the repository, with the venv's python first in PATH.
outside() { # venv, command...
  local v=$1; shift
  ( cd "$work/run" && PATH="$v/bin:$PATH" "$@" )
}
mkdir -p "$work/run"
cp -r python-pkg/tests "$work/run/tests"
cp -r examples/python "$work/run/examples"
export TASKER_REPO_ROOT="$root"

for py in "$py_new" "$py_old"; do
  ver=$("$py" -c 'import sys; print("%d.%d" % sys.version_info[:2])')
  v="$work/venv-$ver"
  if [ "$py" = "$py_new" ]; then req=python-pkg/requirements/test.txt; else req=python-pkg/requirements/test-py39.txt; fi
  echo "=== Python $ver: install the wheel into a fresh virtualenv"
  venv "$v" "$py" "$req"
  rc=0; "$v/bin/pip" install -q --disable-pip-version-check --no-deps "$wheel" || rc=$?
  record "install the wheel on Python $ver" $rc
  rc=0; outside "$v" python -c 'import tasker_core, sys; assert "site-packages" in tasker_core.__file__, tasker_core.__file__' || rc=$?
  record "import the installed package on Python $ver" $rc
  for mode in sync async; do
    rc=0; outside "$v" python tests/conformance.py --mode "$mode" || rc=$?
    record "conformance, $mode handlers, Python $ver" $rc
  done
  if [ "$py" = "$py_new" ]; then
    rc=0; outside "$v" python -m pytest -q -p no:cacheprovider tests || rc=$?
  else
    rc=0; outside "$v" python -m pytest -q -p no:cacheprovider -m "not newest" tests || rc=$?
  fi
  record "pytest on Python $ver" $rc
done

echo "=== mypy --strict on the examples"
rc=0; outside "$work/venv-$("$py_new" -c 'import sys; print("%d.%d" % sys.version_info[:2])')" \
  python -m mypy --strict --no-incremental examples || rc=$?
record "mypy --strict examples/python" $rc

echo "=== the extension under AddressSanitizer + UndefinedBehaviorSanitizer (conformance subset)"
v="$work/venv-asan"
venv "$v" "$py_new" python-pkg/requirements/test.txt
"$v/bin/pip" install -q --disable-pip-version-check --no-deps setuptools==84.2.1
rc=0
TASKER_PY_SANITIZE=1 "$v/bin/pip" install -q --disable-pip-version-check --no-deps --no-build-isolation \
  "$work"/dist/*.tar.gz >"$work/asan-build.log" 2>&1 || rc=$?
[ $rc = 0 ] || tail -40 "$work/asan-build.log"
record "ASan build of the extension" $rc
preload="$(gcc -print-file-name=libasan.so) $(gcc -print-file-name=libubsan.so)"
for mode in sync async; do
  rc=0
  outside "$v" env LD_PRELOAD="$preload" ASAN_OPTIONS=detect_leaks=0:abort_on_error=1 \
    UBSAN_OPTIONS=print_stacktrace=1:halt_on_error=1 PYTHONMALLOC=malloc \
    python tests/conformance.py --mode "$mode" --case "${TASKER_ASAN_CASES:-03_,24_,25_,26_,27_,29_,30_,31_,32_}" || rc=$?
  record "conformance under ASan, $mode handlers" $rc
done

echo
echo "python: $passed passed, $failed failed"
[ "$failed" = 0 ]
