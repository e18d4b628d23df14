#!/bin/sh
# Debian packages ainews needs. `deps.sh build` checks what building and
# running need (make, make run); `deps.sh test` adds what the tests and
# benchmarks need (fake servers, headless Chromium, wrk...), so `make run`
# on a fresh machine does not wait for a browser download. Installs only
# what is missing: apt-get as root, sudo otherwise, else prints the command.
set -u
BUILD="gcc make pkg-config libwebsockets-dev libcurl4-openssl-dev libcjson-dev libsqlite3-dev libopencc-dev opencc"
TEST="sqlite3 python3 python3-websockets python3-aiohttp valgrind curl bc openssl chromium fonts-wqy-microhei wrk"
case "${1:-test}" in
build) PKGS=$BUILD ;;
*) PKGS="$BUILD $TEST" ;;
esac
missing=""
for p in $PKGS; do
	dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing="$missing $p"
done
[ -z "$missing" ] && exit 0
echo "ainews: installing missing Debian packages:$missing"
if [ "$(id -u)" = 0 ]; then
	SUDO=""
elif command -v sudo >/dev/null 2>&1 && sudo -n true 2>/dev/null; then
	SUDO="sudo"
else
	echo "ainews: please run as root:  apt-get update && apt-get install -y$missing" >&2
	exit 1
fi
export DEBIAN_FRONTEND=noninteractive
$SUDO apt-get update -qq >/dev/null && $SUDO apt-get install -y -qq $missing >/dev/null || {
	echo "ainews: apt-get failed; run:  apt-get update && apt-get install -y$missing" >&2
	exit 1
}
