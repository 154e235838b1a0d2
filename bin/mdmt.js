#!/usr/bin/env node
'use strict';
let cli;
try {
  cli = require('../dist/ts/cli/main.js');
} catch (e) {
  // a variable the library refuses as it loads (MDMT_DEVICE=gpu) is said in one line, as every
  // other CLI error (MDMT_DEBUG=1 adds the stack), not as an uncaught exception with its stack
  if (!e || e.name !== 'MdmtError') throw e;
  process.stderr.write(`mdmt: ${e.message}\n`);
  if (process.env.MDMT_DEBUG === '1') process.stderr.write(`${e.stack}\n`);
  process.exit(e.code === 'ECONFIG' ? 2 : 1);
}
cli.exitOnSignals();
cli.main(process.argv).then((code) => { process.exitCode = code; });
