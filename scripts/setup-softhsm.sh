#!/usr/bin/env bash
# Installs what the PKCS#11 backend's tests need: SoftHSM2 (the token) and
# OpenSC (pkcs11-tool, for manual inspection and the docs' procedures).
# Idempotent: does nothing when both are present. CI runs it as root on a
# fresh Debian 12 machine; elsewhere it uses sudo when it has to.
set -euo pipefail

MODULE="${KLEIDI_PKCS11_MODULE:-/usr/lib/softhsm/libsofthsm2.so}"

missing=()
command -v softhsm2-util >/dev/null 2>&1 && [[ -e "$MODULE" ]] || missing+=(softhsm2)
command -v pkcs11-tool >/dev/null 2>&1 || missing+=(opensc)

if ((${#missing[@]} > 0)); then
  if ! command -v apt-get >/dev/null 2>&1; then
    echo "setup-softhsm: missing ${missing[*]} and no apt-get; install SoftHSM2 >= 2.6 and OpenSC by hand" >&2
    exit 1
  fi
  sudo=()
  if [[ $(id -u) -ne 0 ]]; then
    command -v sudo >/dev/null 2>&1 || { echo "setup-softhsm: need root or sudo to install ${missing[*]}" >&2; exit 1; }
    sudo=(sudo)
  fi
  echo "setup-softhsm: installing ${missing[*]}"
  "${sudo[@]}" env DEBIAN_FRONTEND=noninteractive apt-get -o DPkg::Lock::Timeout=600 update -q # waits for apt-daily or another install instead of failing (apt >= 1.9.11)
  "${sudo[@]}" env DEBIAN_FRONTEND=noninteractive apt-get -o DPkg::Lock::Timeout=600 install -y -q --no-install-recommends "${missing[@]}"
fi

if [[ ! -e "$MODULE" ]]; then
  echo "setup-softhsm: $MODULE not found after install (set KLEIDI_PKCS11_MODULE to the module path)" >&2
  exit 1
fi
echo "setup-softhsm: $(softhsm2-util --version 2>/dev/null | head -1 | sed 's/^/softhsm2 /'), module $MODULE"
