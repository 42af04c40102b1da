#!/usr/bin/env bash
# Builds the conformance harness (Go, modules from the module proxy) and runs
# every scenario against kleidi from dist/ (npm run test:conformance builds it
# first). The harness itself starts, restarts and stops kleidi; this script
# only owns the scratch directory and the harness process.
#
#   bash test/conformance/run.sh                       # all scenarios, local backend
#   bash test/conformance/run.sh -run 'health|limits'  # some scenarios
#   bash test/conformance/run.sh -mode load -concurrency 16 -duration 10s
#
# Extra arguments go to the harness (see docs/testing.md). Set
# CONFORMANCE_KEEP=1 to keep the scratch directory (logs, configs) afterwards,
# CONFORMANCE_KLEIDI_CMD to run another kleidi command than node dist/main.js,
# CONFORMANCE_K8S_VERSION=v0.<minor>.<patch> to run the harness built against
# that k8s.io/apiserver (test/conformance/build.sh, cached; versions.json lists
# the minors `npm run test:matrix` runs) instead of the one go.mod pins.
set -euo pipefail

here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
repo="$(cd "$here/../.." && pwd)"

# The pinned Node (devDependency "node") when installed, else whatever is on PATH.
node_bin=node
[[ -x "$repo/node_modules/.bin/node" ]] && node_bin="$repo/node_modules/.bin/node"
# CONFORMANCE_KLEIDI_CMD overrides how kleidi is run (e.g. an installed binary).
kleidi_cmd="${CONFORMANCE_KLEIDI_CMD:-$node_bin $repo/dist/main.js}"
if [[ -z "${CONFORMANCE_KLEIDI_CMD:-}" && ! -f "$repo/dist/main.js" ]]; then
  echo "conformance: $repo/dist/main.js is missing; run 'npm run build' (or npm run test:conformance)" >&2
  exit 2
fi
command -v go >/dev/null 2>&1 || { echo "conformance: Go is not installed (go.mod says which version)" >&2; exit 2; }

# scripts/test-all.sh asks for a JSON summary through KLEIDI_CONFORMANCE_SUMMARY.
# Unset it: kleidi reads every KLEIDI_* variable as a setting and rejects unknown ones.
summary_args=()
if [[ -n "${KLEIDI_CONFORMANCE_SUMMARY:-}" ]]; then
  summary_args=(-summary "$KLEIDI_CONFORMANCE_SUMMARY")
fi
unset KLEIDI_CONFORMANCE_SUMMARY

# Short path: unix socket paths must stay under 108 bytes (sun_path).
work="$(mktemp -d "${TMPDIR:-/tmp}/kleidi-conf.XXXXXX")"
harness_pid=""

cleanup() {
  local rc=$?
  if [[ -n "$harness_pid" ]] && kill -0 "$harness_pid" 2>/dev/null; then
    # The harness stops the kleidi processes it started when it gets SIGTERM.
    kill -TERM "$harness_pid" 2>/dev/null || true
    wait "$harness_pid" 2>/dev/null || true
  fi
  if [[ "${CONFORMANCE_KEEP:-}" == 1 ]]; then
    echo "conformance: kept $work"
  else
    rm -rf "$work"
  fi
  exit "$rc"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

if [[ -n "${CONFORMANCE_K8S_VERSION:-}" ]]; then
  harness="$(bash "$here/build.sh" "$CONFORMANCE_K8S_VERSION")"
else
  echo "conformance: building harness" >&2
  (cd "$here" && go build -buildvcs=false -o "$work/conformance" .)
  harness="$work/conformance"
fi

"$harness" -work-dir "$work" -kleidi "$kleidi_cmd" "${summary_args[@]}" "$@" &
harness_pid=$!
set +e
wait "$harness_pid"
rc=$?
set -e
harness_pid=""
exit "$rc"
