# frozen_string_literal: true

require_relative "lib/tasker_core/version"

Gem::Specification.new do |s|
  s.name = "tasker-core"
  s.version = TaskerCore::VERSION
  s.summary = "Workflow orchestration on PostgreSQL with step handlers in Ruby (C core)"
  s.description = <<~DESC
    tasker-core runs DAGs of workflow steps on PostgreSQL: it decides which steps may run, hands each
    one to a step handler, records what happened, retries with backoff and finalizes the task. It
    shares the schema of the Rails engine "Tasker", and runs handlers written for that engine
    unchanged (require "tasker_core/compat"). The engine is C, compiled into this gem.
  DESC
  s.authors = ["tasker-core maintainers"]
  s.required_ruby_version = ">= 3.0"
  s.require_paths = ["lib"]
  s.extensions = ["ext/tasker_core/extconf.rb"]
  s.files = Dir["lib/**/*.{rb,rake}", "ext/tasker_core/*.{c,h,rb}", "ext/tasker_core/vendor/**/*.{c,h}",
                "ext/tasker_core/vendor/recipe.sh", "ext/tasker_core/vendor/manifest",
                "examples/**/*", "README.md"]
  s.metadata["rubygems_mfa_required"] = "true"
end
