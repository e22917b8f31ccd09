# frozen_string_literal: true

require "test_helper"

# A call waiting on the database (for a pooled connection, or on a lock) is interrupted at once by
# Ctrl-C (SIGINT) and by Thread#raise: the GVL is released with an unblock function that cancels the
# core's call. The test holds a table lock on its own connection to keep calls waiting.
class InterruptTest < TaskerTest
  def setup
    @one = TaskerCore::Client.new(database_url: db_url, pool_size: 1)
    @lock = PG.connect(db_url)
  end

  def teardown
    @lock.exec("ROLLBACK") if @lock.transaction_status != PG::PQTRANS_IDLE
    @lock.close
    @one.close
  end

  def lock_tasks
    @lock.exec("BEGIN")
    @lock.exec("LOCK TABLE tasker_tasks IN ACCESS EXCLUSIVE MODE")
  end

  def wait_for_lock_waiters(count)
    200.times do
      waiting = @lock.exec("SELECT count(*) FROM pg_locks WHERE NOT granted AND relation = 'tasker_tasks'::regclass")
      return if waiting.getvalue(0, 0).to_i >= count

      sleep 0.02
    end
    flunk "no call came to wait for the table lock"
  end

  # Occupies the client's only connection with a call that waits for the lock.
  def occupy_the_pool
    lock_tasks
    holder = Thread.new do
      @one.task(1)
    rescue TaskerCore::Error => e
      e
    end
    wait_for_lock_waiters(1)
    holder
  end

  def test_sigint_interrupts_a_call_waiting_for_a_connection
    # Ruby's own SIGINT handler (a shell starting this test in the background may have set SIGINT to
    # be ignored, and Ruby then keeps ignoring it).
    previous = Signal.trap("INT", "DEFAULT")
    holder = occupy_the_pool
    Thread.new do
      sleep 0.3
      Process.kill("INT", Process.pid)
    end
    started = Process.clock_gettime(Process::CLOCK_MONOTONIC)
    assert_raises(Interrupt) { @one.task(1) } # waits for the connection the holder has
    assert_operator Process.clock_gettime(Process::CLOCK_MONOTONIC) - started, :<, 5
    assert holder.alive?, "the other call goes on waiting for its lock"
    @lock.exec("COMMIT")
    holder.join
  ensure
    Signal.trap("INT", previous) if previous
  end

  def test_thread_raise_interrupts_a_running_statement
    lock_tasks
    caller = Thread.new do
      client.task(1)
    rescue RuntimeError => e
      e
    end
    wait_for_lock_waiters(1)
    caller.raise(RuntimeError, "enough waiting")
    result = caller.value
    assert_kind_of RuntimeError, result
    assert_equal "enough waiting", result.message
    @lock.exec("COMMIT")
    # The connection whose statement was cancelled serves the next call.
    assert_raises(TaskerCore::NotFoundError) { client.task(987_654) }
  end

  def test_thread_raise_interrupts_a_wait_for_a_connection
    holder = occupy_the_pool
    waiter = Thread.new do
      @one.task(1)
    rescue RuntimeError => e
      e
    end
    sleep 0.2
    assert waiter.alive?
    waiter.raise(RuntimeError, "gave up")
    assert_equal "gave up", waiter.value.message
    @lock.exec("COMMIT")
    holder.join
  end
end
