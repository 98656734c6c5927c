#!/usr/bin/env bash
# scripts/deps.sh — install everything kith needs to build, test and bench.
#
# Idempotent and cached: a second run that finds everything present does no
# network work and returns in well under a second.
#   1. Debian packages (apt-get), installed only if missing.
#   2. A tuned static wolfSSL (AES-NI + Intel asm) built from Debian's own source
#      package, so Debian's security patches are applied, under .deps/wolfssl.
#      Falls back to the system libwolfssl with a loud warning if the source
#      package cannot be fetched or built.
#
# Environment: KITH_DEPS_NO_APT=1 skips apt (for machines managed otherwise);
#              KITH_DEPS_NO_WOLFSSL=1 skips the tuned build (system library used).
set -euo pipefail

here="$(cd "$(dirname "$0")/.." && pwd)"
deps="$here/.deps"
stamp="$deps/wolfssl/.kith-built"

log()  { printf 'deps: %s\n' "$*" >&2; }
warn() { printf '\n\033[1;31m*** deps: WARNING: %s ***\033[0m\n\n' "$*" >&2; }

# Packages: build, test, bench. Keep this list the single source of truth.
packages=(
  build-essential pkg-config git
  libuv1-dev libwolfssl-dev libzmq3-dev cppzmq-dev libsqlite3-dev libsodium-dev
  libboost-test-dev libtomlplusplus-dev nlohmann-json3-dev libcli11-dev
  # tuned wolfSSL from Debian's source package
  dpkg-dev autoconf automake libtool
  # tests and benches use real peers
  openssl curl socat stunnel4 iperf3 iproute2 procps psmisc netcat-openbsd
  haproxy  # the vhost tests show HAProxy accepting the PROXY v2 header
  clang libclang-rt-14-dev
  # the README's unmodified-server example and its test (never started as a service)
  nginx-light
  # fault tests: clock jumps (libfaketime); make static: Debian's .a archives
  faketime sqlite3 file libpgm-dev libnorm-dev
)

sudo_() { if [ "$(id -u)" = 0 ]; then "$@"; else sudo "$@"; fi; }

missing=()
for p in "${packages[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q 'ok installed' || missing+=("$p")
done

if [ "${#missing[@]}" -gt 0 ] && [ -z "${KITH_DEPS_NO_APT:-}" ]; then
  log "installing: ${missing[*]}"
  export DEBIAN_FRONTEND=noninteractive
  sudo_ apt-get update -qq
  # Packages with services (nginx) must not start them: tests run their own
  # copies on loopback ports. policy-rc.d 101 = "action forbidden".
  guard=""
  if [ ! -e /usr/sbin/policy-rc.d ]; then
    guard=/usr/sbin/policy-rc.d
    printf '#!/bin/sh\nexit 101\n' | sudo_ tee "$guard" >/dev/null
    sudo_ chmod 755 "$guard"
  fi
  sudo_ apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
  [ -n "$guard" ] && sudo_ rm -f "$guard"
fi

# ---- tuned wolfSSL -------------------------------------------------------
if [ -n "${KITH_DEPS_NO_WOLFSSL:-}" ]; then
  log "KITH_DEPS_NO_WOLFSSL set: using the system wolfSSL"
  exit 0
fi
if [ -f "$stamp" ] && [ -f "$deps/wolfssl/lib/libwolfssl.a" ] && [ -f "$deps/wolfssl/include/wolfssl/options.h" ]; then
  exit 0
fi

# A deb-src entry that mirrors the existing Debian source list (deb822 or
# one-line format), written once to its own file.
add_deb_src() {
  local out=/etc/apt/sources.list.d/kith-deb-src.sources
  [ -f "$out" ] && return 0
  if grep -rqs '^Types:.*deb-src' /etc/apt/sources.list.d/ || grep -qs '^deb-src' /etc/apt/sources.list; then
    return 0
  fi
  local tmp; tmp="$(mktemp)"
  if [ -f /etc/apt/sources.list.d/debian.sources ]; then
    sed 's/^Types:.*/Types: deb-src/' /etc/apt/sources.list.d/debian.sources >"$tmp"
  elif grep -qs '^deb ' /etc/apt/sources.list; then
    # convert one-line entries to deb822 deb-src stanzas
    grep '^deb ' /etc/apt/sources.list | while read -r _ rest; do
      set -- $rest
      opts=""; if [[ "$1" == \[* ]]; then opts="$1"; shift; fi
      uri="$1"; suite="$2"; shift 2
      printf 'Types: deb-src\nURIs: %s\nSuites: %s\nComponents: %s\n\n' "$uri" "$suite" "$*"
    done >"$tmp"
  else
    rm -f "$tmp"; return 1
  fi
  sudo_ install -m 0644 "$tmp" "$out"; rm -f "$tmp"
  sudo_ apt-get update -qq
}

build_wolfssl() {
  add_deb_src || return 1
  local work="$deps/src"
  rm -rf "$work"; mkdir -p "$work"
  ( cd "$work" && apt-get source -qq wolfssl >/dev/null 2>&1 ) || return 1
  local src; src="$(find "$work" -maxdepth 1 -type d -name 'wolfssl-*' | head -n1)"
  [ -n "$src" ] || return 1
  log "building tuned wolfSSL from $(basename "$src") (about a minute)"
  (
    cd "$src"
    ./autogen.sh >/dev/null 2>&1
    ./configure -q --prefix="$deps/wolfssl" \
      --enable-distro --enable-aesni --enable-intelasm \
      --enable-static --disable-shared --disable-examples \
      --disable-crypttests --disable-benchmark \
      CFLAGS="-O2 -fPIC" >/dev/null
    make -s -j"$(nproc)" >/dev/null 2>&1
    make -s install >/dev/null
    # --enable-distro leaves options.h out of `make install`; the build's own
    # copy describes exactly this configuration.
    install -m 0644 wolfssl/options.h "$deps/wolfssl/include/wolfssl/options.h"
    # --enable-distro still installs a shared copy; kith links the static one only.
    rm -f "$deps"/wolfssl/lib/libwolfssl.so* "$deps"/wolfssl/lib/libwolfssl.la
  ) || return 1
  touch "$stamp"
}

if build_wolfssl; then
  log "tuned wolfSSL ready in .deps/wolfssl"
  rm -rf "$deps/src"
else
  rm -rf "$deps/wolfssl"
  warn "could not build wolfSSL from Debian's source package; falling back to the
system libwolfssl (no AES-NI: tunnel throughput will be ~30x lower)"
fi
