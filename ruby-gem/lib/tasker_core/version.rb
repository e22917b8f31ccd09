# frozen_string_literal: true

module TaskerCore
  # Version of the gem (the C core it embeds is {TaskerCore::CORE_VERSION}).
  VERSION = "0.1.0"
end
