#!/bin/sh
# recipe.sh — the one build recipe of tasker-core's C core, read from the manifest beside this script.
# Every package (CMake, the Ruby gem, the Python and Node packages) builds from it; docs/build-recipe.md.
#
#   recipe.sh sources                  absolute paths of the core's C sources, one per line
#   recipe.sh cflags                   flags to compile those sources (C11, defines, -I, pkg-config --cflags)
#   recipe.sh libs                     flags to link them (pkg-config --libs, system libraries)
#   recipe.sh embed-migrations OUT.c   writes the C source that embeds the migrations (rewritten only
#                                      when its content changes)
#   recipe.sh vendor DIR               copies what a package build needs into DIR (sources, headers, the
#                                      generated migrations source, this script and a manifest for DIR)
#   recipe.sh version-script OUT SYM...  writes a linker version script exporting only SYM... (an
#                                      extension's entry point); everything else stays local
#   recipe.sh unlisted                 C files under the core's source folders that the manifest lacks
# POSIX sh and the usual tools (sed, od, cmp); pkg-config for cflags/libs when it is installed.
set -eu

here=$(cd "$(dirname "$0")" && pwd)
manifest="$here/manifest"
[ -f "$manifest" ] || { echo "recipe.sh: no manifest beside $0" >&2; exit 1; }

# The manifest's directives of one kind, comments and blank lines dropped: "value [more]".
directive() {
	sed -e 's/#.*//' -e 's/[[:space:]]*$//' "$manifest" | while read -r key rest; do
		if [ "$key" = "$1" ]; then printf '%s\n' "$rest"; fi
	done
}

root_rel=$(directive root | head -n 1)
root=$(cd "$here/${root_rel:-.}" && pwd)

die() { echo "recipe.sh: $*" >&2; exit 1; }

have_pkg_config() { command -v pkg-config >/dev/null 2>&1; }

sources() {
	directive source | while read -r f; do
		[ -f "$root/$f" ] || die "the manifest lists $f, which does not exist under $root"
		printf '%s\n' "$root/$f"
	done
}

# pkg-config's answer (--cflags or --libs) for every `pkg` line; --libs falls back to -lFALLBACK.
pkg_flags() {
	directive pkg | while read -r name fallback; do
		if have_pkg_config && pkg-config --exists "$name"; then
			pkg-config "$1" "$name"
		elif [ "$1" = --libs ]; then
			echo "-l$fallback"
		fi
	done
}

one_line() { tr '\n' ' ' | sed 's/[[:space:]][[:space:]]*/ /g; s/^ //; s/ $//'; echo; }

cflags() {
	{
		echo "-std=c11 -pthread -fvisibility=hidden"
		for d in $(directive define); do echo "-D$d"; done
		for d in $(directive include); do echo "-I$root/$d"; done
		pkg_flags --cflags
	} | one_line
}

libs() {
	{
		pkg_flags --libs
		for l in $(directive lib); do echo "-l$l"; done
	} | one_line
}

# The generated file holds every NNNN_name.sql as a byte array, in file-name order (core/src/migrations.h).
embed_migrations() {
	out=$1
	dir=$(directive migrations | head -n 1)
	[ -n "$dir" ] || die "this tree's migrations are already embedded (no 'migrations' line in $manifest)"
	tmp="$out.tmp.$$"
	{
		echo "/* Generated from the migrations/ folder by recipe/recipe.sh. Do not edit. */"
		echo '#include "migrations.h"'
		echo
		i=0
		table=
		for f in "$root/$dir"/*.sql; do
			[ -f "$f" ] || die "no migrations in $root/$dir"
			name=$(basename "$f" .sql)
			case $name in
			[0-9]*_?*) ;;
			*) die "migration file $f must be named NNNN_description.sql" ;;
			esac
			# "0008" must not become a C octal literal.
			version=$(printf '%s\n' "${name%%_*}" | sed 's/^0*\([0-9]\)/\1/')
			printf 'static const char m%d[] = {\n' "$i"
			od -An -v -tx1 "$f" | sed 's/ \([0-9a-f][0-9a-f]\)/0x\1,/g'
			echo "0x00};"
			table="$table  {$version, \"$name\", m$i},
"
			i=$((i + 1))
		done
		echo
		echo "const tasker_migration tasker_migrations[] = {"
		printf '%s' "$table"
		echo "};"
		echo "const size_t tasker_migrations_count = $i;"
	} >"$tmp"
	if [ -f "$out" ] && cmp -s "$tmp" "$out"; then rm -f "$tmp"; else mv "$tmp" "$out"; fi
}

# A tree in DIR that builds without this repository: the same relative paths, the migrations already
# embedded (core/src/migrations_embedded.c, listed as a source), and a manifest whose root is DIR.
vendor() {
	dest=$1
	mkdir -p "$dest"
	dest=$(cd "$dest" && pwd)
	directive source | while read -r f; do
		mkdir -p "$dest/$(dirname "$f")"
		cp "$root/$f" "$dest/$f"
	done
	for d in $(directive include); do
		mkdir -p "$dest/$d"
		for h in "$root/$d"/*.h; do [ -f "$h" ] && cp "$h" "$dest/$d/"; done
	done
	embedded=core/src/migrations_embedded.c
	embed_migrations "$dest/$embedded"
	cp "$here/recipe.sh" "$dest/recipe.sh"
	{
		echo "# Vendored copy of tasker-core's recipe/manifest (made by recipe.sh vendor): paths relative to this folder."
		sed -e '/^root /d' -e '/^migrations /d' "$manifest"
		echo "root ."
		echo "source $embedded"
	} >"$dest/manifest"
}

version_script() {
	out=$1
	shift
	[ $# -gt 0 ] || die "version-script needs the symbols to export (an extension's entry point)"
	{
		printf '{\n  global:\n'
		for s in "$@"; do printf '    %s;\n' "$s"; done
		printf '  local: *;\n};\n'
	} >"$out"
}

unlisted() {
	listed=$(directive source)
	dirs=$(printf '%s\n' "$listed" | sed -e 's,/[^/]*$,,' | sort -u)
	for d in $dirs; do
		for f in "$root/$d"/*.c; do
			[ -f "$f" ] || continue
			rel=${f#"$root"/}
			if ! printf '%s\n' "$listed" | grep -qxF "$rel"; then printf '%s\n' "$rel"; fi
		done
	done
}

cmd=${1:-}
[ $# -gt 0 ] && shift
case $cmd in
sources) sources ;;
cflags) cflags ;;
libs) libs ;;
embed-migrations) [ $# = 1 ] || die "usage: recipe.sh embed-migrations OUT.c"; embed_migrations "$1" ;;
vendor) [ $# = 1 ] || die "usage: recipe.sh vendor DIR"; vendor "$1" ;;
version-script) [ $# -ge 1 ] || die "usage: recipe.sh version-script OUT SYMBOL..."; version_script "$@" ;;
unlisted) unlisted ;;
*) die "usage: recipe.sh sources|cflags|libs|embed-migrations OUT.c|vendor DIR|version-script OUT SYMBOL...|unlisted" ;;
esac
