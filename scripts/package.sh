#!/usr/bin/env bash
# Builds directord's Debian package: the static binary, the systemd unit,
# the seed's DR director as /etc/directord/directord.hcl (a conffile), man
# pages made from the commands, bash and zsh completion, and the examples.
#   ./scripts/package.sh [OUTDIR]      # default build/; prints the .deb's path
# VERSION overrides the version (default 0.1.0~gitDATE.COMMIT), ARCH the
# Debian architecture (default: this machine's Go one).
set -euo pipefail
cd "$(dirname "$0")/.."
export PATH="$PATH:/usr/local/go/bin:/usr/sbin:/sbin"
./scripts/deps.sh >&2

src=$(pwd)
out=$(realpath -m "${1:-build}")
mkdir -p "$out"
commit=$(git rev-parse --short=12 HEAD)
# The pages, the files' times and the package are the same for a commit.
export SOURCE_DATE_EPOCH=$(git log -1 --format=%ct HEAD)
export VERSION="${VERSION:-0.1.0~git$(git log -1 --format=%cd --date=format:%Y%m%d HEAD).$commit}"
export ARCH="${ARCH:-$(go env GOARCH)}"
export SRC="$src"
export STAGE=$(mktemp -d /tmp/directord-package.XXXXXX)
trap 'rm -rf "$STAGE"' EXIT

CGO_ENABLED=0 GOOS=linux GOARCH="$ARCH" go build -trimpath \
  -ldflags "-s -w -X main.version=$VERSION" -o "$STAGE/directord" ./cmd/directord
mkdir -p "$STAGE/man" "$STAGE/completion"
# The helpers below run the binary just built, so it must run here.
"$STAGE/directord" man "$STAGE/man"
gzip -9n "$STAGE"/man/*.8
"$STAGE/directord" completion bash >"$STAGE/completion/bash"
"$STAGE/directord" completion zsh >"$STAGE/completion/zsh"
{
  echo "# Installed by the directord package as a starting point: the seed how-to's"
  echo "# LVS-DR director. The service is not enabled: edit this file, check it"
  echo "# with \"directord validate\" and \"directord doctor\", then"
  echo "# \"systemctl enable --now directord\". More in /usr/share/doc/directord/examples."
  echo "#"
  cat examples/seed-dr/lb1.hcl
} >"$STAGE/directord.hcl"

deb="$out/directord_${VERSION}_${ARCH}.deb"
(cd packaging && go run . -config nfpm.yaml -target "$deb")
echo "$deb"
