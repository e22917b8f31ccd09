# The 20-line example: a template, three Ruby step handlers, one task, one worker.
# Run: TASKER_DATABASE_URL=postgresql://... ruby order_example.rb
require "tasker_core"

module Examples
  class FetchUser < TaskerCore::StepHandler::Base
    def process(task, _sequence, _step) = { "name" => task.context.fetch("name").capitalize }
  end

  class PickGreeting < TaskerCore::StepHandler::Base
    def process(_task, _sequence, step)
      raise TaskerCore::RetryableError.new("flaky dictionary", retry_after: 0) if step.attempts.zero?

      { "word" => config.fetch("words").first }
    end
  end

  class Compose < TaskerCore::StepHandler::Base
    def process(_task, sequence, _step)
      user = sequence.find_step_by_name("fetch_user").results
      { "text" => "#{sequence.find_step_by_name('pick_greeting').results['word']}, #{user['name']}!" }
    end
  end
end

client = TaskerCore::Client.new # $TASKER_DATABASE_URL
client.migrate!
client.register_template(File.join(__dir__, "greeting.yaml"))
id = client.create_task(name: "greeting", namespace: "examples", version: "1.0.0", context: { "name" => "ada" })
TaskerCore::Worker.new(client: client, concurrency: 2).run_until_idle
task = client.task(id)
puts "task #{id} #{task.state}: #{task.step('compose').results['text']} " \
     "(pick_greeting took #{task.step('pick_greeting').attempts} attempts)"
