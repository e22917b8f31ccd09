#!/usr/bin/env bash
# Checks the layering of the C core (docs/ARCHITECTURE.md) from its #include lines; exits non-zero,
# naming the files, when:
#   1. headers under core/ include each other in a cycle (a.h → b.h → … → a.h);
#   2. a small utility (core/util/) includes a header of the engine (core/src/);
#   3. the connection layer (core/src/db.*, core/src/cancel.*) includes a header of a layer above it:
#      it may use only its own headers, the utilities and tasker.h (events, metrics and the rest
#      register hooks on it instead, tdb_set_hooks).
# Usage: ci/check-layers.sh [ROOT]   (default: the repository this script is in)
set -euo pipefail
root=${1:-$(cd "$(dirname "$0")/.." && pwd)}
python3 - "$root" <<'EOF'
import os, re, sys

root = sys.argv[1]
src, util = os.path.join(root, "core/src"), os.path.join(root, "core/util")
include = re.compile(r'^\s*#\s*include\s+"([^"]+)"', re.M)

def files(d, exts):
    return sorted(os.path.join(d, f) for f in os.listdir(d) if f.endswith(exts))

def includes(path):
    with open(path, encoding="utf-8") as f:
        return include.findall(f.read())

src_headers = {os.path.basename(p) for p in files(src, (".h",))}
util_headers = {os.path.basename(p) for p in files(util, (".h",))}
problems = []

# 1. cycles among headers (a header is found in core/src or core/util by its name)
graph = {}
for d in (src, util):
    for h in files(d, (".h",)):
        graph[os.path.basename(h)] = [i for i in includes(h) if i in src_headers or i in util_headers]
state = {}
def visit(h, path):
    state[h] = 1
    for n in graph.get(h, []):
        if state.get(n) == 1:
            problems.append("include cycle: " + " -> ".join(path[path.index(n):] + [n]))
        elif n not in state:
            visit(n, path + [n])
    state[h] = 2
for h in sorted(graph):
    if h not in state:
        visit(h, [h])

# 2. utilities never reach into the engine
for f in files(util, (".c", ".h")):
    for i in includes(f):
        if i in src_headers:
            problems.append(f"{os.path.relpath(f, root)} includes the engine header {i} (core/util must not)")

# 3. the connection layer includes nothing above it
connection = {"db.h", "db.c", "cancel.h", "cancel.c"}
allowed = {"db.h", "cancel.h", "tasker.h"} | util_headers
for f in files(src, (".c", ".h")):
    if os.path.basename(f) in connection:
        for i in includes(f):
            if i not in allowed:
                problems.append(f"{os.path.relpath(f, root)} includes {i}: the connection layer may include "
                                "only db.h, cancel.h, tasker.h and the utilities (layers above register hooks)")

for p in problems:
    print("check-layers: " + p)
if problems:
    sys.exit(1)
print(f"check-layers: ok ({len(graph)} headers, no include cycle; utilities and connection layer include nothing above them)")
EOF
