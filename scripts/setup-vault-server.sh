#!/usr/bin/env bash
# Builds the Vault server the vault backend's tests run against, from Go
# modules only (test/vault-server pins the version). The binary is cached by
# content hash under ${KLEIDI_TOOLS_CACHE:-$HOME/.cache/kleidi}/vault-server/<hash>/,
# so every clone of the repository on the same machine (CI's fresh clone
# included) reuses it; the hash covers test/vault-server's go.mod, go.sum and
# main.go, this script and the Go version. .cache/vault-server/vault in the
# repository is a link to it, where the tests and the bench look. Idempotent.
# KLEIDI_VAULT_SERVER_CACHE names one directory to build in instead. Nothing is
# downloaded except Go modules from the module proxy. The first build on a
# 2-core machine takes many minutes; the Go build cache makes later ones fast.
# Prints the binary's path as its last line.
set -euo pipefail

root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
src="$root/test/vault-server"

if ! command -v go >/dev/null 2>&1; then
  echo "setup-vault-server: Go is not installed; install Go >= 1.25.3 and rerun" >&2
  exit 1
fi

want="$(cat "$src/go.mod" "$src/go.sum" "$src/main.go" "${BASH_SOURCE[0]}" | sha256sum | cut -d' ' -f1) $(go env GOVERSION)"
if [[ -n "${KLEIDI_VAULT_SERVER_CACHE:-}" ]]; then
  cache="$KLEIDI_VAULT_SERVER_CACHE"
  link=""
else
  cache="${KLEIDI_TOOLS_CACHE:-$HOME/.cache/kleidi}/vault-server/$(echo "$want" | sha256sum | cut -c1-16)"
  link="$root/.cache/vault-server"
fi
bin="$cache/vault"
stamp="$cache/vault.stamp"

# Where the tests and the bench look for the binary (.cache/vault-server/vault).
publish() {
  if [[ -n "$link" ]]; then
    mkdir -p "$link"
    ln -sfn "$bin" "$link/vault"
  fi
  echo "$bin"
}

if [[ -x "$bin" && -f "$stamp" && "$(cat "$stamp")" == "$want" ]]; then
  echo "setup-vault-server: up to date" >&2
  publish
  exit 0
fi
mkdir -p "$cache"
start=$(date +%s)

# Vault's own build uses its in-tree sdk (a replace directive, which Go ignores
# in a dependency). The sdk tag Vault v1.21.4 requires, v0.21.0, differs from
# that tree in two signatures, so their call sites are adapted at build time: a copy of the module from the module cache, with those two
# files edited, replaces it in a copy of test/vault-server inside the cache.
# No Vault source is kept in this repository; test/vault-server/go.mod stays a
# plain pin.
(cd "$src" && go mod download github.com/hashicorp/vault)
vault_dir="$(cd "$src" && go list -m -f '{{.Dir}}' github.com/hashicorp/vault)"
vault_version="$(cd "$src" && go list -m -f '{{.Version}}' github.com/hashicorp/vault)"
patched="$cache/vault-src"
rm -rf "$patched"
cp -r "$vault_dir" "$patched" # a real copy: go:embed refuses symlinked files
chmod -R u+w "$patched"

patch_file() { # <file below the module root> <sed expression> <text that must appear afterwards>
  rm -f "$patched/$1"
  sed -e "$2" "$vault_dir/$1" >"$patched/$1"
  if ! grep -qF "$3" "$patched/$1"; then
    echo "setup-vault-server: could not adapt $1 (did the Vault version change?)" >&2
    exit 1
  fi
}
patch_file vault/identity_store.go \
  's/ActivationFunc: iStore.activateDeduplication,/ActivationFunc: func(ctx context.Context, req *logical.Request, _ string) error { return iStore.activateDeduplication(ctx, req) },/' \
  'req *logical.Request, _ string) error { return iStore.activateDeduplication'
patch_file vault/logical_system_activation_flags.go \
  's/b.idStoreBackend.ActivationFunc(ctx, nil)/b.idStoreBackend.ActivationFunc(ctx, nil, "")/' \
  'ActivationFunc(ctx, nil, "")'
# sdk v0.21.0's keysutil.LockManager.RestorePolicy returns only an error; the
# restored name is the requested one.
patch_file builtin/logical/transit/path_restore.go \
  's/restoredKeyName, err := b.lm.RestorePolicy(ctx, req.Storage, keyName, backupB64, force)/restoredKeyName, err := keyName, b.lm.RestorePolicy(ctx, req.Storage, keyName, backupB64, force)/' \
  'restoredKeyName, err := keyName, b.lm.RestorePolicy('

work="$cache/build"
rm -rf "$work"
mkdir -p "$work"
cp "$src/go.mod" "$src/go.sum" "$src/main.go" "$work/"
echo "replace github.com/hashicorp/vault $vault_version => $patched" >>"$work/go.mod"

echo "setup-vault-server: building Vault $vault_version (this takes many minutes the first time)" >&2
# -mod=readonly: go.sum is committed and complete, so a build never edits it.
(cd "$work" && GOWORK=off GOFLAGS="-mod=readonly -buildvcs=false" \
  go build -trimpath -ldflags='-s -w' -o "$bin.tmp" .)
mv -f "$bin.tmp" "$bin"
echo "$want" >"$stamp"
rm -rf "$work" "$patched" # the module copy and build tree are large; the Go build cache keeps what matters
echo "setup-vault-server: built in $(($(date +%s) - start)) s" >&2
publish
