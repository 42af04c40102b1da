#!/usr/bin/env bash
# The whole test suite, as the README's test command (`npm ci && npm test`)
# and CI (.ci/run) run it. It installs what the tests need on a fresh Debian
# 12 machine (SoftHSM2 from Debian; a Vault test server built from Go modules,
# since OpenBao is not served by the module proxy here), then runs: type
# check, architecture rules, generated-code check, build, deployment artifacts,
# every vitest suite (unit, contract against the real backends, integration,
# short fuzz), the Go conformance harness that drives kleidi exactly as
# kube-apiserver does (local, pkcs11, vault), the reliability campaign and a
# quick benchmark (figures printed, not asserted). A missing prerequisite
# fails the run; nothing skips. docs/testing.md describes each step.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."

step() { printf '\n=== %s ===\n' "$*"; }
results="$(mktemp -d)"
trap 'rm -rf "$results"' EXIT

step "prerequisites"
bash scripts/setup-softhsm.sh
bash scripts/setup-vault-server.sh

step "type check";            npm run --silent typecheck
step "architecture rules";    npm run --silent deps:check
step "generated code is current"; npm run --silent gen:check
step "build";                 npm run --silent build
step "deployment artifacts (offline)"; bash scripts/validate-deploy.sh
step "configuration reference is current"; npm run --silent docs:check

step "vitest: unit, contract, integration"
vitest_rc=0
npx vitest run --reporter=default --reporter=json --outputFile="$results/vitest.json" || vitest_rc=$?

conf_rc=0
for backend in local pkcs11 vault; do
  step "conformance ($backend): kube-apiserver's KMSv2 client against kleidi"
  runner=(bash test/conformance/run.sh)
  [[ "$backend" == local ]] || runner=(bash "scripts/conformance-$backend.sh")
  KLEIDI_CONFORMANCE_SUMMARY="$results/conformance-$backend.json" "${runner[@]}" || conf_rc=$?
done

step "reliability: fault campaign, fuzzing, security checks"
rel_rc=0
npm run --silent test:reliability || rel_rc=$?

step "benchmarks (quick; figures are printed, not asserted)"
bench_rc=0
npm run --silent bench -- --quick || bench_rc=$?

node_modules/.bin/node scripts/summarize-tests.mjs "$results/vitest.json" "$results"/conformance-*.json
if ((vitest_rc != 0 || conf_rc != 0 || rel_rc != 0 || bench_rc != 0)); then
  echo "test-all: failed (vitest $vitest_rc, conformance $conf_rc, reliability $rel_rc, bench $bench_rc)" >&2
  exit 1
fi
