#!/usr/bin/env bash
# Checks the layering of the C core (docs/ARCHITECTURE.md) from its #include lines; exits non-zero,
# naming the files, when:
#   1. headers under core/ include each other in a cycle (a.h → b.h → … → a.h);
#   2. a small utility (core/util/) includes a header of the engine (core/src/);
#   3. the connection layer (core/src/db.*, core/src/cancel.*) includes a header of a layer above it:
#      it may use only its own headers, the utilities and tasker.h (events, metrics and the rest
#      register hooks on it instead, tdb_set_hooks);
#   4. modules include each other in a cycle: a module is a file name without its extension (client =
#      client.c + client.h; a private header m_internal.h belongs to module m), and module m depends on
#      n when m.c or m.h includes n.h; dependencies go
#      downward only (the layer order is in docs/ARCHITECTURE.md);
#   5. a file other than core/src/events*.c includes events_internal.h (the event bus's definition is
#      private to those files; everyone else sees the opaque type of events.h).
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

# 4. cycles among modules (x.c + x.h), reported once per strongly connected component with one cycle in it
def module(name):
    return re.sub(r"_internal$", "", name.rsplit(".", 1)[0])
modules = {}
for d in (src, util):
    for f in files(d, (".c", ".h")):
        modules.setdefault(module(os.path.basename(f)), set()).update(
            module(i) for i in includes(f) if i.endswith(".h"))
deps = {m: sorted(n for n in e if n in modules and n != m) for m, e in modules.items()}
order, low, stack, on_stack, components = {}, {}, [], set(), []
def strong(v):  # Tarjan: components of mutually reachable modules
    order[v] = low[v] = len(order)
    stack.append(v)
    on_stack.add(v)
    for n in deps[v]:
        if n not in order:
            strong(n)
            low[v] = min(low[v], low[n])
        elif n in on_stack:
            low[v] = min(low[v], order[n])
    if low[v] == order[v]:
        comp = []
        while True:
            n = stack.pop()
            on_stack.discard(n)
            comp.append(n)
            if n == v:
                break
        components.append(sorted(comp))
for m in sorted(deps):
    if m not in order:
        strong(m)
def cycle_in(comp):  # a shortest way back to comp[0] inside the component
    inside, start = set(comp), comp[0]
    paths, seen = [[start]], {start}
    while paths:
        path = paths.pop(0)
        for n in deps[path[-1]]:
            if n == start:
                return path + [n]
            if n in inside and n not in seen:
                seen.add(n)
                paths.append(path + [n])
    return comp
for comp in components:
    if len(comp) > 1:
        problems.append(f"module cycle among {', '.join(comp)}: " + " -> ".join(cycle_in(comp)))

# 5. the event bus's definition stays inside the events*.c files
for d, subdirs, names in os.walk(root):
    subdirs[:] = [s for s in subdirs if not (s.startswith((".", "build")) or s in ("vendor", "node_modules"))]
    for name in sorted(names):
        f = os.path.join(d, name)
        rel = os.path.relpath(f, root)
        if not name.endswith((".c", ".h", ".cc", ".cpp")) or name == "events_internal.h":
            continue
        if re.fullmatch(r"core/src/events[a-z_]*\.c", rel):
            continue
        if "events_internal.h" in includes(f):
            problems.append(f"{rel} includes events_internal.h: only core/src/events*.c may (use events.h)")

for p in problems:
    print("check-layers: " + p)
if problems:
    sys.exit(1)
print(f"check-layers: ok ({len(graph)} headers, {len(modules)} modules, no include cycle; utilities and "
      "connection layer include nothing above them; the event bus is opaque outside events*.c)")
EOF
