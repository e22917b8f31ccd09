#!/usr/bin/env node
'use strict';
// Finds the C core this addon compiles and answers binding.gyp's questions through the core's one build
// recipe (recipe/recipe.sh in the repository; vendor/core/recipe.sh inside a packed tarball).
//   node tools/core.js sources | cflags | libs | include | version-script
//   node tools/core.js vendor      copies the core into vendor/core (npm pack runs it: the tarball builds
//                                  outside the repository)
//   node tools/core.js unvendor    removes vendor/ again (after npm pack)
const { execFileSync } = require('node:child_process');
const fs = require('node:fs');
const path = require('node:path');

const pkg = path.resolve(__dirname, '..');
const vendored = path.join(pkg, 'vendor', 'core');
const repo = path.resolve(pkg, '..');
const generated = path.join(pkg, 'build', 'generated');

function recipe() {
  const inTarball = path.join(vendored, 'recipe.sh');
  if (fs.existsSync(inTarball)) return { script: inTarball, root: vendored, vendored: true };
  const inRepo = path.join(repo, 'recipe', 'recipe.sh');
  if (fs.existsSync(inRepo)) return { script: inRepo, root: repo, vendored: false };
  throw new Error('tasker-core: the C core is missing: neither vendor/core (a packed package) nor ' +
                  '../recipe/recipe.sh (the repository) exists beside ' + pkg);
}

function run(r, ...args) {
  return execFileSync('sh', [r.script, ...args], { encoding: 'utf8' }).trim();
}

function sources(r) {
  const list = run(r, 'sources').split('\n').filter(Boolean);
  if (!r.vendored) {
    // In the repository the migrations are embedded at build time; a packed tarball already has them.
    fs.mkdirSync(generated, { recursive: true });
    const out = path.join(generated, 'migrations_embedded.c');
    run(r, 'embed-migrations', out);
    list.push(out);
  }
  return list;
}

function main(cmd) {
  switch (cmd) {
    case 'sources':
      // Relative to binding.gyp: gyp places each object file under the build tree by its source path.
      return sources(recipe()).map((f) => path.relative(pkg, f)).join('\n');
    case 'cflags': return run(recipe(), 'cflags');
    case 'libs': return run(recipe(), 'libs');
    case 'include': {
      const r = recipe();
      return path.join(r.root, 'c-api', 'include');
    }
    case 'version-script': {
      // Only the Node-API entry points leave the addon: the core's tasker_* symbols stay inside it, so
      // two addons (or a system libtasker) in one process never bind to each other's copy.
      fs.mkdirSync(generated, { recursive: true });
      const out = path.join(generated, 'exports.map');
      run(recipe(), 'version-script', out, 'napi_register_module_v1', 'node_api_module_get_api_version_v1');
      return out;
    }
    case 'vendor': {
      fs.rmSync(path.join(pkg, 'vendor'), { recursive: true, force: true });
      const inRepo = path.join(repo, 'recipe', 'recipe.sh');
      execFileSync('sh', [inRepo, 'vendor', vendored], { stdio: 'inherit' });
      return '';
    }
    case 'unvendor':
      fs.rmSync(path.join(pkg, 'vendor'), { recursive: true, force: true });
      return '';
    default:
      throw new Error('usage: node tools/core.js sources|cflags|libs|include|version-script|vendor|unvendor');
  }
}

try {
  const out = main(process.argv[2]);
  if (out) process.stdout.write(out + '\n');
} catch (e) {
  process.stderr.write(`${e.message}\n`);
  process.exit(1);
}
