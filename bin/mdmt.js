#!/usr/bin/env node
'use strict';
const cli = require('../dist/ts/cli/main.js');
cli.exitOnSignals();
cli.main(process.argv).then((code) => { process.exitCode = code; });
