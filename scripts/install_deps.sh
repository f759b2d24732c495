#!/usr/bin/env bash
# Installs the Debian 12 packages packinfer needs to build, test and benchmark (idempotent).
set -euo pipefail
PKGS=(build-essential cmake pkg-config python3 clang lld libclang-rt-14-dev
      libpcre2-dev nlohmann-json3-dev libcli11-dev libfmt-dev libcpp-httplib-dev libboost-dev
      libgtest-dev libgmock-dev libbenchmark-dev libxxhash-dev
      libhiredis-dev redis-server nginx-light)
missing=()
for p in "${PKGS[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
if ((${#missing[@]})); then
  SUDO=""
  [ "$(id -u)" -ne 0 ] && SUDO=sudo
  echo "installing: ${missing[*]}" >&2
  $SUDO apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq "${missing[@]}" >/dev/null
fi
