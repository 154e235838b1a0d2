#!/usr/bin/env node
'use strict';
require('../dist/ts/cli/main.js').main(process.argv).then((code) => { process.exitCode = code; });
