# Sourced by scripts/build-image.sh, scripts/test-image.sh and test/image/kleidi-in-podman.sh: where
# the image work keeps its cache, and `kpodman`, podman bound to a private container store there
# (not the machine's default one) and to Debian's runc. KLEIDI_IMAGE_STORAGE_DRIVER=vfs works where
# overlay cannot (vfs copies the whole image for every container: much slower).
KLEIDI_IMAGE_CACHE="${XDG_CACHE_HOME:-$HOME/.cache}/kleidi/image"
KLEIDI_IMAGE_STORAGE_DRIVER="${KLEIDI_IMAGE_STORAGE_DRIVER:-overlay}"
mkdir -p "$KLEIDI_IMAGE_CACHE/containers"
# runc, not crun (podman's default): crun refuses a hybrid cgroup hierarchy (cgroup v1 controllers
# plus a v2 mount, as on CI's machines) and runc handles it.
KPODMAN=(podman --log-level error --runtime runc --cgroup-manager cgroupfs
  --root "$KLEIDI_IMAGE_CACHE/containers/$KLEIDI_IMAGE_STORAGE_DRIVER"
  --runroot "/run/kleidi-image/$KLEIDI_IMAGE_STORAGE_DRIVER"
  --storage-driver "$KLEIDI_IMAGE_STORAGE_DRIVER")
kpodman() { "${KPODMAN[@]}" "$@"; }
# Resource flags for every container run or build step. Rootful podman raises RLIMIT_NOFILE and
# RLIMIT_NPROC beyond what a process may set inside an unprivileged machine container: keep at most
# the machine's own limits.
nofile="$(ulimit -Hn)" nproc="$(ulimit -Hu)"
[[ $nproc == unlimited || $nproc -gt 32768 ]] && nproc=32768
[[ $nofile == unlimited || $nofile -gt 65536 ]] && nofile=65536
KLEIDI_IMAGE_LIMITS=(--ulimit "nofile=$nofile:$nofile" --ulimit "nproc=$nproc:$nproc")
unset nofile nproc
