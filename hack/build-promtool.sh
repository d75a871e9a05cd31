#!/usr/bin/env bash
# Build (or reuse) promtool, Prometheus' rule checker, from the Go module proxy only; the chart
# tests run `promtool check rules` and `promtool test rules` on the rendered PrometheusRule.
#
#   ${DOKPORTAL_CACHE:-$HOME/.cache/dokportal}/promtool-<version>/bin/promtool
#
# A second run with the same version is a quick no-op. The last line printed is the binary.
# Knobs: PROMETHEUS_VERSION (Go module version of github.com/prometheus/prometheus; v0.316.0 is
# Prometheus 3.16.0), DOKPORTAL_CACHE, BUILD_JOBS (default 2), GO.
set -euo pipefail

PROMETHEUS_VERSION=${PROMETHEUS_VERSION:-0.316.0}
PROMETHEUS_VERSION=${PROMETHEUS_VERSION#v}
BUILD_JOBS=${BUILD_JOBS:-2}
CACHE_ROOT=${DOKPORTAL_CACHE:-$HOME/.cache/dokportal}
ROOT=$CACHE_ROOT/promtool-$PROMETHEUS_VERSION
BIN=$ROOT/bin/promtool

if [[ -z ${GO:-} ]]; then
  if command -v go >/dev/null 2>&1; then GO=$(command -v go); else GO=/usr/local/go/bin/go; fi
fi
[[ -x $GO ]] || { echo "build-promtool: no Go toolchain at $GO (set GO=...)" >&2; exit 1; }

export GOTOOLCHAIN=local GOWORK=off CGO_ENABLED=0
export GOFLAGS="-p=$BUILD_JOBS -buildvcs=false -trimpath"
LOWPRIO=(nice -n 19)
if command -v ionice >/dev/null 2>&1; then LOWPRIO+=(ionice -c 3); fi

KEY="promtool=v$PROMETHEUS_VERSION go=$("$GO" env GOVERSION) recipe=2"
mkdir -p "$ROOT/src" "$ROOT/bin"
exec 9>"$ROOT/.lock"
flock 9
if [[ -x $BIN && -f $ROOT/.stamp && "$(cat "$ROOT/.stamp")" == "$KEY" ]]; then
  echo "$BIN"
  exit 0
fi

echo "build-promtool: building promtool from github.com/prometheus/prometheus@v$PROMETHEUS_VERSION (nice 19) ..." >&2
cd "$ROOT/src"
SETUP="promtool=v$PROMETHEUS_VERSION"
if [[ ! -f go.mod || "$(cat .setup 2>/dev/null)" != "$SETUP" ]]; then
  rm -f go.mod go.sum
  "${LOWPRIO[@]}" "$GO" mod init dokportal.local/promtool-tool 2>/dev/null
  "${LOWPRIO[@]}" "$GO" get -tool "github.com/prometheus/prometheus/cmd/promtool@v$PROMETHEUS_VERSION" 2>&1 |
    grep -v '^go: \(downloading\|added\|upgraded\|creating\)' >&2 || true
  printf '%s\n' "$SETUP" >.setup
fi
# remove_all_sd: none of Prometheus' service discovery plugins (cloud SDKs, ~2/3 of the
# build); checking and unit-testing rules needs none of them.
"${LOWPRIO[@]}" "$GO" build -tags remove_all_sd -o "$ROOT/bin/.promtool.tmp" \
  -ldflags "-s -w -X github.com/prometheus/common/version.Version=v$PROMETHEUS_VERSION" \
  github.com/prometheus/prometheus/cmd/promtool
mv -f "$ROOT/bin/.promtool.tmp" "$BIN"
printf '%s\n' "$KEY" >"$ROOT/.stamp"
"$BIN" --version >&2
echo "$BIN"
