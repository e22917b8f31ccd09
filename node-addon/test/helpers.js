'use strict';
// What the tests share: a fresh database per test file on the private PostgreSQL the test script starts
// ($TASKER_DATABASE_URL), SQL through psql for the checks the public API does not offer, and exact JSON.
const { execFileSync } = require('node:child_process');
const path = require('node:path');
const fs = require('node:fs');

const BASE_URL = process.env.TASKER_DATABASE_URL;
if (!BASE_URL) throw new Error('TASKER_DATABASE_URL is not set: run the tests through ci/test-node.sh');

// The repository's shared fixtures (conformance cases, templates), whether the tests run in the
// repository or from a copy next to an installed package (TASKER_REPO).
const REPO = process.env.TASKER_REPO || path.resolve(__dirname, '..', '..');
const CONFORMANCE = path.join(REPO, 'tests', 'conformance');

function urlFor(db) {
  // libpq URLs may have an empty host (a socket directory in ?host=), which WHATWG URL refuses.
  const [base, query] = BASE_URL.split('?');
  return base.replace(/\/[^/]*$/, '/' + db) + (query ? '?' + query : '');
}

function psql(url, sql, vars = {}) {
  const args = [url, '-X', '-A', '-t', '-q', '-v', 'ON_ERROR_STOP=1'];
  for (const [k, v] of Object.entries(vars)) args.push('-v', `${k}=${v}`);
  return execFileSync('psql', args, { input: sql, encoding: 'utf8' }).replace(/\n$/, '');
}

let seq = 0;
/** Creates an empty database and returns its URL. */
function createDatabase(prefix) {
  const name = `${prefix}_${process.pid}_${++seq}`.toLowerCase().replace(/[^a-z0-9_]/g, '_').slice(0, 60);
  psql(BASE_URL, `SET client_min_messages = warning; DROP DATABASE IF EXISTS ${name}; CREATE DATABASE ${name};`);
  return urlFor(name);
}

/**
 * A migrated database with `template` registered, every handler class of it run by `Handler`, and
 * create(n), which adds n tasks ({i} as context) and returns their ids.
 */
async function setupWorkload(prefix, template, Handler) {
  const { Client } = require('tasker-core');
  const client = new Client({ databaseUrl: createDatabase(prefix), config: path.join(CONFORMANCE, 'config.yml') });
  await client.migrate();
  const info = await client.registerTemplate(template);
  const handlers = Object.fromEntries(info.handlerClasses.map((c) => [c, Handler]));
  const create = async (n) => {
    const ids = [];
    for (let i = 0; i < n; i++) {
      ids.push(await client.createTask({ name: info.name, namespace: info.namespace, version: info.version, context: { i } }));
    }
    return ids;
  };
  return { client, info, handlers, create };
}

function readJson(file) {
  const { parseJson } = require('tasker-core');
  return parseJson(fs.readFileSync(file, 'utf8'));
}

module.exports = { BASE_URL, REPO, CONFORMANCE, urlFor, psql, createDatabase, setupWorkload, readJson };
