#!/usr/bin/env bash
# kleidi in its container image, as a command: the conformance harness runs it in place of
# `node dist/main.js` (CONFORMANCE_KLEIDI_CMD, set by scripts/test-image.sh), so every scenario
# drives the containerised kleidi. Each `serve` runs as the static pod does
# (deploy/kubernetes/static-pod.yaml):
#   1. the init container: prepare-host-dirs.mjs as root with only CAP_CHOWN and CAP_FOWNER,
#      read-only root, giving uid 65532 the socket directory and the state directory;
#   2. kleidi: --read-only, --user 65532:65532, all capabilities dropped, no new privileges, the
#      socket's directory bind-mounted from the host at /var/run/kleidi, the state directory at
#      /var/lib/kleidi; no network (the harness turns kleidi's HTTP listener off).
# Other subcommands (`rotate`, `version`, …) run once in the same container set-up.
#
# Process model, so the harness's signals mean what they mean for a pod: SIGTERM/SIGINT to this
# script go to kleidi (PID 1 in the container; `podman kill --signal`), and this script exits with
# kleidi's status. A SIGKILL to this script cannot be caught: a watchdog in its own session then
# SIGKILLs the container, and the next `serve` on the same socket removes any container left over
# first, so a SIGKILLed kleidi leaves a stale socket exactly as a killed pod does.
#
#   KLEIDI_IMAGE_REF=<image> test/image/kleidi-in-podman.sh serve --socket unix:///dir/kms.sock --state-dir /dir/state …
# KLEIDI_* variables other than KLEIDI_IMAGE_* are passed into the container (kleidi's settings).
set -euo pipefail
here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
# shellcheck source=scripts/lib/image-env.sh
source "$here/../../scripts/lib/image-env.sh"
image="${KLEIDI_IMAGE_REF:?KLEIDI_IMAGE_REF names the image to run}"

# Rewrite the host paths of --socket and --state-dir to the container's, remembering the mounts.
args=() socket_dir="" state_dir=""
while (($#)); do
  case "$1" in
    --socket)
      path="${2#unix://}"
      socket_dir="$(dirname "$path")"
      args+=(--socket "unix:///var/run/kleidi/$(basename "$path")"); shift 2 ;;
    --state-dir)
      state_dir="$2"; args+=(--state-dir /var/lib/kleidi); shift 2 ;;
    *) args+=("$1"); shift ;;
  esac
done
sub="${args[0]:-}"

mounts=()
[[ -z "$socket_dir" ]] || mounts+=(--volume "$socket_dir:/var/run/kleidi")
[[ -z "$state_dir" ]] || mounts+=(--volume "$state_dir:/var/lib/kleidi")
envs=()
while IFS= read -r name; do
  [[ $name == KLEIDI_IMAGE_* ]] || envs+=(--env "$name")
done < <(compgen -e | grep '^KLEIDI_' || true)

# Flags every container of the pod shares (pod securityContext: no privilege escalation,
# seccomp RuntimeDefault is podman's default profile).
common=(--rm "${KLEIDI_IMAGE_LIMITS[@]}" --read-only --network none --security-opt no-new-privileges --pull never)

init_container() {
  local dirs=()
  [[ -z "$socket_dir" ]] || dirs+=(--socket-dir /var/run/kleidi)
  [[ -z "$state_dir" ]] || dirs+=(--state-dir /var/lib/kleidi)
  ((${#dirs[@]})) || return 0
  kpodman run "${common[@]}" --user 0:0 --cap-drop all --cap-add CHOWN,FOWNER "${mounts[@]}" \
    --entrypoint /nodejs/bin/node "$image" /opt/kleidi/init/prepare-host-dirs.mjs --owner 65532:65532 "${dirs[@]}"
}

kleidi=("${KPODMAN[@]}" run "${common[@]}" --user 65532:65532 --cap-drop all --memory 256m "${mounts[@]}" "${envs[@]}")

if [[ "$sub" != serve ]]; then
  init_container >&2
  "${kleidi[@]}" "$image" "${args[@]}"
  exit
fi

# One container per socket: the name says which, so a later start can find a leftover.
name="kleidi-img-$(printf '%s' "$socket_dir" | sha256sum | cut -c1-8)-$(printf '%s' "${args[*]}" | grep -o 'unix://[^ ]*' | sha256sum | cut -c1-8)"
kpodman rm --force --time 0 "$name" >/dev/null 2>&1 || true
init_container >&2

cidfile="$(mktemp -u "${TMPDIR:-/tmp}/kleidi-img-cid.XXXXXX")"
# podman itself is the child (not a subshell running it), so a signal to $child reaches podman.
"${kleidi[@]}" --name "$name" --cidfile "$cidfile" "$image" "${args[@]}" &
child=$!
# The watchdog: when this script is gone without its exit path (SIGKILL), the container goes
# too, killed as well. By id, so it never touches a later container of the same name.
setsid bash -c '
  source "$1"; while kill -0 "$2" 2>/dev/null; do sleep 0.2; done
  [[ ! -s "$3" ]] || kpodman rm --force --time 0 "$(cat "$3")" >/dev/null 2>&1 || true
  rm -f "$3"' watchdog "$here/../../scripts/lib/image-env.sh" "$$" "$cidfile" </dev/null >/dev/null 2>&1 &
watchdog=$!

# podman run passes the signals it gets to the container (--sig-proxy, on by default); should the
# container still run 3 s later, podman kill sends the signal again through conmon.
forward() {
  signalled=1
  kill -s "$1" "$child" 2>/dev/null || true
  (sleep 3; kill -0 "$child" 2>/dev/null && kpodman kill --signal "$1" "$name") >/dev/null 2>&1 &
}
trap 'forward TERM' TERM
trap 'forward INT' INT
rc=0
while :; do
  signalled=0
  wait "$child" && rc=0 || rc=$?
  # A trapped signal ends `wait` early (status > 128) whether or not podman has exited: wait again
  # for podman's own status, which is kleidi's.
  ((signalled)) || break
done
# The container is gone (--rm) unless podman itself failed: then remove it here.
kill "$watchdog" 2>/dev/null || true
[[ ! -s "$cidfile" ]] || kpodman rm --force --time 0 "$(cat "$cidfile")" >/dev/null 2>&1 || true
rm -f "$cidfile"
exit "$rc"
