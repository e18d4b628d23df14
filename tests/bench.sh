#!/bin/sh
# bench.sh — run every benchmark program and print its figures (make bench).
set -u
for b in "$@"; do
	echo "## $(basename "$b")"
	"$b" || echo "benchmark $b failed"
done
[ -f tests/bench_daemon.sh ] && sh tests/bench_daemon.sh
exit 0
