#!/usr/bin/env bash
# Installs everything kt needs to build and test on Debian 12, from Debian's packages
# (chromium and its driver: the web UI's browser test). PyPI packages of the test suites go
# into virtual environments that `make` creates.
# Idempotent: when all is present it prints nothing and exits 0.
# --build-only: just what building kt and its Python module needs, not the test suites'
# packages (the container images in docker/ use this).
set -euo pipefail

packages=(
  build-essential cmake ninja-build pkg-config git
  libyaml-cpp-dev nlohmann-json3-dev libcpp-httplib-dev libcli11-dev
  libonig-dev pybind11-dev python3 python3-dev
)
case "${1:-}" in
  --build-only) ;;
  "") packages+=(clang-format libgtest-dev libgmock-dev python3-venv chromium chromium-driver) ;;
  *) echo "install-deps: unknown argument '$1' (only --build-only)" >&2; exit 2 ;;
esac

missing=()
for p in "${packages[@]}"; do
  if ! dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q 'install ok installed'; then
    missing+=("$p")
  fi
done

if [ ${#missing[@]} -gt 0 ]; then
  echo "install-deps: installing ${missing[*]}"
  SUDO=""
  if [ "$(id -u)" -ne 0 ]; then SUDO="sudo"; fi
  export DEBIAN_FRONTEND=noninteractive
  $SUDO apt-get update -qq
  $SUDO apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
fi
