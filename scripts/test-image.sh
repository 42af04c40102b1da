#!/usr/bin/env bash
# The container image, built and run (`npm run test:image`; docs/testing.md, "The container image"):
#   1. builds it (scripts/build-image.sh: Debian-package bases, deploy/Dockerfile; warm: reused);
#   2. runs it as the static pod does (deploy/kubernetes/static-pod.yaml): the init container, then
#      kleidi with a read-only root, uid 65532, no capabilities, the socket directory bind-mounted
#      from a host path, the state directory on another, host network with HTTP on loopback; checks
#      the socket is 0600 and owned by 65532 on the host, /livez and /readyz answer, `kleidi status`
#      and `kleidi version` in the container, and a SIGTERM ends it with status 0 and no socket left;
#   3. runs the conformance harness (test/conformance/run.sh) with every kleidi it starts in that
#      container set-up (test/image/kleidi-in-podman.sh);
#   4. prints the image's and the runtime base's sizes.
# Writes .cache/image/report.json ({passed, failed, checks, image, base, seconds}; a conformance
# summary next to it) and exits non-zero when anything failed.
#   bash scripts/test-image.sh [conformance harness arguments, e.g. -run 'write-read|health']
set -euo pipefail
shopt -s inherit_errexit
repo="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$repo"
# shellcheck source=scripts/lib/image-env.sh
source "$repo/scripts/lib/image-env.sh"
out="$repo/.cache/image"
mkdir -p "$out"
rm -f "$out/report.json" "$out/conformance.json"
say() { echo "test-image: $*" >&2; }
node_bin="$repo/node_modules/.bin/node"

checks="$(mktemp)" work="$(mktemp -d "${TMPDIR:-/tmp}/kleidi-img.XXXXXX")" cid=""
cleanup() {
  [[ -z "$cid" ]] || kpodman rm --force --time 0 "$cid" >/dev/null 2>&1 || true
  # Anything the conformance run's containers left (test/image/kleidi-in-podman.sh names them).
  kpodman ps --all --quiet --filter name=kleidi-img- | xargs -r "${KPODMAN[@]}" rm --force --time 0 >/dev/null 2>&1 || true
  rm -rf "$work" "$checks"
}
trap cleanup EXIT
# check <name> <command…>: runs it, records pass/fail.
check() {
  local name="$1"; shift
  if "$@" >"$work/check.log" 2>&1; then
    say "ok   $name"; printf 'pass\t%s\n' "$name" >>"$checks"
  else
    say "FAIL $name"; sed 's/^/  | /' "$work/check.log" | tail -20 >&2; printf 'fail\t%s\n' "$name" >>"$checks"
  fi
}

# ---- 1. build
t0=$SECONDS
bash "$repo/scripts/build-image.sh" >/dev/null
build_s=$((SECONDS - t0))
# IMAGE, RUNTIME_BASE, BUILD_BASE of the image just built.
source "$KLEIDI_IMAGE_CACHE/built.env"
image="$IMAGE" base_ref="$RUNTIME_BASE"
size_of() { kpodman image inspect --format '{{.Size}}' "$1"; }
mb() { echo $((($1 + 500000) / 1000000)); } # rounded, as the closing line's toFixed(0) rounds
image_size="$(size_of "$image")"
base_size="$(size_of "$base_ref")"
say "image $image: $(mb "$image_size") MB (runtime base $base_ref: $(mb "$base_size") MB), built or reused in $build_s s"

# ---- 2. the static pod, by hand
t1=$SECONDS
sock_dir="$work/run/kleidi" state_dir="$work/lib/kleidi"
# hostPath type DirectoryOrCreate: created by the kubelet as root, 0755.
install -d -m 0755 "$sock_dir" "$state_dir"
port="$("$node_bin" -e 'const s=require("net").createServer().listen(0,"127.0.0.1",()=>{console.log(s.address().port);s.close()})')"
pod=("${KLEIDI_IMAGE_LIMITS[@]}" --read-only --security-opt no-new-privileges --pull never
  --volume "$sock_dir:/var/run/kleidi" --volume "$state_dir:/var/lib/kleidi")
check "init container prepares the host directories (root, CAP_CHOWN and CAP_FOWNER only)" \
  kpodman run --rm "${pod[@]}" --network none --user 0:0 --cap-drop all --cap-add CHOWN,FOWNER \
  --entrypoint /nodejs/bin/node "$image" /opt/kleidi/init/prepare-host-dirs.mjs \
  --owner 65532:65532 --socket-dir /var/run/kleidi --state-dir /var/lib/kleidi
check "init container again on the prepared host (every later pod start: the state directory is 65532's, 0700)" \
  kpodman run --rm "${pod[@]}" --network none --user 0:0 --cap-drop all --cap-add CHOWN,FOWNER \
  --entrypoint /nodejs/bin/node "$image" /opt/kleidi/init/prepare-host-dirs.mjs \
  --owner 65532:65532 --socket-dir /var/run/kleidi --state-dir /var/lib/kleidi
cid="$(kpodman run --detach "${pod[@]}" --network host --user 65532:65532 --cap-drop all --memory 256m \
  --env KLEIDI_BACKEND=local --env KLEIDI_SOCKET=unix:///var/run/kleidi/kms.sock \
  --env KLEIDI_STATE_DIR=/var/lib/kleidi --env "KLEIDI_HTTP_ADDRESS=127.0.0.1:$port" \
  --env KLEIDI_SHUTDOWN_GRACE=10s "$image" serve)"
socket_appears() {
  for _ in $(seq 100); do [[ -S "$sock_dir/kms.sock" ]] && return 0; sleep 0.1; done
  kpodman logs "$cid"; return 1
}
check "kleidi starts and creates its socket on the host path" socket_appears
socket_mode() { stat -c '%a %u:%g' "$sock_dir/kms.sock" | tee /dev/stderr | grep -x '600 65532:65532' >/dev/null; }
check "the socket is 0600, owned by 65532:65532, on the host" socket_mode
dir_modes() {
  stat -c '%n %a %u' "$sock_dir" "$state_dir" "$state_dir"/* | tee /dev/stderr
  [[ "$(stat -c '%a %u' "$sock_dir")" == "750 65532" && "$(stat -c '%a %u' "$state_dir")" == "700 65532" ]]
}
check "socket directory 0750 and state directory 0700, owned by 65532, the keyring in the state volume" dir_modes
http_ok() { "$node_bin" -e 'fetch(process.argv[1]).then(async r=>{console.log(r.status,await r.text());process.exit(r.ok?0:1)},e=>{console.error(e);process.exit(1)})' "$1"; }
probe() { for _ in $(seq 50); do http_ok "$1" && return 0; sleep 0.2; done; return 1; }
check "/livez answers 200 on loopback (the kubelet's startup and liveness probes)" probe "http://127.0.0.1:$port/livez"
check "/readyz answers 200 on loopback (the readiness probe: Status healthz ok)" probe "http://127.0.0.1:$port/readyz"
in_container() { kpodman exec "$cid" /nodejs/bin/node /opt/kleidi/dist/main.js "$@"; }
check "kleidi status in the running container (crictl exec, as deploy/Dockerfile documents)" \
  in_container status --socket unix:///var/run/kleidi/kms.sock
version_ok() { kpodman run --rm "${pod[@]}" --network none --user 65532:65532 "$image" version | tee /dev/stderr | grep '"node":"v24\.' >/dev/null; }
check "kleidi version in the image runs on the pinned Node.js 24" version_ok
read_only() { ! kpodman exec "$cid" /nodejs/bin/node -e 'require("fs").writeFileSync("/opt/kleidi/x","")'; }
check "the root filesystem is read-only" read_only
no_shell() { ! kpodman exec "$cid" /bin/sh -c true 2>/dev/null; }
check "the image has no shell" no_shell
sigterm() {
  kpodman stop --time 15 "$cid" >/dev/null
  local rc; rc="$(kpodman inspect --format '{{.State.ExitCode}}' "$cid")"
  echo "exit status $rc"; [[ $rc == 0 && ! -e "$sock_dir/kms.sock" ]]
}
check "SIGTERM (the kubelet's stop) ends kleidi with status 0 and removes the socket" sigterm
kpodman rm --force "$cid" >/dev/null 2>&1 || true
cid=""
pod_s=$((SECONDS - t1))

# ---- 3. the conformance harness against the containerised kleidi
t2=$SECONDS
conf_rc=0
KLEIDI_IMAGE_REF="$image" CONFORMANCE_KLEIDI_CMD="$repo/test/image/kleidi-in-podman.sh" \
  KLEIDI_CONFORMANCE_SUMMARY="$out/conformance.json" bash test/conformance/run.sh "$@" || conf_rc=$?
conf_s=$((SECONDS - t2))
[[ $conf_rc == 0 ]] && printf 'pass\t%s\n' "conformance harness against the container" >>"$checks" ||
  printf 'fail\t%s\n' "conformance harness against the container (exit $conf_rc)" >>"$checks"

# ---- 4. report
"$node_bin" - "$checks" "$out/report.json" "$out/conformance.json" <<EOF
const fs = require('node:fs');
const [checksFile, reportFile, confFile] = process.argv.slice(2);
const checks = fs.readFileSync(checksFile, 'utf8').trim().split('\n').filter(Boolean)
  .map((l) => ({ name: l.slice(5), ok: l.startsWith('pass') }));
let conformance = null;
try { conformance = JSON.parse(fs.readFileSync(confFile, 'utf8')); } catch {}
const report = {
  passed: checks.filter((c) => c.ok).length,
  failed: checks.filter((c) => !c.ok).length,
  checks,
  conformance,
  image: { ref: '$image', bytes: $image_size },
  base: { ref: '$base_ref', bytes: $base_size },
  seconds: { build: $build_s, staticPod: $pod_s, conformance: $conf_s, total: $SECONDS },
};
fs.writeFileSync(reportFile, JSON.stringify(report, null, 2) + '\n');
console.log(\`test-image: \${report.passed} passed, \${report.failed} failed; image \${(report.image.bytes / 1e6).toFixed(0)} MB, runtime base \${(report.base.bytes / 1e6).toFixed(0)} MB; build \${report.seconds.build} s, static pod \${report.seconds.staticPod} s, conformance \${report.seconds.conformance} s\`);
process.exit(report.failed ? 1 : 0);
EOF
