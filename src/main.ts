#!/usr/bin/env node
// First, so no key material loaded later can reach a core dump (core-dumps.ts).
import './core-dumps.js';
// Then the heap settings, before the rest loads (heap-tuning.ts).
import './heap-tuning.js';
import { backends } from './composition/backends/index.js';
import { runCli } from './adapters/inbound/cli/cli.js';
import { cliApp } from './composition/cli-app.js';

// The entry point stays tiny: the CLI (adapters/inbound/cli) parses the command line and drives
// what the composition root (composition/) wires.
// SECURITY: secrets passed as environment variables (KLEIDI_PKCS11_PIN, KLEIDI_VAULT_TOKEN,
// AWS_SECRET_ACCESS_KEY, AWS_SESSION_TOKEN: each backend's secretEnv) go to
// the composition in a private copy and are removed from process.env, so they reach neither child
// processes nor diagnostic reports. /proc/<pid>/environ still shows the environment the process
// started with (the kernel keeps that block): prefer the *File settings (docs/security-checks.md).
const env = { ...process.env };
for (const name of backends.flatMap((b) => b.secretEnv ?? [])) delete process.env[name];
const code = await runCli(process.argv, cliApp(env));
process.exitCode = code;
