# frozen_string_literal: true

# Builds tasker_core/tasker_core_ext: the binding's C files plus the whole C core, compiled from the
# sources copied into vendor/ when the gem was built (build.sh), so `gem install` needs nothing but
# the system's libpq, cJSON, libyaml and libcrypto (and their pkg-config files).
require "mkmf"
require_relative "embed_migrations"

here = __dir__
vendor = File.join(here, "vendor")
unless File.directory?(vendor)
  # Building inside the repository without build.sh (e.g. `ruby extconf.rb` by hand).
  repo = File.expand_path("../../..", here)
  abort "tasker-core: #{vendor} is missing; run ruby-gem/build.sh" unless File.directory?(File.join(repo, "core/src"))
  vendor = nil
end
core_dirs = vendor ? [File.join(vendor, "core")] : %w[src util].map { |d| File.expand_path("../../../core/#{d}", here) }
api_inc = vendor ? File.join(vendor, "include") : File.expand_path("../../../c-api/include", here)
migrations = vendor ? File.join(vendor, "migrations") : File.expand_path("../../../migrations", here)

%w[libpq libcjson yaml-0.1 libcrypto].each do |pkg|
  next if pkg_config(pkg)

  fallback = { "libpq" => %w[pq PQconnectdb], "libcjson" => %w[cjson cJSON_Parse],
               "yaml-0.1" => %w[yaml yaml_parser_initialize], "libcrypto" => %w[crypto EVP_DigestInit_ex] }[pkg]
  have_library(*fallback) or abort "tasker-core: #{pkg} is missing (Debian: libpq-dev libcjson-dev libyaml-dev libssl-dev)"
end
have_library("pthread") or abort "tasker-core: pthreads are missing"
have_library("m", "pow") or abort "tasker-core: libm is missing"

$INCFLAGS << " -I#{api_inc}" << core_dirs.map { |d| " -I#{d}" }.join
find_header("tasker.h", api_inc) or abort "tasker-core: tasker.h is missing"
find_header("cjson/cJSON.h") or abort "tasker-core: cjson/cJSON.h is missing (libcjson-dev)"
have_func("rb_enc_interned_str", "ruby.h")

# The core is C11 with GNU extensions (pthreads, _Thread_local); keep its warnings but never fail on them.
$CFLAGS << " -std=gnu11 -D_GNU_SOURCE -fvisibility=hidden"
$CFLAGS << " -O2" unless $CFLAGS.include?("-O")

generated = "tc_migrations_embedded.c"
TaskerCoreBuild::EmbedMigrations.write(migrations, File.join(Dir.pwd, generated))

core_files = core_dirs.flat_map { |d| Dir[File.join(d, "*.c")] }.map { |f| File.basename(f) }.sort
own_files = Dir[File.join(here, "*.c")].map { |f| File.basename(f) }.reject { |f| f == generated }.sort
clash = core_files & own_files
abort "tasker-core: binding files shadow core files: #{clash.join(', ')}" unless clash.empty?
$srcs = own_files + core_files + [generated]
$VPATH.concat(core_dirs)

# Export only the extension's entry point: the core's tasker_* symbols stay private to this .so, so
# they can never interpose with a libtasker.so loaded by something else in the same process.
version_script = File.join(Dir.pwd, "tasker_core.map")
File.write(version_script, "{ global: Init_tasker_core_ext; local: *; };\n")
if try_link("int main(void) { return 0; }", "-Wl,--version-script=#{version_script}")
  $DLDFLAGS << " -Wl,--version-script=#{version_script}"
end

create_header
create_makefile("tasker_core/tasker_core_ext")
