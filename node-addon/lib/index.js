'use strict';
// tasker-core for Node.js: workflow orchestration on PostgreSQL with async JavaScript step handlers.
const errors = require('./errors');
const { Client } = require('./client');
const { StepHandler, Step, Sequence } = require('./handler');
const native = require('./native');

/** JSON text → value, integers exact (a BigInt beyond ±(2^53−1)), as the core hands values over. */
function parseJson(text) { return native.parseJson(text); }

/** Value → JSON text: BigInts with every digit; NaN, functions, Symbols and cycles are refused (JSONError). */
function stringifyJson(value) { return native.toJson(value, 'value'); }

module.exports = {
  Client,
  StepHandler,
  Step,
  Sequence,
  ...Object.fromEntries(Object.entries(errors).filter(([k]) => k !== 'makeError')),
  parseJson,
  stringifyJson,
  version: native.version,
};
