# frozen_string_literal: true

namespace :tasker do
  desc "Apply tasker-core's database migrations, then register the templates"
  task migrate: :environment do
    client = TaskerCore::Client.new(database_url: TaskerCore::Railtie.database_url(Rails.application))
    puts "tasker: #{client.migrate!} migration(s) applied"
    client.close
    TaskerCore.client.templates.each { |t| puts "tasker: registered #{t.full_name}" }
  end

  desc "Register the task templates under config/tasker/tasks"
  task register_templates: :environment do
    TaskerCore.client.templates.each { |t| puts "tasker: registered #{t.full_name}" }
  end

  desc "Run step handlers (CONCURRENCY=10; UNTIL_IDLE=1 to stop when nothing is left)"
  task worker: :environment do
    Rails.application.eager_load!
    worker = TaskerCore::Worker.new(client: TaskerCore.client, concurrency: Integer(ENV.fetch("CONCURRENCY", "10")))
    puts "tasker: worker running #{worker.handlers.size} handler(s)"
    ENV["UNTIL_IDLE"] == "1" ? worker.run_until_idle : worker.run
    puts "tasker: worker stopped after #{worker.processed} step(s)"
  end
end
