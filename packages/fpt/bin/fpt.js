#!/usr/bin/env node
'use strict';
// The `fpt` command: a thin shim over the compiled CLI (run `npm run build` if dist/ is missing).
require('../dist/cli.js').main(process.argv.slice(2));
