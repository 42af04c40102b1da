#!/usr/bin/env bash
# Validates everything under deploy/ offline (deploy/README.md):
#   1. test/deploy (Go; Helm, client-go, apiserver and kind as libraries, from
#      the Go module proxy) strictly decodes every manifest into the real API
#      types, runs kube-apiserver's EncryptionConfiguration validation, decodes
#      the kind config with kind's types, lints and renders the Helm chart for
#      its defaults and every ci/*.yaml, and checks the Grafana dashboard;
#   2. scripts/check-deploy-config.mjs feeds the kleidi settings found in the
#      manifests, the systemd unit and each rendered chart to kleidi's own
#      config loader (dist/);
#   3. test/deploy/dockerfile-lint runs BuildKit's Dockerfile checks (`docker build --check`)
#      on deploy/Dockerfile for each variant, offline, and requires every base pinned by digest;
#   4. systemd-analyze verifies the unit file, where systemd is installed.
# Idempotent: the validator binaries are cached in .cache/validate-deploy and
# rebuilt only when test/deploy or the Go version changes (the first build of
# Helm's module graph takes a few minutes on 2 cores; later runs take seconds).
set -euo pipefail

root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
src="$root/test/deploy"
cache="${KLEIDI_VALIDATE_DEPLOY_CACHE:-$root/.cache/validate-deploy}"
bin="$cache/validate-deploy"
stamp="$cache/validate-deploy.stamp"

if ! command -v go >/dev/null 2>&1; then
  echo "validate-deploy: Go is not installed; install Go >= 1.26 (test/deploy/go.mod) and rerun" >&2
  exit 1
fi

want="$(cat "$src"/go.mod "$src"/go.sum "$src"/*.go | sha256sum | cut -d' ' -f1) $(go env GOVERSION)"
if [[ -x "$bin" && -f "$stamp" && "$(cat "$stamp")" == "$want" ]]; then
  echo "validate-deploy: validator up to date"
else
  echo "validate-deploy: building the validator (Go modules from the module proxy)"
  mkdir -p "$cache"
  (cd "$src" && go build -trimpath -o "$bin.tmp" .)
  mv "$bin.tmp" "$bin"
  echo "$want" >"$stamp"
fi

rendered="$cache/rendered"
rm -rf "$rendered"
"$bin" -repo "$root" -rendered "$rendered"

# deploy/Dockerfile through BuildKit's own frontend (its own module: BuildKit's dependency graph
# stays out of the manifest validator's).
lint_src="$src/dockerfile-lint"
lint_bin="$cache/dockerfile-lint"
lint_want="$(cat "$lint_src"/go.mod "$lint_src"/go.sum "$lint_src"/*.go | sha256sum | cut -d' ' -f1) $(go env GOVERSION)"
if [[ ! -x "$lint_bin" || ! -f "$lint_bin.stamp" || "$(cat "$lint_bin.stamp")" != "$lint_want" ]]; then
  echo "validate-deploy: building the Dockerfile linter (BuildKit from the module proxy)"
  (cd "$lint_src" && go build -trimpath -o "$lint_bin.tmp" .)
  mv "$lint_bin.tmp" "$lint_bin"
  echo "$lint_want" >"$lint_bin.stamp"
fi
(cd "$root" && "$lint_bin" deploy/Dockerfile)

if [[ ! -f "$root/dist/composition/config/load.js" ]]; then
  (cd "$root" && npm run --silent build)
fi
# The pinned Node 24 (tools/node-toolchain, docs/adr/0010-node-binary-pin.md), whatever the system node is.
node_bin="$root/node_modules/.bin/node"
"$node_bin" "$root/scripts/check-deploy-config.mjs" "$rendered"

if command -v systemd-analyze >/dev/null 2>&1; then
  # verify wants ExecStart's binary to exist; point it at this machine's node for the check.
  unit_dir="$(mktemp -d)"
  trap 'rm -rf "$unit_dir"' EXIT
  sed "s|/usr/local/bin/node|$(readlink -f "$node_bin")|" "$root/deploy/systemd/kleidi.service" >"$unit_dir/kleidi.service"
  systemd-analyze verify "$unit_dir/kleidi.service"
  echo "ok   deploy/systemd/kleidi.service: systemd-analyze verify"
else
  echo "note deploy/systemd/kleidi.service: systemd-analyze not installed; checked by kleidi's config loader only"
fi
echo "validate-deploy: done"
