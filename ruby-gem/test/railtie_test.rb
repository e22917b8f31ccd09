# frozen_string_literal: true

require_relative "test_helper"
require "fileutils"
require "open3"
require "rbconfig"
require "tmpdir"

# Boots a minimal Rails application (test/fixtures/rails_app, Debian's ruby-railties) in a child
# process: the Railtie takes the database from config/database.yml, registers config/tasker/tasks/,
# and `rake tasker:migrate` / `rake tasker:worker` run the Rails-engine-style handlers of app/tasks/.
class RailtieTest < Minitest::Test
  def rake(app, url, *args, env: {})
    libs = $LOAD_PATH.grep(%r{ruby-gem/lib\z})
    env = { "APP_DATABASE_URL" => url, "RAILS_ENV" => "test", "TASKER_DATABASE_URL" => nil,
            "RUBYLIB" => [*libs, ENV["RUBYLIB"]].compact.join(":") }.merge(env)
    out, status = Open3.capture2e(env, RbConfig.ruby, "-S", "rake", *args, chdir: app)
    assert status.success?, "rake #{args.join(' ')} failed:\n#{out}"
    out
  end

  ORDER = {
    "cart_items" => [{ "product_id" => 7, "quantity" => 2, "price" => 5.0 }],
    "payment_info" => { "method" => "paypal", "amount" => 10.0, "currency" => "EUR" },
    "customer_info" => { "email" => "grace@example.com", "name" => "Grace" }
  }.freeze

  # The steps of ruby-gem/README.md's "Moving a Rails app from the engine to tasker-core", in the app:
  # migrate, templates from config/tasker/tasks, config/tasker.yml and the Tasker.configure initializer,
  # a controller written for the engine starting a task, a worker running the engine-style handlers.
  def test_rails_app_migrates_and_runs_its_handlers
    Dir.mktmpdir("tasker-rails") do |dir|
      app = File.join(dir, "app_root")
      FileUtils.cp_r(File.join(TestSupport::GEM_FIXTURES, "rails_app"), app)
      url = TestSupport.create_database("railtie")
      out = rake(app, url, "tasker:migrate")
      assert_match(/tasker: \d+ migration\(s\) applied/, out)
      # config/tasker.yml and the initializer: the keys only the engine uses are ignored, one warning each
      %w[engine.task_handler_directory telemetry.enabled health.status_requires_authentication].each do |key|
        assert_match(/#{Regexp.escape(key)}: ignored: only the Rails engine uses it/, out)
      end
      assert_match(/registered ecommerce\.process_order@1\.0\.0/, rake(app, url, "tasker:register_templates"))
      request = { "task" => { "name" => "process_order", "namespace" => "ecommerce", "version" => "1.0.0",
                              "context" => ORDER } }
      out = rake(app, url, "orders:post", env: { "ORDER_JSON" => JSON.generate(request) })
      created = out[/orders: 201 (\{.*\})/, 1] or flunk("POST /orders did not create the task:\n#{out}")
      id = JSON.parse(created).fetch("task_id")
      bad = rake(app, url, "orders:post", env: { "ORDER_JSON" => JSON.generate("task" => request["task"].merge("context" => {})) })
      assert_match(/orders: 400 .*required property/, bad)
      out = rake(app, url, "tasker:worker", env: { "UNTIL_IDLE" => "1", "CONCURRENCY" => "2" })
      assert_match(/worker stopped after 6 step/, out)
      client = TaskerCore::Client.new(database_url: url)
      task = client.task(id)
      assert_equal "complete", task.state
      assert_equal "ORD-#{id}", task.step("create_order").results["order_number"]
    ensure
      client&.close
    end
  end

  def test_the_railtie_is_not_loaded_without_rails
    out, status = Open3.capture2e(RbConfig.ruby, *$LOAD_PATH.grep(%r{ruby-gem/lib\z}).flat_map { |p| ["-I", p] },
                                  "-rtasker_core", "-e", "print defined?(TaskerCore::Railtie).inspect")
    assert status.success?, out
    assert_equal "nil", out
  end
end
