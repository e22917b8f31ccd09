# frozen_string_literal: true

# How Ruby values become JSON (ext/tasker_core/tc_json.c), beyond what the conformance cases show:
# which objects have a JSON form, and errors that name where the bad value is.
require "minitest/autorun"
require "tasker_core"

class NativeJSONFormsTest < Minitest::Test
  J = TaskerCore::NativeJSON

  Point = Struct.new(:x, :y) do
    def as_json = { "x" => x, "y" => y }
  end

  class Money
    def initialize(cents) = @cents = cents
    def to_s = format("%.2f", @cents / 100.0)
  end

  def test_objects_write_their_as_json_else_their_own_to_s
    assert_equal '{"p":{"x":1,"y":2},"price":"12.50"}', J.generate({ "p" => Point.new(1, 2), "price" => Money.new(1250) })
  end

  def test_an_object_with_only_the_default_to_s_has_no_json_form
    e = assert_raises(TaskerCore::JSONError) { J.generate({ "items" => [1, { "owner" => Object.new }] }) }
    assert_equal "$.items[1].owner: an object of class Object has no JSON form (give it as_json or to_s)", e.message
  end

  def test_errors_name_the_path_of_the_bad_value
    e = assert_raises(TaskerCore::JSONError) { J.generate({ total: [0.5, Float::NAN] }) }
    assert_equal "$.total[1]: NaN is not a JSON number", e.message
    e = assert_raises(TaskerCore::JSONError) { J.generate([{ "name" => "a\0b" }]) }
    assert_match(/\A\$\[0\]\.name: a string contains a NUL character/, e.message)
    e = assert_raises(TaskerCore::JSONError) { J.generate(Float::INFINITY) }
    assert_equal "$: Infinity is not a JSON number", e.message
  end

  def test_integers_are_exact_and_exponents_are_floats
    big = (2**64) + 1
    assert_equal "[#{big},-9007199254740993]", J.generate([big, -9_007_199_254_740_993])
    assert_equal [big, 1500.0, 1000], J.parse("[#{big}, 1.5e3, 1000]")
    assert_kind_of Float, J.parse("2.50")
  end
end
