#!/usr/bin/env bash
# Runs the conformance harness (test/conformance) against kleidi's pkcs11
# backend on a fresh SoftHSM2 token: a temporary SOFTHSM2_CONF and token
# directory, a 0600 PIN file, `kleidi init` for the first KEK, then every
# scenario with KLEIDI_BACKEND=pkcs11 (rotation through `kleidi rotate`, the
# harness default). Both "nodes" of the two-node scenario use the same token,
# as two control-plane nodes share one network HSM. Extra arguments go to the
# harness. Needs dist/ (npm run build) and SoftHSM2 (scripts/setup-softhsm.sh).
set -euo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
module="${KLEIDI_PKCS11_MODULE:-/usr/lib/softhsm/libsofthsm2.so}"
[[ -e "$module" ]] || { echo "conformance-pkcs11: $module missing; run scripts/setup-softhsm.sh" >&2; exit 2; }

dir="$(mktemp -d "${TMPDIR:-/tmp}/kleidi-conf-pkcs11.XXXXXX")"
trap 'rm -rf "$dir"' EXIT
mkdir -m 700 "$dir/tokens"
printf 'directories.tokendir = %s\nobjectstore.backend = file\nlog.level = ERROR\n' "$dir/tokens" >"$dir/softhsm2.conf"
# Test-only PINs: real PINs are never typed on a command line (docs/backends/pkcs11.md).
pin="conf-$RANDOM$RANDOM"
SOFTHSM2_CONF="$dir/softhsm2.conf" softhsm2-util --init-token --free --label kleidi-conformance \
  --so-pin "so-$pin" --pin "$pin" >/dev/null
(umask 077 && printf '%s' "$pin" >"$dir/pin")

settings=(
  "SOFTHSM2_CONF=$dir/softhsm2.conf"
  "KLEIDI_PKCS11_MODULE=$module"
  "KLEIDI_PKCS11_TOKEN_LABEL=kleidi-conformance"
  "KLEIDI_PKCS11_PIN_FILE=$dir/pin"
  "KLEIDI_PKCS11_KEY_LABEL=kleidi-kek"
)
env "${settings[@]}" KLEIDI_BACKEND=pkcs11 node "$root/dist/main.js" init --state-dir "$dir/state" >/dev/null

env_args=()
for s in "${settings[@]}"; do env_args+=(-env "$s"); done
bash "$root/test/conformance/run.sh" -backend pkcs11 "${env_args[@]}" "$@"
