# frozen_string_literal: true

# Shared by every test: a fresh database per test class (created on the PostgreSQL that
# $TASKER_DATABASE_URL points to, migrated), the repository's fixtures, and a raw SQL connection
# (Debian's ruby-pg) for checks the client API does not offer on purpose.
require "minitest/autorun"
require "json"
require "pg"
require "securerandom"
require "tasker_core"

module TestSupport
  REPO = File.expand_path("../..", __dir__)
  FIXTURES = File.join(REPO, "tests/fixtures/templates")
  CONFORMANCE = File.join(REPO, "tests/conformance")
  GEM_FIXTURES = File.join(__dir__, "fixtures")

  module_function

  def base_url
    ENV.fetch("TASKER_DATABASE_URL") { raise "TASKER_DATABASE_URL is not set (source ci/postgres.sh; tasker_pg_start)" }
  end

  # Creates an empty database and returns its libpq key=value connection string.
  def create_database(label)
    name = "rb_#{label.gsub(/[^a-z0-9]/i, '_').downcase[0, 30]}_#{SecureRandom.hex(4)}"
    admin = PG.connect(base_url)
    admin.exec("CREATE DATABASE #{admin.quote_ident(name)}")
    admin.close
    params = PG::Connection.conninfo_parse(base_url).each_with_object({}) do |opt, h|
      h[opt[:keyword]] = opt[:val] if opt[:val]
    end
    params["dbname"] = name
    params.map { |k, v| "#{k}='#{v.to_s.gsub(/['\\]/) { |c| "\\#{c}" }}'" }.join(" ")
  end

  # A migrated database and a client on it.
  def fresh_client(label, **options)
    url = create_database(label)
    client = TaskerCore::Client.new(database_url: url, **options)
    client.migrate!
    [client, url]
  end

  def fixture(name)
    File.join(FIXTURES, name)
  end

  def sql(url, text, params = [])
    conn = PG.connect(url)
    conn.exec_params(text, params).to_a
  ensure
    conn&.close
  end
end

# One database per test class, opened once.
class TaskerTest < Minitest::Test
  include TestSupport

  class << self
    attr_accessor :shared

    def shared_client
      self.shared ||= TestSupport.fresh_client(name)
      shared.first
    end

    def shared_url
      shared_client
      shared[1]
    end
  end

  def client
    self.class.shared_client
  end

  def db_url
    self.class.shared_url
  end

  # A template Hash with a unique name, so tests sharing a database do not collide.
  def template(steps, name: "t_#{SecureRandom.hex(4)}", namespace: "rbtest")
    {
      "name" => name, "namespace_name" => namespace, "version" => "1.0.0",
      "task_handler_class" => "RbTest",
      "step_templates" => steps.map { |s| { "default_retry_limit" => 3 }.merge(s.transform_keys(&:to_s)) }
    }
  end

  def run_task(template_hash, context: {}, handlers: nil, concurrency: 4, **request)
    info = client.register_template(template_hash)
    id = client.create_task(name: info.name, namespace: info.namespace, version: info.version,
                            context: context, **request)
    TaskerCore::Worker.new(client: client, concurrency: concurrency, handlers: handlers).run_until_idle
    client.task(id)
  end
end
