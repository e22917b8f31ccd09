# frozen_string_literal: true

module TaskerCore
  # The core's log lines — warnings about template and configuration keys it ignores, worker messages,
  # and, at lower levels, lifecycle events — handed to a Ruby logger. Each line is one JSON object
  # (level, event, timestamp, ids, message). Process-wide, like the core's log handler.
  #
  # @example
  #   TaskerCore.logger = Logger.new($stderr)   # Rails: the Railtie sets Rails.logger
  #   TaskerCore.log_level = :info              # default :warn
  module Logging
    LEVELS = %i[debug info warn error].freeze

    @lock = Mutex.new
    @logger = nil
    @level = :warn
    @delivered = 0
    @thread = nil

    class << self
      attr_reader :logger, :level

      def logger=(logger)
        @lock.synchronize do
          @logger = logger
          logger ? start : stop
        end
      end

      def level=(level)
        level = level.to_sym
        raise ArgumentError, "log level must be one of #{LEVELS.join(', ')}, not #{level.inspect}" unless LEVELS.include?(level)

        @lock.synchronize do
          @level = level
          TaskerCore._log_open(LEVELS.index(level)) if @logger
        end
      end

      # Waits until every line logged so far was handed to the logger (or the time is up).
      # @return [Boolean] whether everything was delivered
      def flush(timeout)
        target = TaskerCore._log_stats.first
        deadline = Process.clock_gettime(Process::CLOCK_MONOTONIC) + timeout
        until @delivered >= target
          return false if Process.clock_gettime(Process::CLOCK_MONOTONIC) > deadline

          sleep 0.005
        end
        true
      end

      # @return [Hash] :queued (lines the core logged since the process started), :dropped (lost to a
      #   full queue because the logger was slower than the engine)
      def stats
        queued, dropped = TaskerCore._log_stats
        { queued: queued, dropped: dropped }
      end

      private

      def start
        fd = TaskerCore._log_open(LEVELS.index(@level))
        return if @thread&.alive?

        io = IO.for_fd(fd, autoclose: false)
        @thread = Thread.new { deliver(io) }
        @thread.name = "tasker-core-log"
        @thread.report_on_exception = false
      end

      def stop
        TaskerCore._log_close
      end

      def deliver(io)
        loop do
          io.readpartial(4096)
          lines, queued = TaskerCore._log_drain
          logger = @logger
          lines.each do |level, line|
            logger&.public_send(LEVELS.fetch(level, :error), line)
          rescue StandardError => e
            warn "tasker-core: the logger raised #{e.class}: #{e.message}"
          end
          @delivered = queued
        end
      end
    end
  end

  class << self
    # The logger (Logger-like: #debug, #info, #warn, #error) that receives the core's log lines; nil
    # (the default) logs nothing.
    def logger = Logging.logger

    def logger=(logger)
      Logging.logger = logger
    end

    # The lowest level logged: :debug, :info, :warn (default) or :error.
    def log_level = Logging.level

    def log_level=(level)
      Logging.level = level
    end

    # Waits until the lines logged so far reached the logger (tests).
    # @return [Boolean]
    def flush_logs(timeout: 5)
      Logging.flush(timeout)
    end
  end
end
