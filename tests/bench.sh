#!/bin/sh
# bench.sh — run every benchmark program and print its figures (make bench).
set -u
for b in "$@"; do
	echo "## $(basename "$b")"
	"$b" || echo "benchmark $b failed"
done
for s in tests/bench_daemon.sh tests/bench_http.sh tests/bench_slack.sh; do
	[ -f "$s" ] && { echo "## $(basename "$s")"; sh "$s" || echo "benchmark $s failed"; }
done
exit 0
