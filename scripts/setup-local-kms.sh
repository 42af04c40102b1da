#!/usr/bin/env bash
# Builds local-kms (github.com/nsmithuk/local-kms), the AWS KMS implementation
# the aws backend's tests run against, from Go modules only: test/local-kms
# pins the version. The binary is cached by content hash under
# ${KLEIDI_TOOLS_CACHE:-$HOME/.cache/kleidi}/local-kms/<hash>/, so every clone
# of the repository on the same machine reuses it; the hash covers
# test/local-kms/go.mod, go.sum, this script and the Go version. Idempotent.
# Nothing is downloaded except Go modules from the module proxy. Prints the
# binary's path as its last line.
set -euo pipefail

root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
src="$root/test/local-kms"

if ! command -v go >/dev/null 2>&1; then
  echo "setup-local-kms: Go is not installed; install Go >= 1.24 and rerun" >&2
  exit 1
fi

hash="$(cat "$src/go.mod" "$src/go.sum" "${BASH_SOURCE[0]}" <(go env GOVERSION) | sha256sum | cut -c1-16)"
cache="${KLEIDI_TOOLS_CACHE:-$HOME/.cache/kleidi}/local-kms/$hash"
bin="$cache/local-kms"
if [[ -x "$bin" ]]; then
  echo "setup-local-kms: up to date" >&2
  echo "$bin"
  exit 0
fi
mkdir -p "$cache"
start=$(date +%s)

# local-kms listens on every interface (":"+PORT) and has no setting for it.
# A test KMS that accepts any credentials must not be reachable from the
# network, so a copy of the module from the module cache, with its listen
# address set to 127.0.0.1, replaces it in a copy of test/local-kms inside
# the cache. No local-kms source is kept in this repository.
(cd "$src" && GOWORK=off go mod download github.com/nsmithuk/local-kms)
lkms_dir="$(cd "$src" && GOWORK=off go list -m -f '{{.Dir}}' github.com/nsmithuk/local-kms)"
lkms_version="$(cd "$src" && GOWORK=off go list -m -f '{{.Version}}' github.com/nsmithuk/local-kms)"
patched="$cache/src"
rm -rf "$patched"
cp -r "$lkms_dir" "$patched"
chmod -R u+w "$patched"
sed -e 's/addr := ":"+port/addr := "127.0.0.1:"+port/' \
  -e 's/Local KMS started on 0.0.0.0:%s/Local KMS started on 127.0.0.1:%s/' \
  "$lkms_dir/src/server.go" >"$patched/src/server.go"
if ! grep -qF 'addr := "127.0.0.1:"+port' "$patched/src/server.go"; then
  echo "setup-local-kms: could not bind local-kms to loopback (did the version change?)" >&2
  exit 1
fi

work="$cache/build"
rm -rf "$work"
mkdir -p "$work"
cp "$src/go.mod" "$src/go.sum" "$work/"
echo "replace github.com/nsmithuk/local-kms $lkms_version => $patched" >>"$work/go.mod"

echo "setup-local-kms: building local-kms $lkms_version" >&2
# -mod=readonly: go.sum is committed and complete, so a build never edits it.
(cd "$work" && GOWORK=off GOFLAGS="-mod=readonly -buildvcs=false" \
  nice go build -trimpath -ldflags='-s -w' -o "$bin.tmp" github.com/nsmithuk/local-kms)
rm -rf "$work" "$patched"
mv -f "$bin.tmp" "$bin"
echo "setup-local-kms: built in $(($(date +%s) - start)) s" >&2
echo "$bin"
