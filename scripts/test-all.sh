#!/usr/bin/env bash
# The whole test suite, as the README's test command (`npm run bootstrap && npm run check && npm test`)
# and CI (.ci/run) run it. It installs what the tests need on a fresh Debian
# 12 machine (each registered backend's test server: SoftHSM2 from Debian; a
# Vault test server built from Go modules, since OpenBao is not served by the
# module proxy here), then runs: type check, architecture rules,
# generated-code check, build, deployment artifacts, the vitest suites (unit,
# integration, short fuzz, and the contract suites of backends without a test
# server), then for every backend the registry gives a test server
# (src/composition/backends) its whole proof (`npm run test:backend`:
# contract suites, the Go conformance harness that drives kleidi exactly as
# kube-apiserver does, its reliability campaign), the conformance harness
# built against the oldest and the newest Kubernetes minor of
# test/conformance/versions.json (local backend), the key lifecycle end to end
# on a real kube-apiserver and etcd at the newest and the oldest supported
# version, the container image built and run as the static pod runs it, the
# campaigns of no single backend (fuzz, security, log scan) and a quick
# benchmark (figures printed, not asserted). A missing prerequisite fails the
# run; nothing skips.
# docs/testing.md describes each step.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."

step() { printf '\n=== %s === (+%d s)\n' "$*" "$SECONDS"; }
results="$(mktemp -d)"
# shellcheck source=scripts/lib/background.sh
source scripts/lib/background.sh
trap 'background_stop; rm -rf "$results"' EXIT

mapfile -t tested < <(npm run --silent backends -- names --tested)
mapfile -t tested_contracts < <(npm run --silent backends -- field testing.contract)

# The end-to-end scenarios the full run includes (test/e2e/run.ts names them).
E2E_IN_FULL_RUN=write-read,rotation,ha-two-phase-rotation,reencrypt,retire

step "prerequisites: the test servers of ${tested[*]}, kube-apiserver and etcd"
npm run --silent backends -- prepare
# etcd for `kleidi usage` and `kleidi retire` (test/integration/*-etcd.test.ts), needed by vitest.
bash scripts/setup-control-plane.sh --etcd >/dev/null
# kube-apiserver at the newest and the oldest supported version for the end-to-end step and the
# container image: minutes each to build cold (docs/testing.md, "How long it takes", has the
# measured times), both cached, by version and by recipe, and built in the background while the
# suites run, since only the last steps need them.
# Not `--print | head -n 1`: bash writes --print's lines one at a time, head may be gone before the
# second, and under pipefail the SIGPIPE (exit 141) ended a CI run.
mapfile -t control_plane_versions < <(bash scripts/setup-control-plane.sh --print)
newest="${control_plane_versions[0]}" oldest="${control_plane_versions[-1]}"
background_start kube-apiserver "$results/kube-apiserver-build.log" bash scripts/setup-control-plane.sh "$newest" "$oldest"
background_start image "$results/image-build.log" bash scripts/build-image.sh

step "type check";            npm run --silent typecheck
step "architecture rules";    npm run --silent deps:check
step "generated code is current"; npm run --silent gen:check
step "build";                 npm run --silent build
step "deployment artifacts (offline)"; bash scripts/validate-deploy.sh
step "generated docs are current (configuration reference, architecture tables and diagrams, benchmark charts)"; npm run --silent docs:check

step "vitest: unit, integration, fuzz; contract suites of backends without a test server"
exclude=()
for c in "${tested_contracts[@]}"; do exclude+=(--exclude "$c"); done
vitest_rc=0
npx vitest run --reporter=default --reporter=json --outputFile="$results/vitest.json" "${exclude[@]}" || vitest_rc=$?

# The closing count (scripts/summarize-tests.mjs) gets every step that can fail the run, with its
# exit code and its reports, so it never says "0 failed" for a run that failed.
steps=(--step "vitest=$vitest_rc:$results/vitest.json")

# Each backend adds its campaign to $results/reliability; the rest run into it last, so the log
# scan sees every log and the report covers the whole campaign.
backend_rc=0
for backend in "${tested[@]}"; do
  step "backend $backend: contract suites, conformance, reliability campaign"
  rc=0
  npm run --silent test:backend -- "$backend" --no-build --results "$results" || rc=$?
  ((rc == 0)) || backend_rc=$rc
  steps+=(--step "backend $backend=$rc:$results/contract-$backend.json,$results/conformance-$backend.json,$results/reliability-$backend.json")
done

step "conformance at the oldest and the newest Kubernetes minor (local backend; npm run test:matrix runs every minor)"
matrix_rc=0
node scripts/test-matrix.mjs --oldest-newest --report "$results/matrix.json" || matrix_rc=$?
steps+=(--step "kubernetes minors (oldest, newest)=$matrix_rc:$results/matrix.json")

# The key lifecycle on a real control plane (issue 19's runbook): rotation, two-phase rotation on two
# apiservers, reencrypt interrupted and resumed, retire gated on a scan. The newest and the oldest
# supported Kubernetes, the local backend, to stay inside CI's limit; `npm run test:e2e` runs every
# scenario (outages, reload, restarts) on both versions and pkcs11 too (docs/testing.md).
step "end to end on kube-apiserver $newest and $oldest with etcd: the key lifecycle (local backend; npm run test:e2e runs it all)"
e2e_rc=0
if background_await kube-apiserver; then
  node --experimental-transform-types --disable-warning=ExperimentalWarning --import ./test/support/ts-child-hooks.mjs \
    test/e2e/run.ts --versions "$newest,$oldest" --backends local --only "$E2E_IN_FULL_RUN" --out "$results/e2e.json" || e2e_rc=$?
else
  e2e_rc=1 # no report: the closing count names the step as not finished
fi
steps+=(--step "end to end ($newest and $oldest, local)=$e2e_rc:$results/e2e.json")

# The container image built from deploy/Dockerfile on Debian-package bases (cached by recipe under
# ~/.cache/kleidi/image), run as the static pod runs it, and the conformance harness against it
# (docs/testing.md, "The container image").
step "the container image: built, run as the static pod, conformance against it"
image_rc=0
if background_await image; then
  bash scripts/test-image.sh || image_rc=$?
else
  image_rc=1
  rm -f .cache/image/report.json # an earlier run's report must not count for this one
fi
steps+=(--step "container image=$image_rc:.cache/image/report.json")

step "reliability: fuzzing, security checks, log scan"
rel_rc=0
node scripts/reliability.mjs --dist dist --out "$results/reliability" --append --rest \
  --json "$results/reliability-rest.json" || rel_rc=$?
steps+=(--step "reliability (fuzz, security, log scan)=$rel_rc:$results/reliability-rest.json")

step "benchmarks (quick; figures are printed, not asserted)"
bench_rc=0
rm -f .cache/bench/quick.json
node scripts/bench.mjs --quick || bench_rc=$?
steps+=(--step "benchmark=$bench_rc:.cache/bench/quick.json")

node_modules/.bin/node scripts/summarize-tests.mjs "${steps[@]}"
if ((vitest_rc != 0 || backend_rc != 0 || matrix_rc != 0 || e2e_rc != 0 || image_rc != 0 || rel_rc != 0 || bench_rc != 0)); then
  echo "test-all: failed (vitest $vitest_rc, backends $backend_rc, kubernetes minors $matrix_rc, end to end $e2e_rc, image $image_rc, reliability $rel_rc, bench $bench_rc)" >&2
  exit 1
fi
