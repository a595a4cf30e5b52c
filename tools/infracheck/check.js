#!/usr/bin/env node
'use strict';
// Offline proof for infra/: `node tools/infracheck/check.js [--root DIR]`
// One line per check, problems indented below a failing one, then "N passed, N failed". Exit 1 on any failure.
// It proves syntax and consistency only; compiling and ARM validation need Azure: infra/scripts/validate-online.sh.

const path = require('node:path');
const { runChecks } = require('./lib/checks');

function main(argv) {
  let root = path.resolve(__dirname, '..', '..');
  for (let i = 0; i < argv.length; i++) {
    if (argv[i] === '--root') root = path.resolve(argv[++i]);
    else if (argv[i] === '-h' || argv[i] === '--help') {
      process.stdout.write('usage: node tools/infracheck/check.js [--root REPO_ROOT]\n');
      return 0;
    } else {
      process.stderr.write(`infracheck: unknown argument ${argv[i]}\n`);
      return 2;
    }
  }
  const results = runChecks(root);
  let passed = 0;
  let failed = 0;
  for (const r of results) {
    if (r.problems.length) {
      failed++;
      process.stdout.write(`FAIL ${r.name}: ${r.problems.length} problem${r.problems.length > 1 ? 's' : ''}\n`);
      for (const p of r.problems) process.stdout.write(`     - ${p}\n`);
    } else {
      passed++;
      process.stdout.write(`ok   ${r.name}${r.summary ? `: ${r.summary}` : ''}\n`);
    }
  }
  process.stdout.write(`${passed} passed, ${failed} failed\n`);
  return failed ? 1 : 0;
}

if (require.main === module) process.exitCode = main(process.argv.slice(2));
module.exports = { main };
