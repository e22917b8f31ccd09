# frozen_string_literal: true

module TaskerCore
  # Turns a worker's +handlers:+ argument into { "handler_class" => Class }. Handlers are found by
  # constant lookup of the template's handler_class, or given explicitly.
  # @api private
  module HandlerResolver
    module_function

    # @param spec [nil, Array, Hash] nil: every named {StepHandler::Base} subclass plus the
    #   handler classes of the templates +client+ registered; Array of Class / String (constant
    #   name) / Hash; Hash of handler_class name => Class or constant name
    # @return [Hash{String => Class}]
    # @raise [HandlerNotFoundError] when a name does not resolve to a handler class
    def resolve(spec, client)
      map = {}
      case spec
      when nil
        StepHandler.descendants.each { |k| map[k.handler_name] = k }
        client.templates.each do |t|
          t.steps.each do |s|
            map[s[:handler_class]] ||= lookup(s[:handler_class], "step #{s[:name]} of #{t.full_name}")
          end
        end
      when Hash
        spec.each { |name, k| map[name.to_s] = k.is_a?(Module) ? check(k, name.to_s) : lookup(k.to_s) }
      else
        Array(spec).each do |item|
          case item
          when Hash then map.update(resolve(item, client))
          when Module then map[handler_name(item)] = check(item, handler_name(item))
          else map[item.to_s] = lookup(item.to_s)
          end
        end
      end
      map
    end

    # @return [Class] the handler class a handler_class name refers to
    # @raise [HandlerNotFoundError]
    def lookup(name, where = nil)
      klass = Object.const_get(name.delete_prefix("::"))
      check(klass, name)
    rescue NameError => e
      raise HandlerNotFoundError,
            "handler class #{name}#{where ? " (#{where})" : ''} is not defined: #{e.message}"
    end

    def check(klass, name)
      unless klass.is_a?(Class) && klass.method_defined?(:process)
        raise HandlerNotFoundError,
              "#{name} is not a step handler: expected a class with a process(task, sequence, step) method " \
              "(a subclass of TaskerCore::StepHandler::Base), got #{klass.inspect}"
      end
      klass
    end

    def handler_name(klass)
      name = klass.respond_to?(:handler_name) ? klass.handler_name : klass.name
      name or raise ArgumentError, "an anonymous handler class needs a name: pass { \"Name\" => klass }"
    end
  end
end
