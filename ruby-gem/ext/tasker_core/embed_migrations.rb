# frozen_string_literal: true

# Writes the C file that holds every migrations/NNNN_name.sql as a byte array, in file-name order:
# the same table cmake/embed_migrations.cmake generates for the CMake build (see
# core/src/migrations.h), so the gem can migrate a database without the .sql files.
module TaskerCoreBuild
  module EmbedMigrations
    module_function

    # @param dir [String] folder holding NNNN_description.sql files
    # @param out [String] path of the C file to write (rewritten only when its content changes)
    # @return [Integer] how many migrations were embedded
    def write(dir, out)
      files = Dir[File.join(dir, "*.sql")].sort
      raise "no migrations found in #{dir}" if files.empty?

      body = +"/* Generated from the migrations/ folder by ruby-gem/ext/tasker_core/embed_migrations.rb. Do not edit. */\n"
      body << "#include \"migrations.h\"\n\n"
      table = +""
      files.each_with_index do |path, i|
        name = File.basename(path, ".sql")
        match = /\A([0-9]+)_(.+)\z/.match(name) or
          raise "migration file #{path} must be named NNNN_description.sql"
        bytes = File.binread(path).unpack("C*").map { |b| format("0x%02x,", b) }.join
        body << "static const char m#{i}[] = {#{bytes}0x00};\n"
        table << "  {#{match[1].to_i}, \"#{name}\", m#{i}},\n"
      end
      body << "\nconst tasker_migration tasker_migrations[] = {\n#{table}};\n"
      body << "const size_t tasker_migrations_count = #{files.size};\n"
      File.write(out, body) unless File.exist?(out) && File.read(out) == body
      files.size
    end
  end
end
