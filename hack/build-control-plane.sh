#!/usr/bin/env bash
# Build (or reuse) a real Kubernetes control plane for the operator tests, from the Go module proxy
# only: etcd, kube-apiserver, kube-controller-manager, kube-scheduler, kubectl, kwok, helm and
# the kubelet of the real node.
#
# Everything lives outside the repo, in
#   ${DOKPORTAL_CACHE:-$HOME/.cache/dokportal}/k8s-<version>/{bin,etc,src}
# (bin: the binaries; etc/kwok-stages.yaml: the stages kwok needs; src: the little Go modules)
# and the Go build/module caches stay wherever `go env GOCACHE GOMODCACHE` point (under $HOME).
# A second run with the same versions is a quick no-op. The last line printed is the bin dir.
#
# Knobs (environment):
#   K8S_VERSION        Kubernetes release (default 1.34.4, the newest 1.34.x the module proxy serves)
#   KWOK_VERSION       sigs.k8s.io/kwok release (default 0.8.0)
#   HELM_VERSION       helm.sh/helm/v4 release (default 4.3.1)
#   DOKPORTAL_CACHE    cache root (default $HOME/.cache/dokportal)
#   BUILD_JOBS         go build -p (default 2; the machines have 2 cores and are shared)
#   GO                 go binary (default: go on PATH, else /usr/local/go/bin/go)
# See docs/control-plane.md for how to run the result.
set -euo pipefail

K8S_VERSION=${K8S_VERSION:-1.34.4}
KWOK_VERSION=${KWOK_VERSION:-0.8.0}
HELM_VERSION=${HELM_VERSION:-4.3.1}
BUILD_JOBS=${BUILD_JOBS:-2}
CACHE_ROOT=${DOKPORTAL_CACHE:-$HOME/.cache/dokportal}
K8S_VERSION=${K8S_VERSION#v}
KWOK_VERSION=${KWOK_VERSION#v}
HELM_VERSION=${HELM_VERSION#v}

ROOT=$CACHE_ROOT/k8s-$K8S_VERSION
BIN=$ROOT/bin
SRC=$ROOT/src
STAMPS=$BIN/.stamps

if [[ -z ${GO:-} ]]; then
  if command -v go >/dev/null 2>&1; then GO=$(command -v go); else GO=/usr/local/go/bin/go; fi
fi
[[ -x $GO ]] || { echo "build-control-plane: no Go toolchain at $GO (set GO=...)" >&2; exit 1; }

# Never let the toolchain download another Go, never pick up a go.work from a parent directory.
export GOTOOLCHAIN=local GOWORK=off CGO_ENABLED=0
export GOFLAGS="-p=$BUILD_JOBS -buildvcs=false -trimpath"

START=$SECONDS
log() { printf '[build-control-plane %4ds] %s\n' "$((SECONDS - START))" "$*"; }

# Low priority for everything that compiles: other people share these 2 cores.
LOWPRIO=(nice -n 19)
if command -v ionice >/dev/null 2>&1; then LOWPRIO+=(ionice -c 3); fi
gocmd() { "${LOWPRIO[@]}" "$GO" "$@"; }

# `go get` prints a line per module downloaded and added (~250 for k8s): summarise those.
quiet_get() {
  local dl=0 add=0 line
  while IFS= read -r line; do
    case $line in
      "go: downloading "*) dl=$((dl + 1)) ;;
      "go: added "* | "go: upgraded "* | "go: creating new go.mod"*) add=$((add + 1)) ;;
      *) printf '%s\n' "$line" ;;
    esac
  done
  log "  go get: $dl modules downloaded, $add requirements recorded"
}

mkdir -p "$BIN" "$SRC" "$STAMPS"

# One build per cache dir at a time (two engineers, or make targets running in parallel).
exec 9>"$ROOT/.lock"
if ! flock -n 9; then
  log "another build holds $ROOT/.lock; waiting for it"
  flock 9
fi

GOVERSION=$("$GO" env GOVERSION)
K8S_MINOR=$(cut -d. -f2 <<<"$K8S_VERSION")
K8S_MAJOR=$(cut -d. -f1 <<<"$K8S_VERSION")

# ---------------------------------------------------------------------------------------------
# Stamps: a binary is rebuilt only when its recipe key (versions, Go version, flags) changes.
stamp_ok() { [[ -x $BIN/$1 && -f $STAMPS/$1 && "$(cat "$STAMPS/$1")" == "$2" ]]; }
stamp_set() { printf '%s\n' "$2" >"$STAMPS/$1"; }

# go build -v prints one line per compiled package; count them instead of flooding the log,
# but let every other line (errors, "go: downloading") through.
progress() {
  local name=$1 n=0 line t0=$SECONDS
  while IFS= read -r line; do
    if [[ $line =~ ^[^[:space:]:]+$ ]]; then
      n=$((n + 1))
      if ((n % 200 == 0)); then log "  $name: $n packages compiled so far ($((SECONDS - t0))s)"; fi
    else
      printf '%s\n' "$line"
    fi
  done
  log "  $name: $n packages compiled (rest from the Go build cache)"
}

# build NAME DIR KEY PKG [go build args...]
build() {
  local name=$1 dir=$2 key=$3 pkg=$4 t0=$SECONDS
  shift 4
  if stamp_ok "$name" "$key"; then
    log "$name: up to date"
    return
  fi
  log "$name: building $pkg (nice 19, -p=$BUILD_JOBS) ..."
  rm -f "$BIN/.$name.tmp"
  (cd "$dir" && gocmd build -v "$@" -o "$BIN/.$name.tmp" "$pkg") 2>&1 | progress "$name"
  mv -f "$BIN/.$name.tmp" "$BIN/$name"
  stamp_set "$name" "$key"
  log "$name: built in $((SECONDS - t0))s"
}

# ---------------------------------------------------------------------------------------------
# 1. A consumer module for k8s.io/kubernetes. Its go.mod requires all ~31 staging modules at
#    v0.0.0 and replaces them with ./staging paths, which only work inside the k8s repo; we replace
#    each with its published v0.<minor>.<patch> instead.
K8S_MOD=$SRC/k8s
K8S_SETUP_KEY="k8s=v$K8S_VERSION go=$GOVERSION recipe=1"
if [[ -f $K8S_MOD/.setup && "$(cat "$K8S_MOD/.setup")" == "$K8S_SETUP_KEY" ]]; then
  log "k8s module: ready ($K8S_MOD)"
else
  log "k8s module: preparing $K8S_MOD for k8s.io/kubernetes v$K8S_VERSION (first time: ~240 MB of modules for k8s+kwok+helm)"
  rm -rf "$K8S_MOD"
  mkdir -p "$K8S_MOD"
  cd "$K8S_MOD"
  gocmd mod init dokportal.local/k8s-tools 2>/dev/null
  kgomod=$("$GO" mod download -json "k8s.io/kubernetes@v$K8S_VERSION" |
    python3 -c 'import json,sys; d=json.load(sys.stdin); e=d.get("Error"); print(d["GoMod"]) if not e else sys.exit(e + "\n(list the versions the proxy serves: go list -m -versions k8s.io/kubernetes)")')
  # Same language version and GODEBUG defaults as the upstream build (k8s' go.mod says
  # "go 1.24.0" and "godebug default=go1.24"); otherwise a newer Go changes runtime defaults.
  kgo=$(sed -nE 's/^go ([0-9.]+)$/\1/p' "$kgomod")
  "$GO" mod edit -go="$kgo"
  while read -r kv; do "$GO" mod edit -godebug="$kv"; done < <(sed -nE 's/^godebug ([^ ]+=[^ ]+)$/\1/p' "$kgomod")
  nrep=0
  while read -r m; do
    "$GO" mod edit -replace="$m=$m@v0.$K8S_MINOR.${K8S_VERSION##*.}"
    nrep=$((nrep + 1))
  done < <(sed -nE 's#^[[:space:]]*(k8s\.io/[A-Za-z0-9._-]+) => \./staging/.*#\1#p' "$kgomod")
  log "k8s module: replaced $nrep staging modules with v0.$K8S_MINOR.${K8S_VERSION##*.}"
  ETCD_VERSION=$(sed -nE 's#^[[:space:]]*go\.etcd\.io/etcd/server/v3 (v[0-9.]+).*#\1#p' "$kgomod")
  [[ -n $ETCD_VERSION ]] || { echo "cannot find the etcd server version in $kgomod" >&2; exit 1; }
  log "k8s module: k8s v$K8S_VERSION pins etcd $ETCD_VERSION; resolving dependencies (go get -tool)"
  gocmd get -tool \
    "k8s.io/kubernetes/cmd/kube-apiserver@v$K8S_VERSION" \
    "k8s.io/kubernetes/cmd/kube-controller-manager@v$K8S_VERSION" \
    "k8s.io/kubernetes/cmd/kube-scheduler@v$K8S_VERSION" \
    "k8s.io/kubernetes/cmd/kubectl@v$K8S_VERSION" \
    "go.etcd.io/etcd/server/v3@$ETCD_VERSION" 2>&1 | quiet_get
  # The consumer module must not move the versions k8s pinned.
  got_k8s=$("$GO" list -m -f '{{.Version}}' k8s.io/kubernetes)
  got_etcd=$("$GO" list -m -f '{{.Version}}' go.etcd.io/etcd/server/v3)
  [[ $got_k8s == "v$K8S_VERSION" && $got_etcd == "$ETCD_VERSION" ]] ||
    { echo "version drift: k8s $got_k8s etcd $got_etcd" >&2; exit 1; }
  printf '%s\n' "$K8S_SETUP_KEY" >"$K8S_MOD/.setup"
  cd - >/dev/null
fi
ETCD_VERSION=$(sed -nE 's#^[[:space:]]*go\.etcd\.io/etcd/server/v3 (v[0-9.]+).*#\1#p' "$K8S_MOD/go.mod")

# Version stamping as k8s' hack/lib/version.sh does; without it the binaries report
# v0.0.0-master+$Format:%H$, which breaks Helm's kubeVersion checks and clients' skew checks.
# buildDate = the release's commit time from the proxy's .info, recorded once so that a cleaned
# module cache does not change the recipe key (and so trigger a rebuild).
if [[ ! -s $K8S_MOD/.build-date ]]; then
  "$GO" mod download -json "k8s.io/kubernetes@v$K8S_VERSION" |
    python3 -c 'import json,sys; print(json.load(open(json.load(sys.stdin)["Info"]))["Time"])' >"$K8S_MOD/.build-date"
fi
K8S_BUILD_DATE=$(cat "$K8S_MOD/.build-date")
K8S_LDFLAGS="-s -w"
for p in k8s.io/component-base/version k8s.io/client-go/pkg/version; do
  K8S_LDFLAGS+=" -X $p.gitVersion=v$K8S_VERSION -X $p.gitMajor=$K8S_MAJOR -X $p.gitMinor=$K8S_MINOR"
  K8S_LDFLAGS+=" -X $p.gitTreeState=clean -X $p.buildDate=$K8S_BUILD_DATE"
done
ETCD_LDFLAGS="-s -w -X go.etcd.io/etcd/api/v3/version.GitSHA=module-$ETCD_VERSION"

build etcd "$K8S_MOD" "etcd=$ETCD_VERSION go=$GOVERSION ld=$ETCD_LDFLAGS" \
  go.etcd.io/etcd/server/v3 -ldflags "$ETCD_LDFLAGS"
for c in kube-apiserver kube-controller-manager kube-scheduler kubectl; do
  build "$c" "$K8S_MOD" "k8s=v$K8S_VERSION go=$GOVERSION ld=$K8S_LDFLAGS" \
    "k8s.io/kubernetes/cmd/$c" -ldflags "$K8S_LDFLAGS"
done
# The kubelet of the real node (tests/support/realnode.py). Not a `go get -tool` of the module
# set-up above, so adding it does not re-resolve a prepared module: -mod=mod records the two
# go.sum lines it needs beyond the others.
build kubelet "$K8S_MOD" "k8s=v$K8S_VERSION go=$GOVERSION ld=$K8S_LDFLAGS" \
  k8s.io/kubernetes/cmd/kubelet -mod=mod -ldflags "$K8S_LDFLAGS"

# ---------------------------------------------------------------------------------------------
# 2. kwok and helm, each in its own little module so their (newer) k8s.io/* dependencies never
#    move the versions above.
small_module() { # small_module DIR MODNAME PKG@VERSION
  local dir=$1 mod=$2 pkgv=$3
  if [[ -f $dir/.setup && "$(cat "$dir/.setup")" == "$pkgv go=$GOVERSION" ]]; then return; fi
  log "$mod: preparing $dir for $pkgv"
  rm -rf "$dir"
  mkdir -p "$dir"
  (cd "$dir" && gocmd mod init "$mod" 2>/dev/null && gocmd get -tool "$pkgv" 2>&1) | quiet_get
  printf '%s\n' "$pkgv go=$GOVERSION" >"$dir/.setup"
}

KWOK_KEY="kwok=v$KWOK_VERSION go=$GOVERSION"
if ! stamp_ok kwok "$KWOK_KEY"; then
  small_module "$SRC/kwok" dokportal.local/kwok-tool "sigs.k8s.io/kwok/cmd/kwok@v$KWOK_VERSION"
fi
build kwok "$SRC/kwok" "$KWOK_KEY" sigs.k8s.io/kwok/cmd/kwok \
  -ldflags "-s -w -X sigs.k8s.io/kwok/pkg/consts.Version=$KWOK_VERSION"

# The standalone kwok binary has no built-in behaviour: without Stage objects it exits with
# "no stages found" (only kwokctl adds defaults). Ship the upstream default stages next to bin/:
# node-initialize, node-heartbeat-with-lease (run kwok with --node-lease-duration-seconds=40),
# pod-ready, pod-complete, pod-delete.
KWOK_STAGES=$ROOT/etc/kwok-stages.yaml
KWOK_STAGES_HEAD="# default stages of sigs.k8s.io/kwok v$KWOK_VERSION (kustomize/stage), for kwok --config"
if [[ ! -s $KWOK_STAGES || "$(head -n1 "$KWOK_STAGES")" != "$KWOK_STAGES_HEAD" ]]; then
  kdir=$("$GO" mod download -json "sigs.k8s.io/kwok@v$KWOK_VERSION" |
    python3 -c 'import json,sys; print(json.load(sys.stdin)["Dir"])')
  mkdir -p "$ROOT/etc"
  {
    echo "$KWOK_STAGES_HEAD"
    for f in node/fast/node-initialize.yaml node/heartbeat-with-lease/node-heartbeat-with-lease.yaml \
      pod/fast/pod-ready.yaml pod/fast/pod-complete.yaml pod/fast/pod-delete.yaml; do
      echo "---"
      cat "$kdir/kustomize/stage/$f"
    done
  } >"$KWOK_STAGES.tmp"
  mv -f "$KWOK_STAGES.tmp" "$KWOK_STAGES"
  log "kwok: wrote default stages to $KWOK_STAGES"
fi

HELM_LDFLAGS="-s -w -X helm.sh/helm/v4/internal/version.version=v$HELM_VERSION -X helm.sh/helm/v4/internal/version.gitTreeState=clean"
HELM_KEY="helm=v$HELM_VERSION go=$GOVERSION ld=$HELM_LDFLAGS"
if ! stamp_ok helm "$HELM_KEY"; then
  small_module "$SRC/helm" dokportal.local/helm-tool "helm.sh/helm/v4/cmd/helm@v$HELM_VERSION"
fi
build helm "$SRC/helm" "$HELM_KEY" helm.sh/helm/v4/cmd/helm -ldflags "$HELM_LDFLAGS"

# ---------------------------------------------------------------------------------------------
# 3. Every binary must run and report the expected version.
check() { # check NAME EXPECTED-SUBSTRING CMD...
  local name=$1 want=$2 out
  shift 2
  if ! out=$("$@" 2>&1); then
    echo "build-control-plane: $name does not run: $out" >&2
    exit 1
  fi
  out=$(head -n1 <<<"$out")
  if [[ $out != *"$want"* ]]; then
    echo "build-control-plane: $name reports '$out', expected '$want'" >&2
    exit 1
  fi
  log "ok  $name: $out"
}
check etcd "etcd Version: ${ETCD_VERSION#v}" "$BIN/etcd" --version
check kube-apiserver "Kubernetes v$K8S_VERSION" "$BIN/kube-apiserver" --version
check kube-controller-manager "Kubernetes v$K8S_VERSION" "$BIN/kube-controller-manager" --version
check kubelet "Kubernetes v$K8S_VERSION" "$BIN/kubelet" --version
check kube-scheduler "Kubernetes v$K8S_VERSION" "$BIN/kube-scheduler" --version
check kubectl "Client Version: v$K8S_VERSION" "$BIN/kubectl" version --client
check kwok "$KWOK_VERSION" "$BIN/kwok" --version
check helm "v$HELM_VERSION" "$BIN/helm" version --short

log "kwok stages for --config: $KWOK_STAGES"
log "done in $((SECONDS - START))s; binaries in:"
echo "$BIN"
