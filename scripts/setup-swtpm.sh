#!/usr/bin/env bash
# Installs what the TPM backend's tests need: swtpm (a software TPM 2.0 on a
# loopback socket; one instance per simulated control-plane node), swtpm-tools
# (swtpm_ioctl, for a clean shutdown) and tpm2-tools (the cross-checks of
# kleidi's TPM command layer, and the docs' procedures).
# Idempotent: does nothing when all are present. CI runs it as root on a fresh
# Debian 12 machine; elsewhere it uses sudo when it has to.
set -euo pipefail

missing=()
command -v swtpm >/dev/null 2>&1 || missing+=(swtpm)
command -v swtpm_ioctl >/dev/null 2>&1 || missing+=(swtpm-tools)
command -v tpm2_createprimary >/dev/null 2>&1 || missing+=(tpm2-tools)

if ((${#missing[@]} > 0)); then
  if ! command -v apt-get >/dev/null 2>&1; then
    echo "setup-swtpm: missing ${missing[*]} and no apt-get; install swtpm >= 0.7 and tpm2-tools >= 5.4 by hand" >&2
    exit 1
  fi
  sudo=()
  if [[ $(id -u) -ne 0 ]]; then
    command -v sudo >/dev/null 2>&1 || { echo "setup-swtpm: need root or sudo to install ${missing[*]}" >&2; exit 1; }
    sudo=(sudo)
  fi
  echo "setup-swtpm: installing ${missing[*]}"
  "${sudo[@]}" env DEBIAN_FRONTEND=noninteractive apt-get -o DPkg::Lock::Timeout=600 update -q # waits for apt-daily or another install instead of failing (apt >= 1.9.11)
  "${sudo[@]}" env DEBIAN_FRONTEND=noninteractive apt-get -o DPkg::Lock::Timeout=600 install -y -q --no-install-recommends "${missing[@]}"
fi

echo "setup-swtpm: $(swtpm --version 2>/dev/null | head -1), $(tpm2_createprimary --version 2>/dev/null | head -1)"
