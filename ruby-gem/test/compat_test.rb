# frozen_string_literal: true

require_relative "test_helper"
require "active_support" # a Rails application has it loaded (Debian: ruby-activesupport); its handlers use it
require "active_support/core_ext"
require "tasker_core/compat"

# Handler files written for the Rails engine (test/fixtures/rails_app/app/tasks/**) load and run
# unchanged on the gem.
class CompatTest < TaskerTest
  APP = File.join(TestSupport::GEM_FIXTURES, "rails_app")
  Dir[File.join(APP, "app/tasks/**/*.rb")].sort.each { |f| require f }

  def self.shared_client
    self.shared ||= TestSupport.fresh_client(name, config: File.join(TestSupport::CONFORMANCE, "config.yml"))
    shared.first
  end

  def order_context(amount: 59.97, items: [{ "product_id" => 1, "quantity" => 3, "price" => 19.99 }])
    {
      "cart_items" => items,
      "payment_info" => { "method" => "credit_card", "amount" => amount, "currency" => "USD" },
      "customer_info" => { "email" => "ada@example.com", "name" => "Ada" }
    }
  end

  def run_order(context)
    client.register_template(File.join(APP, "config/tasker/tasks/process_order.yaml"))
    id = client.create_task(name: "process_order", namespace: "ecommerce", version: "1.0.0", context: context)
    TaskerCore::Worker.new(client: client).run_until_idle # handlers found by constant lookup
    client.task(id)
  end

  def test_the_compat_classes_are_the_gems
    assert_operator Tasker::StepHandler::Base, :<, TaskerCore::StepHandler::Base
    assert_same TaskerCore::RetryableError, Tasker::RetryableError
    assert_same TaskerCore::PermanentError, Tasker::PermanentError
    assert_operator Tasker::RetryableError, :<, Tasker::ProceduralError
    assert_operator Tasker::ProceduralError, :<, Tasker::Error
  end

  def test_rails_style_handlers_run_an_order_to_completion
    task = run_order(order_context)
    assert_equal "complete", task.state, task.steps.map { |s| [s.name, s.state, s.results] }.inspect
    cart = task.step("validate_cart").results
    assert_equal 59.97, cart["total"]
    assert_equal 1, cart["item_count"]
    payment = task.step("process_payment")
    assert_equal 2, payment.attempts, "the gateway timed out once (RetryableError)"
    assert_equal({ "payment_id" => "pay_#{task.task_id}", "amount_charged" => 59.97, "status" => "succeeded" }, payment.results)
    assert_equal [{ "product_id" => 1, "reserved" => 3 }], task.step("update_inventory").results["updated_products"]
    assert_equal "ORD-#{task.task_id}", task.step("create_order").results["order_number"]
    assert_equal({ "email_sent" => true, "recipient" => "ada@example.com", "order_number" => "ORD-#{task.task_id}" },
                 task.step("send_confirmation").results)
  end

  def test_rails_style_permanent_error_fails_the_task
    task = run_order(order_context(amount: 1.0))
    assert_equal "error", task.state
    payment = task.step("process_payment")
    assert_equal 1, payment.attempts
    assert_equal "AMOUNT_MISMATCH", payment.results.dig("error_details", "error_code")
    assert_equal "Tasker::PermanentError".sub("Tasker", "TaskerCore"), payment.results.dig("error_details", "error_class")
    assert_equal "pending", task.step("update_inventory").state
  end
end
