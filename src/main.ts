#!/usr/bin/env node
// First, so the heap settings hold while the rest loads (composition/heap-tuning.ts).
import './composition/heap-tuning.js';
import { backends } from './composition/backends/index.js';
import { runCli } from './composition/cli.js';

// The entry point stays tiny: parsing, wiring and lifecycle live in composition/.
// SECURITY: secrets passed as environment variables (KLEIDI_PKCS11_PIN, KLEIDI_VAULT_TOKEN) go to
// the composition in a private copy and are removed from process.env, so they reach neither child
// processes nor diagnostic reports. /proc/<pid>/environ still shows the environment the process
// started with (the kernel keeps that block): prefer the *File settings (docs/security-checks.md).
const env = { ...process.env };
for (const name of backends.flatMap((b) => b.secretEnv ?? [])) delete process.env[name];
const code = await runCli(process.argv, env);
process.exitCode = code;
