#!/usr/bin/env bash
# Prints the folder that holds the PyTorch reference fixtures, generating them first when they are missing.
#
# The fixtures are a cache keyed by the generator's hash, outside the repository:
#   ${SKIPJACK_FIXTURES:-${XDG_CACHE_HOME:-~/.cache}/skipjack/fixtures-<hash>}
# Generating them needs Debian's PyTorch 1.13 and torchvision 0.14 (python3-torch, python3-torchvision); as root,
# with apt-get available, this script installs them itself. Everything but the folder's path goes to stderr.
set -euo pipefail
HERE="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
GEN="$HERE/generate_fixtures.py"
PY="${SKIPJACK_PYTHON:-/usr/bin/python3}"
[ -x "$PY" ] || PY="$(command -v python3 || true)"

say() { echo "[fixtures] $*" >&2; }
die() { echo "[fixtures] error: $*" >&2; exit 1; }

KEY="$(sha256sum "$GEN" | cut -c1-16)"
DIR="${SKIPJACK_FIXTURES:-${XDG_CACHE_HOME:-$HOME/.cache}/skipjack/fixtures-$KEY}"

complete() { [ -f "$1/manifest.json" ] && grep -q '"complete": true' "$1/manifest.json"; }

if complete "$DIR"; then
  say "using cached fixtures in $DIR"
  echo "$DIR"
  exit 0
fi

[ -n "$PY" ] || die "python3 is needed to generate the reference fixtures"
if ! "$PY" -c 'import torch, torchvision' 2>/dev/null; then
  if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then
    say "installing Debian's PyTorch and torchvision to generate the reference fixtures (about 2 minutes)..."
    apt-get update -qq >&2
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends \
      python3-torch python3-torchvision >&2
    PY=/usr/bin/python3
  else
    die "PyTorch is needed to generate the reference fixtures: run 'sudo apt-get install python3-torch python3-torchvision' (Debian), or set SKIPJACK_FIXTURES to a folder generated elsewhere with $GEN"
  fi
fi

say "generating reference fixtures into $DIR (about 3 minutes on 2 cores)..."
TMP="$DIR.partial.$$"
rm -rf "$TMP"
mkdir -p "$(dirname "$DIR")"
trap 'rm -rf "$TMP"' EXIT
"$PY" "$GEN" --out "$TMP" >&2
rm -rf "$DIR"
mv "$TMP" "$DIR"
trap - EXIT
echo "$DIR"
