#!/bin/sh
# Debian packages ainews needs to build and test. --check-or-install installs
# only when something is missing; --install always checks. apt-get as root,
# sudo otherwise, else print the exact command.
set -u
PKGS="gcc make pkg-config libwebsockets-dev libcurl4-openssl-dev libcjson-dev libsqlite3-dev libopencc-dev opencc sqlite3 python3 python3-websockets python3-aiohttp valgrind curl chromium fonts-wqy-microhei wrk"
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
