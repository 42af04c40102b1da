#!/usr/bin/env bash
# Runs the conformance harness (test/conformance) against kleidi's vault
# backend: starts a Vault dev server on a loopback port (scripts/vault-dev.sh),
# points kleidi at it through KLEIDI_VAULT_* variables, and rotates through
# `kleidi rotate` (the harness default). Extra arguments go to the harness.
# Needs dist/ (npm run build) and the vault backend registered in
# src/composition/backends/index.ts.
set -euo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
# A free loopback port unless one is given: another Vault (a benchmark, a developer's) may hold 18200.
port="${KLEIDI_VAULT_DEV_PORT:-$(node -e "const s=require('net').createServer();s.listen(0,'127.0.0.1',()=>{console.log(s.address().port);s.close()})")}"
dir="$(mktemp -d "${TMPDIR:-/tmp}/kleidi-conf-vault.XXXXXX")"

KLEIDI_VAULT_DEV_DIR="$dir" bash "$root/scripts/vault-dev.sh" "$port" >"$dir/vault-dev.out" 2>&1 &
dev=$!
trap 'kill "$dev" 2>/dev/null; wait "$dev" 2>/dev/null || true' EXIT INT TERM

for _ in $(seq 1 1200); do # up to 10 min: the first run may build the server
  [[ -f "$dir/kleidi.env" ]] && break
  kill -0 "$dev" 2>/dev/null || { cat "$dir/vault-dev.out" >&2; exit 1; }
  sleep 0.5
done
[[ -f "$dir/kleidi.env" ]] || { echo "conformance-vault: the Vault dev server did not come up" >&2; exit 1; }

env_args=()
while IFS= read -r line; do
  [[ "$line" == KLEIDI_BACKEND=* ]] || env_args+=(-env "$line")
done <"$dir/kleidi.env"
bash "$root/test/conformance/run.sh" -backend vault "${env_args[@]}" "$@"
