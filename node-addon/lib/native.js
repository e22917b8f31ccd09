'use strict';
// Loads the compiled addon (node-gyp builds it into build/Release when the package is installed) and
// hands it the error factory, so every core failure surfaces as a TaskerError subclass.
const path = require('node:path');
const { makeError } = require('./errors');

const native = require(path.join(__dirname, '..', 'build', 'Release', 'tasker_core.node'));
native.setErrorFactory(makeError);

module.exports = native;
