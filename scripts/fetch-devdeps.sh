#!/usr/bin/env bash
# Unpacks the Debian 12 packages kt builds against (yaml-cpp, oniguruma, cpp-httplib, CLI11,
# nlohmann-json, GoogleTest, pkgconf) into .devdeps/usr, for the GPU machine: it cannot reach
# Debian's mirrors and its image has none of them. Run here (on the Debian machine), then name
# .devdeps in the device call's `carry` and `source scripts/devdeps-env.sh` there. Not for CI.
set -euo pipefail
cd "$(dirname "$0")/.."
grep -qx '/.devdeps/' .git/info/exclude 2>/dev/null || echo '/.devdeps/' >> .git/info/exclude
debs=$(mktemp -d)
(cd "$debs" && apt-get download -q \
  libyaml-cpp-dev libyaml-cpp0.7 libonig-dev libonig5 libcpp-httplib-dev libcpp-httplib0.11 \
  nlohmann-json3-dev libcli11-dev libgtest-dev libgmock-dev pkgconf pkgconf-bin libpkgconf3 \
  libssl-dev zlib1g-dev libbrotli-dev libbrotli1 2>&1 | grep -v '^W:' || true)
rm -rf .devdeps && mkdir -p .devdeps
for f in "$debs"/*.deb; do dpkg -x "$f" .devdeps; done
rm -rf "$debs"
lib=.devdeps/usr/lib/x86_64-linux-gnu
# The machine's own OpenSSL and zlib serve at run time (a second libssl beside the system's
# would be loaded into its Python too); their headers and link names stay.
rm -rf .devdeps/usr/share/doc .devdeps/usr/share/man "$lib"/engines-3 "$lib"/ossl-modules \
  "$lib"/libssl.so.3 "$lib"/libcrypto.so.3 "$lib"/lib{crypto,ssl,z,brotli*}.a
# .pc files name /usr: make them relative to where they lie.
find .devdeps -name '*.pc' -exec sed -i 's|^prefix=/usr$|prefix=${pcfiledir}/../../..|' {} +
du -sh .devdeps
