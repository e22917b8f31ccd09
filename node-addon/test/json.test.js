'use strict';
// Values cross between the core and JavaScript exactly: integers past 2^53 as BigInts, doubles as
// numbers, and what JSON cannot write is refused with its path instead of dropped.
const test = require('node:test');
const assert = require('node:assert/strict');
const { parseJson, stringifyJson, JSONError } = require('tasker-core');

test('integers keep every digit; a fraction is a double; an exponent that leaves an integer is one', () => {
  const v = parseJson('{"safe": 9007199254740991, "past": 9007199254740993, "neg": -98765432109876543210987654321,' +
                      ' "u64": 18446744073709551615, "half": 0.5, "two_fifty": 2.50, "exp": 1e3, "big_exp": 1.5e+300,' +
                      ' "small_exp": 2.5e-3}');
  assert.equal(v.safe, 9007199254740991);
  assert.equal(v.past, 9007199254740993n);
  assert.equal(v.neg, -98765432109876543210987654321n);
  assert.equal(v.u64, 18446744073709551615n);
  assert.equal(v.half, 0.5);
  assert.equal(v.two_fifty, 2.5);
  assert.equal(v.exp, 1000);
  assert.equal(v.big_exp, 15n * 10n ** 299n);
  assert.equal(v.small_exp, 0.0025);
});

test('BigInts are written with every digit, whatever their size', () => {
  const big = 2n ** 200n + 7n;
  assert.equal(stringifyJson({ v: big, n: -9007199254740993n }), `{"v":${big},"n":-9007199254740993}`);
  assert.equal(stringifyJson([1, 0.1, -0, 1e21, 'a"b\n\u0001']), '[1,0.1,0,1e+21,"a\\"b\\n\\u0001"]');
});

test('strings round-trip through escapes, including characters outside the BMP', () => {
  const s = 'é ✓ 😀 \\ / "';
  assert.equal(parseJson(stringifyJson({ s })).s, s);
  assert.equal(parseJson('"\\ud83d\\ude00\\u00e9"'), '😀é');
});

test('toJSON is honoured and undefined members are left out, as JSON.stringify does', () => {
  const d = new Date(Date.UTC(2024, 0, 2, 3, 4, 5));
  assert.equal(stringifyJson({ d, gone: undefined, arr: [undefined] }), '{"d":"2024-01-02T03:04:05.000Z","arr":[null]}');
});

test('what JSON cannot write is refused, naming where it is', () => {
  for (const [value, pattern] of [
    [{ value: NaN }, /value\.value is NaN/],
    [{ a: [1, Infinity] }, /value\.a\[1\] is Infinity/],
    [{ f() {} }, /value\.f is a function/],
    [{ s: Symbol('x') }, /value\.s is a Symbol/],
    [{ s: 'a\u0000b' }, /NUL/],
  ]) {
    assert.throws(() => stringifyJson(value), (e) => e instanceof JSONError && e.code === 'TASKER_EJSON' && pattern.test(e.message));
  }
  const cyclic = {};
  cyclic.self = cyclic;
  assert.throws(() => stringifyJson(cyclic), /nested too deeply/);
});

test('text that is not JSON is a JSONError naming the offset', () => {
  assert.throws(() => parseJson('{"a": }'), (e) => e instanceof JSONError && /offset 6/.test(e.message));
  assert.throws(() => parseJson('[1] x'), /after the value/);
});
