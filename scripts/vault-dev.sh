#!/usr/bin/env bash
# Starts a Vault dev server for trying kleidi's vault backend by hand (or for
# the conformance harness): builds the test server if needed
# (setup-vault-server.sh), listens on 127.0.0.1 only, enables transit, creates
# the key "kleidi" and writes a token file plus an env file for kleidi.
# In-memory and unsealed: a development tool, never a production setup.
# Usage: scripts/vault-dev.sh [port]   (default 8200; Ctrl-C stops it)
# KLEIDI_VAULT_DEV_DIR=<empty dir> puts the token and env files there (for
# scripts that start it in the background and wait for <dir>/kleidi.env).
set -euo pipefail

root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
bin="$(bash "$root/scripts/setup-vault-server.sh" | tail -1)"
port="${1:-8200}"
dir="${KLEIDI_VAULT_DEV_DIR:-$(mktemp -d "${TMPDIR:-/tmp}/kleidi-vault-dev.XXXXXX")}"
export VAULT_ADDR="http://127.0.0.1:$port" VAULT_TOKEN=root
# Refuse a taken port: `vault status` below would otherwise talk to whatever server holds it.
if (exec 3<>"/dev/tcp/127.0.0.1/$port") 2>/dev/null; then
  echo "vault-dev: 127.0.0.1:$port is already in use; pass another port" >&2
  exit 1
fi

HOME="$dir" "$bin" server -dev -dev-root-token-id=root -dev-listen-address="127.0.0.1:$port" \
  -dev-no-store-token >"$dir/server.log" 2>&1 &
pid=$!
trap 'kill "$pid" 2>/dev/null; wait "$pid" 2>/dev/null; rm -rf "$dir"' EXIT INT TERM

for _ in $(seq 1 100); do
  "$bin" status >/dev/null 2>&1 && break
  kill -0 "$pid" 2>/dev/null || { cat "$dir/server.log" >&2; exit 1; }
  sleep 0.2
done
"$bin" secrets enable transit >/dev/null
"$bin" write -f transit/keys/kleidi type=aes256-gcm96 >/dev/null

install -m 0600 /dev/null "$dir/token"
printf '%s' "$VAULT_TOKEN" >"$dir/token"
cat >"$dir/kleidi.env.tmp" <<EOF
KLEIDI_BACKEND=vault
KLEIDI_VAULT_ADDRESS=$VAULT_ADDR
KLEIDI_VAULT_TOKEN_FILE=$dir/token
EOF
mv "$dir/kleidi.env.tmp" "$dir/kleidi.env" # appears complete or not at all

cat <<EOF
Vault dev server (in memory, unsealed) at $VAULT_ADDR, pid $pid
root token:  root   (also in $dir/token, mode 0600)
transit key: transit/keys/kleidi
kleidi env:  $dir/kleidi.env   e.g.  set -a; . $dir/kleidi.env; set +a
rotate:      VAULT_ADDR=$VAULT_ADDR VAULT_TOKEN=root $bin write -f transit/keys/kleidi/rotate
Ctrl-C stops the server and removes $dir.
EOF
wait "$pid"
