#!/usr/bin/env bash
# browser.sh - run the real-browser test of mapf serve (browser.mjs):
# Debian's chromium, headless, driven by puppeteer-core from the npm
# packages tools/run installed (web/package.json). The screenshot lands in
# BUILD_DIR/tests/web-artifacts/dashboard.png.
# Usage: bash tests/web/browser.sh BUILD_DIR SOURCE_DIR
set -u
BUILD=$(cd "${1:?usage: browser.sh BUILD_DIR SOURCE_DIR}" && pwd)
SRC=$(cd "${2:?usage: browser.sh BUILD_DIR SOURCE_DIR}" && pwd)
NPM=${MAPFILE_NPM_DIR:-$BUILD/npm}
missing=()
command -v node >/dev/null || missing+=("node (Debian package nodejs)")
[ -x "${CHROMIUM:-/usr/bin/chromium}" ] || missing+=("chromium (Debian package chromium)")
[ -f "$NPM/node_modules/puppeteer-core/package.json" ] ||
    missing+=("puppeteer-core in $NPM/node_modules (tools/run runs npm ci there)")
if [ ${#missing[@]} -gt 0 ]; then
    printf 'browser.sh: missing %s\n' "${missing[@]}" >&2
    echo "0 passed, 1 failed"
    exit 1
fi
export MAPFILE_PLUGIN_PATH=$BUILD/plugins
exec node "$SRC/tests/web/browser.mjs" "$BUILD" "$NPM" "$BUILD/tests/web-artifacts"
