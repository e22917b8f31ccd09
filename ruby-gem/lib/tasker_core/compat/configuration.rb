# frozen_string_literal: true

module Tasker
  # The Rails engine's configuration block, as an initializer writes it:
  #
  #   Tasker.configure do |config|                # or Tasker::Configuration.configuration
  #     config.engine { |e| e.identity_strategy = :hash }
  #     config.execution.max_concurrent_steps_limit = 16
  #     config.telemetry { |t| t.enabled = true }   # only the engine uses it: ignored, with a warning
  #   end
  #
  # The values are recorded, not interpreted here: TaskerCore.client opens with them, and the core
  # applies its own rules (which keys it uses, which only the engine uses, which are wrong) as it does
  # for config/tasker.yml.
  class Configuration
    SECTIONS = %i[auth database telemetry engine health dependency_graph backoff execution cache].freeze
    # Settings the engine's older configuration had at the top level; they belong to `engine`.
    ENGINE_SHORTCUTS = %i[task_handler_directory task_config_directory default_module_namespace identity_strategy
                          identity_strategy_class].freeze

    # One section's settings: any `name = value`, read back by `name`.
    class Section
      def initialize
        @values = {}
      end

      def method_missing(name, *args)
        key = name.to_s
        return @values[key.chomp("=")] = args.first if key.end_with?("=") && args.size == 1
        return @values[key] if args.empty?

        super
      end

      def respond_to_missing?(_name, _include_private = false) = true

      def to_h = @values.transform_values { |v| Configuration.plain(v) }
    end

    def self.configuration(&block) = Tasker.configuration(&block)

    def self.reset_configuration! = Tasker.reset_configuration!

    # Symbols become strings (:hash → "hash"), so the values read as a YAML file's would.
    def self.plain(value)
      case value
      when Symbol then value.to_s
      when Hash then value.to_h { |k, v| [k.to_s, plain(v)] }
      when Array then value.map { |v| plain(v) }
      else value
      end
    end

    def initialize
      @sections = {}
    end

    SECTIONS.each do |section|
      define_method(section) do |&block|
        values = (@sections[section] ||= Section.new)
        block&.call(values)
        values
      end
    end

    ENGINE_SHORTCUTS.each do |key|
      define_method(:"#{key}=") { |value| engine.public_send(:"#{key}=", value) }
      define_method(key) { engine.public_send(key) }
    end

    # @return [Hash] the recorded settings by section, string keys, as the core reads them
    def to_h = @sections.to_h { |name, values| [name.to_s, values.to_h] }.reject { |_, v| v.empty? }
  end

  class << self
    # The configuration; with a block, yields it for changes (the engine's API).
    # @return [Configuration]
    def configuration
      @configuration ||= Configuration.new
      yield @configuration if block_given?
      @configuration
    end

    def configure(&block) = configuration(&block)

    def reset_configuration!
      @configuration = Configuration.new
    end
  end
end

module TaskerCore
  class << self
    # The settings of a Tasker.configure block (when tasker_core/compat is loaded), which the
    # process-wide client opens with. nil when there are none.
    # @return [Hash, nil]
    def compat_settings
      settings = Tasker.configuration.to_h
      settings.empty? ? nil : settings
    end
  end
end

# Without Rails, the process-wide client opens with the Tasker.configure settings (the Railtie's
# builder also reads config/tasker.yml).
TaskerCore.client_builder ||= -> { TaskerCore::Client.new(config: TaskerCore.compat_settings) }
