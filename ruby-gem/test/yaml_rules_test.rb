# frozen_string_literal: true

require "minitest/autorun"
require "date"
require "json"
require "yaml"

# tests/fixtures/yaml/psych_scalars.json says what Ruby's YAML makes of 140 plain scalars; the core's YAML
# reader is tested against that list (tests/c/test_template.c). Here the list is tested against Psych
# itself, so the two together say: the core reads a Rails application's YAML as Ruby does.
class YamlRulesTest < Minitest::Test
  FIXTURE = File.expand_path("../../tests/fixtures/yaml/psych_scalars.json", __dir__)

  # What the core makes of a value Psych read: dates, times and symbols stay strings as written, and
  # what JSON cannot hold (infinity, NaN) is refused.
  def core_view(text, value)
    case value
    when Date, Time, Symbol then ["string", text]
    when Float then value.finite? ? ["number", value] : ["refused", nil]
    when Integer then ["number", value]
    when String then ["string", value]
    when nil then ["null", nil]
    when true, false then ["boolean", value]
    else flunk "#{text}: Psych gave a #{value.class}"
    end
  end

  def test_the_list_is_what_psych_reads
    cases = JSON.parse(File.read(FIXTURE))
    assert_operator cases.size, :>, 100
    cases.each do |text, kind, expected|
      value = YAML.safe_load("k: #{text}\n", permitted_classes: [Date, Time, Symbol])["k"]
      got_kind, got = core_view(text, value)
      assert_equal [kind, expected], [got_kind, got], "Psych reads #{text.inspect} as #{value.inspect}"
    end
  end
end
