#!/usr/bin/env bash
# Builds directord's Debian package from the committed tree (HEAD): the
# static binary, the systemd unit, the seed's DR director as
# /etc/directord/directord.hcl (a conffile), man pages made from the
# commands, bash and zsh completion, and the examples.
#   ./scripts/package.sh [OUTDIR]      # default build/; prints the .deb's path
# It needs Go and the module proxy, nothing else (not the tests' packages).
# VERSION overrides the version (default 0.1.0~gitTIME.COMMIT, which sorts
# by commit time); GOARCH picks the architecture (default this machine's).
set -euo pipefail
cd "$(dirname "$0")/.."
export PATH="$PATH:/usr/local/go/bin"
command -v go >/dev/null || { echo "package.sh needs Go 1.26 or newer in PATH or /usr/local/go" >&2; exit 1; }
# Whatever the caller's umask: files 0644 (0755 for programs), directories 0755.
umask 022

out=$(realpath -m "${1:-build}")
mkdir -p "$out"
if ! git diff --quiet HEAD -- 2>/dev/null; then
  echo "package.sh: uncommitted changes are not packaged (it builds HEAD)" >&2
fi
commit=$(git rev-parse --short=12 HEAD)
# The pages, the files' times and the package are the same for a commit.
export SOURCE_DATE_EPOCH=$(git log -1 --format=%ct HEAD)
export VERSION="${VERSION:-0.1.0~git$(TZ=UTC git log -1 --format=%cd --date=format-local:%Y%m%d%H%M%S HEAD).$commit}"
export GOARCH="${GOARCH:-$(go env GOARCH)}"
case "$GOARCH" in
  amd64|arm64|s390x|riscv64) ARCH=$GOARCH ;;
  386) ARCH=i386 ;;
  arm) ARCH=armhf; export GOARM=7 ;;
  ppc64le) ARCH=ppc64el ;;
  *) echo "package.sh: no Debian architecture for GOARCH=$GOARCH" >&2; exit 1 ;;
esac
export ARCH
export STAGE=$(mktemp -d /tmp/directord-package.XXXXXX)
trap 'rm -rf "$STAGE"' EXIT
# Only what is committed goes in: no stray file of the working copy.
export SRC="$STAGE/src"
mkdir -p "$SRC"
git archive --format=tar HEAD | tar -x -C "$SRC"

(cd "$SRC" && CGO_ENABLED=0 GOOS=linux go build -trimpath \
  -ldflags "-s -w -X main.version=$VERSION" -o "$STAGE/directord" ./cmd/directord)
# The BGP speaker, which directord runs beside itself (/usr/sbin/directord-bgp)
# when the configuration has a bgp block.
(cd "$SRC" && CGO_ENABLED=0 GOOS=linux go build -trimpath \
  -ldflags "-s -w" -o "$STAGE/directord-bgp" ./cmd/directord-bgp)
mkdir -p "$STAGE/man" "$STAGE/completion"
# The man pages and completion come from the binary itself; built for
# another architecture, it cannot run here, so a native one makes them.
gen="$STAGE/directord"
if [ "$GOARCH" != "$(GOARCH= go env GOARCH)" ]; then
  gen="$STAGE/directord-native"
  (cd "$SRC" && GOARCH= GOARM= CGO_ENABLED=0 go build -trimpath \
    -ldflags "-X main.version=$VERSION" -o "$gen" ./cmd/directord)
fi
"$gen" man "$STAGE/man"
gzip -9n "$STAGE"/man/*.8
"$gen" completion bash >"$STAGE/completion/bash"
"$gen" completion zsh >"$STAGE/completion/zsh"
{
  echo "# Installed by the directord package as a starting point: the seed how-to's"
  echo "# LVS-DR director. The service is not enabled: edit this file, check it"
  echo "# with \"directord validate\" and \"directord doctor\", then"
  echo "# \"systemctl enable --now directord\". More in /usr/share/doc/directord/examples."
  echo "#"
  cat "$SRC/examples/seed-dr/lb1.hcl"
} >"$STAGE/directord.hcl"

deb="$out/directord_${VERSION}_${ARCH}.deb"
# debpkg itself runs here, whatever GOARCH the package is for.
(cd "$SRC/packaging" && GOARCH= GOARM= go run . -config nfpm.yaml -target "$deb")
echo "$deb"
