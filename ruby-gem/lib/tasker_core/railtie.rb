# frozen_string_literal: true

require "rails/railtie"

module TaskerCore
  # Rails integration, loaded by +require "tasker_core"+ only when Rails is present:
  # - the database comes from +config.tasker_core.database_url+, else $TASKER_DATABASE_URL, else the
  #   app's config/database.yml for the current environment;
  # - the configuration from config/tasker.yml (when there is one), then a Tasker.configure block's
  #   settings over it; the keys only the Rails engine uses are ignored with a warning each;
  # - the templates under +config/tasker/tasks/+ are registered when {TaskerCore.client} is first used;
  # - the core's log lines go to Rails.logger (+config.tasker_core.log_level+, default :warn) unless
  #   {TaskerCore.logger} is set;
  # - +require "tasker_core/compat"+ runs first, so handlers, controllers and initializers written for
  #   the Rails engine load;
  # - rake tasks: +tasker:migrate+, +tasker:register_templates+, +tasker:worker+ (CONCURRENCY=n,
  #   UNTIL_IDLE=1 to return once nothing is left to do).
  class Railtie < Rails::Railtie
    config.tasker_core = ActiveSupport::OrderedOptions.new
    config.tasker_core.database_url = nil
    config.tasker_core.templates_path = "config/tasker/tasks"
    config.tasker_core.config_file = "config/tasker.yml"
    config.tasker_core.log_level = :warn
    config.tasker_core.compat = true

    initializer "tasker_core.compat", before: :set_autoload_paths do |app|
      require "tasker_core/compat" if app.config.tasker_core.compat
    end

    config.after_initialize do |app|
      unless TaskerCore.logger
        TaskerCore.log_level = app.config.tasker_core.log_level
        TaskerCore.logger = Rails.logger
      end
      TaskerCore.client_builder = lambda do
        client = Client.new(database_url: Railtie.database_url(app), config: Railtie.settings(app))
        Railtie.register_templates(client, app)
        client
      end
    end

    rake_tasks do
      load File.expand_path("tasks/tasker.rake", __dir__)
    end

    class << self
      # @return [String, nil] the libpq connection string for the app's database
      def database_url(app)
        app.config.tasker_core.database_url || ENV["TASKER_DATABASE_URL"] || from_database_yml(app)
      end

      # @return [Array] config/tasker.yml (when it exists), then the Tasker.configure settings
      def settings(app)
        file = app.root.join(app.config.tasker_core.config_file)
        compat = TaskerCore.respond_to?(:compat_settings) ? TaskerCore.compat_settings : nil
        [(file.to_s if file.file?), compat].compact
      end

      # Registers every template under config/tasker/tasks/ for the current Rails environment.
      # @return [Array<TemplateInfo>]
      def register_templates(client, app)
        dir = app.root.join(app.config.tasker_core.templates_path)
        Dir[File.join(dir, "**", "*.{yml,yaml,json}")].sort.map do |path|
          client.register_template(path, environment: Rails.env.to_s)
        end
      end

      private

      def from_database_yml(app)
        db = app.config.database_configuration.fetch(Rails.env.to_s, {})
        db = db["primary"] if db.key?("primary")
        return db["url"] if db["url"]

        keys = { "host" => "host", "port" => "port", "database" => "dbname", "username" => "user",
                 "password" => "password" }
        keys.filter_map { |k, libpq| "#{libpq}='#{db[k].to_s.gsub(/['\\]/) { |c| "\\#{c}" }}'" if db[k] }.join(" ")
      rescue RuntimeError, Errno::ENOENT
        nil
      end
    end
  end
end
