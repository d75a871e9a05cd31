#!/usr/bin/env bash
# Build (or reuse) the two Dokportal images as OCI archives, without Docker and without
# pulling any base image:
#   ${DOKPORTAL_CACHE:-~/.cache/dokportal}/images/dokportal-portal.oci.tar     (+ .cdx.json SBOM)
#   ${DOKPORTAL_CACHE:-~/.cache/dokportal}/images/dokportal-operator.oci.tar   (+ .cdx.json SBOM)
#
# Recipe (the same for both; docs/control-plane.md "Images"):
#   1. base rootfs: Debian bookworm from Debian's packages (mmdebstrap --variant=essential,
#      python3, python3-venv, libstdc++ (pikepdf, pypdfium2), fonts, CA certificates), user/group 10001, /data owned by it.
#      Cached by its package list: a code change does not rebuild it.
#   2. wheels: `pip download --only-binary=:all: --require-hashes` of locks/<image>.txt (no
#      sdists, so nothing is compiled), plus the Dokportal wheel built from the tracked files.
#   3. the image rootfs: base + /opt/venv from those wheels, offline, hashes checked; the
#      portal image drops the operator package, the operator image drops the portal package
#      and gets helm and charts/portal. pip itself is removed from the venv.
#   4. umoci: one layer, config (user 10001, entrypoint, cmd, env, port, workdir /data,
#      org.opencontainers.image.* labels), tar of the OCI layout; a CycloneDX SBOM.
# An image is rebuilt only when the hash of its inputs (lock, tracked source files as they are
# on disk, this script, helm) changes; the key is in <image>.key next to the archive.
#
# Knobs: DOKPORTAL_CACHE, IMAGES (default "portal operator"), DEBIAN_MIRROR.
set -euo pipefail

ROOT=$(cd "$(dirname "$0")/.." && pwd)
CACHE=${DOKPORTAL_CACHE:-$HOME/.cache/dokportal}
OUT=$CACHE/images
WHEELS=$CACHE/wheels
IMAGES=${IMAGES:-portal operator}
MIRROR=${DEBIAN_MIRROR:-http://deb.debian.org/debian}
PYTHON=${PYTHON:-$ROOT/.venv/bin/python}
HELM=${HELM:-$CACHE/k8s-${K8S_VERSION:-1.34.4}/bin/helm}
VERSION=$(sed -nE 's/^version = "(.*)"/\1/p' "$ROOT/pyproject.toml")
REVISION=$(git -C "$ROOT" rev-parse HEAD 2>/dev/null || echo unknown)
# Reproducible times in the tarballs: the last commit's date.
export SOURCE_DATE_EPOCH=${SOURCE_DATE_EPOCH:-$(git -C "$ROOT" log -1 --format=%ct 2>/dev/null || date +%s)}
# The host's pip settings are not the image's (PIP_FIND_LINKS leaks into the chroot).
unset PIP_FIND_LINKS PIP_INDEX_URL PIP_EXTRA_INDEX_URL

START=$SECONDS
log() { printf '[build-images %4ds] %s\n' "$((SECONDS - START))" "$*"; }

# Without root or the tools: fail in CI, elsewhere say so and let the image tests skip.
cannot() {
  echo "build-images: $1" >&2
  if [[ ${CI:-} == true || ${IMAGES_REQUIRED:-} == 1 ]]; then exit 1; fi
  echo "build-images: skipped; the image and real-node tests will skip too" >&2
  exit 0
}
for tool in mmdebstrap umoci; do
  command -v $tool >/dev/null || cannot "$tool missing (make system-deps)"
done
[[ $(id -u) -eq 0 ]] || cannot "needs root (mmdebstrap's root mode, chroot)"

mkdir -p "$OUT" "$WHEELS"
exec 8>"$OUT/.lock"
flock 8

WORK=$(mktemp -d "$OUT/.work.XXXXXX")
trap 'rm -rf "$WORK"' EXIT

# --- 1. the Debian base, cached by its recipe --------------------------------------------------
BASE_PACKAGES="python3,python3-venv,libstdc++6,fonts-dejavu-core,ca-certificates"
BASE_KEY=$(printf '%s\n' bookworm "$BASE_PACKAGES" "$MIRROR" "$(sed -n '/^# --- 1/,/^# --- 2/p' "$0")" | sha256sum | cut -c1-16)
BASE=$OUT/base-$BASE_KEY.tar
if [[ ! -f $BASE ]]; then
  log "base rootfs: mmdebstrap bookworm ($BASE_PACKAGES)"
  rm -f "$OUT"/base-*.tar
  mmdebstrap --quiet --mode=root --variant=essential --include="$BASE_PACKAGES" \
    --dpkgopt='path-exclude=/usr/share/doc/*' --dpkgopt='path-exclude=/usr/share/man/*' \
    --dpkgopt='path-exclude=/usr/share/info/*' --dpkgopt='path-exclude=/usr/share/locale/*' \
    --dpkgopt='path-include=/usr/share/doc/*/copyright' \
    --customize-hook='echo "dokportal:x:10001:" >>"$1/etc/group"' \
    --customize-hook='echo "dokportal:x:10001:10001::/nonexistent:/usr/sbin/nologin" >>"$1/etc/passwd"' \
    --customize-hook='install -d -m 0750 -o 10001 -g 10001 "$1/data"' \
    --customize-hook='rm -rf "$1"/var/cache/apt/* "$1"/var/lib/apt/lists/* "$1"/var/log/*' \
    bookworm "$WORK/base.tar" "$MIRROR" </dev/null
  mv "$WORK/base.tar" "$BASE"
fi
log "base rootfs: $(du -h "$BASE" | cut -f1) ($BASE)"

# --- 2. the Dokportal wheel, from the tracked files as they are on disk -------------------------
tracked() { git -C "$ROOT" ls-files -z -- "$@"; }
SOURCE_KEY=$(cd "$ROOT" && tracked pyproject.toml README.md portal operator charts/portal \
  | sort -z | xargs -0 sha256sum | sha256sum | cut -c1-16)

dokportal_wheel() {
  local dest=$WORK/dokportal-wheel
  if [[ ! -d $dest ]]; then
    mkdir -p "$WORK/src" "$dest"
    (cd "$ROOT" && tracked pyproject.toml README.md portal operator | xargs -0 cp --parents -t "$WORK/src")
    "$PYTHON" -m pip wheel --quiet --no-deps --no-build-isolation --no-index -w "$dest" "$WORK/src" >/dev/null
  fi
  ls "$dest"/dokportal-*.whl
}

# --- 3. and 4. one image ------------------------------------------------------------------------
build_image() {
  local image=$1 name=dokportal-$1 lock=$ROOT/locks/$1.txt
  local key
  # Contents only (never paths: `make images` and the tests call this script by different paths).
  key=$(printf '%s\n' "$BASE_KEY" "$SOURCE_KEY" "$(cat "$lock" "$0" "$ROOT/hack/sbom.py" | sha256sum)" \
    "$([[ $image == operator ]] && sha256sum <"$HELM")" | sha256sum | cut -c1-16)
  if [[ -f $OUT/$name.oci.tar && "$(cat "$OUT/$name.key" 2>/dev/null)" == "$key" ]]; then
    log "$name: up to date ($key)"
    return
  fi
  log "$name: wheels from locks/$image.txt"
  local wheels=$WORK/$image-wheels
  mkdir -p "$wheels"
  "$PYTHON" -m pip download --quiet --only-binary=:all: --require-hashes --no-deps \
    -r "$lock" -d "$WHEELS"
  # Exactly the lock's wheels (the shared download folder holds other versions too).
  "$PYTHON" - "$lock" "$WHEELS" "$wheels" <<'EOF'
import re, shutil, sys
from pathlib import Path
lock, pool, dest = Path(sys.argv[1]), Path(sys.argv[2]), Path(sys.argv[3])
hashes = set(re.findall(r"--hash=sha256:([0-9a-f]{64})", lock.read_text()))
import hashlib
for wheel in pool.glob("*.whl"):
    if hashlib.sha256(wheel.read_bytes()).hexdigest() in hashes:
        shutil.copy2(wheel, dest)
EOF
  local own
  own=$(dokportal_wheel)
  cp "$own" "$wheels/"
  cp "$lock" "$wheels/lock.txt"

  log "$name: rootfs (base + venv)"
  local rootfs=$WORK/$image-rootfs
  mkdir -p "$rootfs"
  tar -C "$rootfs" --numeric-owner -xpf "$BASE"
  mkdir -p "$rootfs/tmp/wheels"
  cp "$wheels"/* "$rootfs/tmp/wheels/"
  local run=(chroot "$rootfs" env -i PATH=/usr/sbin:/usr/bin:/sbin:/bin HOME=/root
    PIP_DISABLE_PIP_VERSION_CHECK=1 PIP_NO_CACHE_DIR=1 PYTHONDONTWRITEBYTECODE=1)
  "${run[@]}" python3 -m venv /opt/venv
  "${run[@]}" /opt/venv/bin/pip install --quiet --no-index --find-links /tmp/wheels \
    --require-hashes --only-binary=:all: -r /tmp/wheels/lock.txt
  "${run[@]}" /opt/venv/bin/pip install --quiet --no-index --no-deps "/tmp/wheels/${own##*/}"
  "${run[@]}" /opt/venv/bin/python -m pip freeze --all >"$WORK/$image-freeze.txt"
  local site
  site=$(echo "$rootfs"/opt/venv/lib/python3*/site-packages)
  if [[ $image == portal ]]; then
    rm -rf "$site/dokportal_operator" "$rootfs/opt/venv/bin/dokportal-operator"
  else
    rm -rf "$site/dokportal" "$rootfs/opt/venv/bin/dokportal"
    install -m 0755 "$HELM" "$rootfs/usr/local/bin/helm"
    mkdir -p "$rootfs/opt/dokportal/charts"
    (cd "$ROOT" && tracked charts/portal | xargs -0 cp --parents -t "$rootfs/opt/dokportal")
  fi
  # Byte-compile once at build time (the root file system is read-only at run time).
  "${run[@]}" /opt/venv/bin/python -m compileall -q -j 0 /opt/venv/lib >/dev/null
  "${run[@]}" /opt/venv/bin/python -m pip uninstall --quiet --yes pip setuptools 2>/dev/null || true
  rm -rf "$rootfs/tmp/wheels" "$rootfs"/root/.cache
  "${run[@]}" dpkg-query -W -f '${Package}\t${Version}\t${Architecture}\n' >"$WORK/$image-dpkg.txt"

  log "$name: OCI layout (umoci)"
  local layout=$WORK/$image-oci tag=$VERSION
  umoci init --layout "$layout"
  umoci new --image "$layout:$tag"
  tar -C "$rootfs" --numeric-owner --sort=name --mtime="@$SOURCE_DATE_EPOCH" -cf "$WORK/$image-layer.tar" .
  umoci raw add-layer --image "$layout:$tag" "$WORK/$image-layer.tar"
  local config=(--config.user 10001:10001 --config.workingdir /data
    --config.env PATH=/opt/venv/bin:/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin
    --config.env PYTHONDONTWRITEBYTECODE=1 --config.env PYTHONUNBUFFERED=1
    --config.label "org.opencontainers.image.title=$name"
    --config.label "org.opencontainers.image.version=$VERSION"
    --config.label "org.opencontainers.image.revision=$REVISION"
    --config.label "org.opencontainers.image.source=https://github.com/dokportal/dokportal"
    --config.label "org.opencontainers.image.licenses=EUPL-1.2"
    --config.label "org.opencontainers.image.base.name=debian:bookworm (mmdebstrap)")
  if [[ $image == portal ]]; then
    config+=(--config.env MALLOC_ARENA_MAX=2 --config.exposedports 8000/tcp
      --config.entrypoint dokportal --config.cmd serve --config.cmd --host
      --config.cmd 0.0.0.0 --config.cmd --port --config.cmd 8000)
  else
    config+=(--config.env DOKPORTAL_OPERATOR_CHART=/opt/dokportal/charts/portal
      --config.env HELM_CACHE_HOME=/tmp/helm/cache --config.env HELM_CONFIG_HOME=/tmp/helm/config
      --config.env HELM_DATA_HOME=/tmp/helm/data --config.exposedports 8080/tcp
      --config.entrypoint dokportal-operator)
  fi
  umoci config --image "$layout:$tag" --history.created_by "hack/build-images.sh" "${config[@]}"
  umoci gc --layout "$layout"
  # The full name for importers (containerd's `ctr images import`, `kind load image-archive`,
  # `docker load`): they read it from this annotation of the index.
  "$PYTHON" - "$layout/index.json" "ghcr.io/dokportal/$image:$tag" <<'EOF'
import json, sys
path, name = sys.argv[1], sys.argv[2]
with open(path) as handle:
    index = json.load(handle)
for entry in index["manifests"]:
    entry.setdefault("annotations", {})["io.containerd.image.name"] = name
with open(path, "w") as handle:
    json.dump(index, handle)
EOF
  tar -C "$layout" --sort=name --mtime="@$SOURCE_DATE_EPOCH" -cf "$WORK/$name.oci.tar" .

  "$PYTHON" "$ROOT/hack/sbom.py" --name "$name" --version "$VERSION" --revision "$REVISION" \
    --lock "$lock" --wheels "$wheels" --dpkg "$WORK/$image-dpkg.txt" >"$WORK/$name.cdx.json"
  mv "$WORK/$name.cdx.json" "$OUT/$name.cdx.json"
  mv "$WORK/$name.oci.tar" "$OUT/$name.oci.tar"
  echo "$key" >"$OUT/$name.key"
  rm -rf "$rootfs" "$layout" "$WORK/$image-layer.tar"
}

for image in $IMAGES; do
  build_image "$image"
done
for image in $IMAGES; do
  archive=$OUT/dokportal-$image.oci.tar
  log "dokportal-$image: $(du -m "$archive" | cut -f1) MiB compressed, $archive"
done
