#!/usr/bin/env node
import { runCli } from './composition/cli.js';

// The entry point stays tiny: parsing, wiring and lifecycle live in composition/.
const code = await runCli(process.argv, process.env);
process.exitCode = code;
