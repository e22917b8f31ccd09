#!/usr/bin/env bash
# Prints the conformance suite as a table, case × language, from the lines every language's runner
# prints ("conformance LANG CASE ok|FAIL", anywhere in a line: ctest may prefix it), read from a CI log.
#   ci/conformance-table.sh LOG [LANG...]      (LOG "-" reads standard input)
# Rows are the case files in tests/conformance/cases/, columns the languages given (default: c ruby
# python-sync python-async node). A cell is "ok" when every line for it says ok, "FAIL" when one says
# FAIL, "missing" when none came. Exits 1 unless every cell is ok; lines of other labels are ignored.
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)

[ $# -ge 1 ] || { echo "usage: ci/conformance-table.sh LOG [LANG...]" >&2; exit 2; }
log=$1; shift
langs=("$@")
[ ${#langs[@]} -gt 0 ] || langs=(c ruby python-sync python-async node)
[ "$log" = - ] || [ -r "$log" ] || { echo "conformance-table: cannot read log $log" >&2; exit 2; }

cases=()
for f in "$root"/tests/conformance/cases/*.json; do
  cases+=("$(basename "$f" .json)")
done
[ ${#cases[@]} -gt 0 ] || { echo "conformance-table: no case files in tests/conformance/cases" >&2; exit 2; }

cat -- "$log" | awk -v langs="${langs[*]}" -v cases="${cases[*]}" '
  match($0, /conformance [a-z0-9-]+ [^ ]+ (ok|FAIL)[ \r]*$/) {
    split(substr($0, RSTART), w, " ")
    key = w[2] SUBSEP w[3]
    if (w[4] == "FAIL") cell[key] = "FAIL"
    else if (!(key in cell)) cell[key] = "ok"
  }
  END {
    nl = split(langs, L, " "); nc = split(cases, C, " ")
    width = 4
    for (i = 1; i <= nc; i++) if (length(C[i]) > width) width = length(C[i])
    line = sprintf("%-" width "s", "case")
    for (j = 1; j <= nl; j++) line = line sprintf("  %-12s", L[j])
    print line
    bad = 0
    for (i = 1; i <= nc; i++) {
      line = sprintf("%-" width "s", C[i])
      for (j = 1; j <= nl; j++) {
        v = ((L[j] SUBSEP C[i]) in cell) ? cell[L[j] SUBSEP C[i]] : "missing"
        if (v != "ok") bad++
        line = line sprintf("  %-12s", v)
      }
      print line
    }
    printf "conformance table: %d cases x %d languages, %d cells not ok\n", nc, nl, bad
    exit (bad > 0)
  }'
