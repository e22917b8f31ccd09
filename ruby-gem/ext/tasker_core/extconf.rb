# frozen_string_literal: true

# Builds tasker_core/tasker_core_ext: the binding's C files plus the whole C core, compiled by the core's
# one build recipe (recipe/recipe.sh, docs/build-recipe.md). build.sh vendors the recipe and the core into
# vendor/ when the gem is built, so `gem install` needs nothing but the system's libpq, cJSON, libyaml and
# libcrypto (and their pkg-config files).
require "mkmf"
require "shellwords"

here = __dir__
vendor = File.join(here, "vendor")
recipe = File.join(vendor, "recipe.sh")
unless File.file?(recipe)
  # Building inside the repository without build.sh (e.g. `ruby extconf.rb` by hand).
  recipe = File.expand_path("../../../recipe/recipe.sh", here)
  abort "tasker-core: #{vendor} is missing; run ruby-gem/build.sh" unless File.file?(recipe)
end

def recipe_out(recipe, *args)
  out = IO.popen(["sh", recipe, *args], &:read)
  abort "tasker-core: `sh #{recipe} #{args.join(' ')}` failed" unless $?.success?
  out
end

core_sources = recipe_out(recipe, "sources").split("\n")
generated = File.join(Dir.pwd, "migrations_embedded.c")
unless core_sources.any? { |f| File.basename(f) == "migrations_embedded.c" }
  recipe_out(recipe, "embed-migrations", generated)
  core_sources << generated
end
core_cflags = recipe_out(recipe, "cflags").strip
core_libs = recipe_out(recipe, "libs").strip

# The recipe's -I flags find tasker.h; check the libraries link (a clear message when a -dev package is missing).
$INCFLAGS << " " << Shellwords.split(core_cflags).grep(/\A-I/).join(" ")
find_header("tasker.h") or abort "tasker-core: tasker.h is missing"
find_header("libpq-fe.h") or abort "tasker-core: libpq-fe.h is missing (Debian: libpq-dev)"
find_header("cjson/cJSON.h") or abort "tasker-core: cjson/cJSON.h is missing (Debian: libcjson-dev)"
find_header("yaml.h") or abort "tasker-core: yaml.h is missing (Debian: libyaml-dev)"
find_header("openssl/evp.h") or abort "tasker-core: openssl/evp.h is missing (Debian: libssl-dev)"
have_func("rb_enc_interned_str", "ruby.h")

# The recipe's flags, except -std: Ruby's headers need GNU extensions. Warnings are kept but never fatal.
$CFLAGS << " " << Shellwords.split(core_cflags).reject { |f| f.start_with?("-I", "-std=") }.join(" ")
$CFLAGS << " -std=gnu11"
$CFLAGS << " -O2" unless $CFLAGS.include?("-O")
$LIBS << " " << core_libs

own_files = Dir[File.join(here, "*.c")].map { |f| File.basename(f) }.sort
clash = core_sources.map { |f| File.basename(f) } & own_files
abort "tasker-core: binding files shadow core files: #{clash.join(', ')}" unless clash.empty?
$srcs = own_files + core_sources.map { |f| File.basename(f) }
$VPATH.concat(core_sources.map { |f| File.dirname(f) }.uniq)

# Export only the extension's entry point: the core's tasker_* symbols stay private to this .so, so
# they can never interpose with a libtasker.so loaded by something else in the same process.
version_script = File.join(Dir.pwd, "tasker_core.map")
recipe_out(recipe, "version-script", version_script, "Init_tasker_core_ext")
if try_link("int main(void) { return 0; }", "-Wl,--version-script=#{version_script}")
  $DLDFLAGS << " -Wl,--version-script=#{version_script}"
end

create_header
create_makefile("tasker_core/tasker_core_ext")
