#!/bin/sh
# bench_http — requests per second of the embedded server on loopback: the
# analysis page of sample 001 and /healthz, each for BENCH_HTTP_SECONDS
# (default 5) with wrk (Debian package wrk; ab from apache2-utils if wrk is
# missing), 32 connections. The daemon (release build) is pinned to one
# core and the load generator to another when there are two. While the
# page load runs, slash commands go through the console plugin, which sits
# on the same event loop as the websocket plugins: their round trip shows
# whether chat stays responsive. Prints figures; asserts nothing.
set -u
BIN=${AINEWS_REL_BIN:-bot/ainews}
SECS=${BENCH_HTTP_SECONDS:-5}
CONNS=${BENCH_HTTP_CONNECTIONS:-32}
TMP=$(mktemp -d -t ainews-bench-http.XXXXXX)
pid=""
trap '[ -n "$pid" ] && kill $pid 2>/dev/null; rm -rf "$TMP"' EXIT
cat > $TMP/config.json <<JSON
{"store": {"path": "$TMP/h.db"}, "topics": "$PWD/config/topics.json",
 "http": {"listen": "127.0.0.1:0"},
 "platforms": [{"type": "console", "name": "console"}], "sources": [],
 "rules": [{"platform": "console", "channel": "console", "expr": "impact >= 99"}]}
JSON
A="$BIN --config $TMP/config.json"
$A ingest --no-alerts tests/fixtures/samples > /dev/null 2>&1
ID=$($A list --json | /usr/bin/python3 -c 'import json,sys; print([s["id"] for s in json.load(sys.stdin) if s["scores"]["hot"]==70][0])')

mkfifo $TMP/in
CPU_D="" CPU_L=""
if [ "$(nproc)" -ge 2 ] && command -v taskset >/dev/null; then CPU_D="taskset -c 0"; CPU_L="taskset -c 1"; fi
$CPU_D $A run < $TMP/in > $TMP/out 2> $TMP/log &
pid=$!
exec 3> $TMP/in
i=0; while ! grep -qE 'http: listening on 127\.0\.0\.1:[0-9]+' $TMP/log && [ $i -lt 100 ]; do sleep 0.1; i=$((i+1)); done
U=http://127.0.0.1:$(grep -oE 'http: listening on 127\.0\.0\.1:[0-9]+' $TMP/log | head -n 1 | sed 's/.*://')
curl -s -o /dev/null "$U/s/$ID" # warm the page cache, as any second reader would

# load URL NAME: prints NAME_rps and NAME_p99_ms
load() {
	if command -v wrk >/dev/null; then
		$CPU_L wrk -t1 -c$CONNS -d${SECS}s --latency "$1" > $TMP/wrk.out 2>&1
		rps=$(awk '/^Requests\/sec:/ {printf "%.0f", $2}' $TMP/wrk.out)
		p99=$(awk '$1 == "99%" {v=$2; u=v; gsub(/[0-9.]/, "", u); sub(/[a-z]+$/, "", v);
			printf "%.2f", u == "us" ? v / 1000 : u == "s" ? v * 1000 : v}' $TMP/wrk.out)
		errs=$(awk '/Non-2xx|Socket errors/ {print}' $TMP/wrk.out)
	else
		$CPU_L ab -q -k -c $CONNS -t $SECS -n 10000000 "$1" > $TMP/ab.out 2>&1
		rps=$(awk '/^Requests per second:/ {printf "%.0f", $4}' $TMP/ab.out)
		p99=$(awk '$1 == "99%" {printf "%.2f", $2}' $TMP/ab.out)
		errs=$(awk '/^Non-2xx|^Failed requests: *[1-9]/ {print}' $TMP/ab.out)
	fi
	echo "http.$2_rps $rps"
	echo "http.$2_p99_ms $p99"
	[ -n "$errs" ] && echo "http.$2_errors $errs"
	return 0
}

# Console round trips while the page load runs: one command at a time,
# each timed until its reply shows in the console's output.
rtt() {
	$CPU_L /usr/bin/python3 - "$TMP/in" "$TMP/out" <<'PY'
import os, sys, time
fifo, out = sys.argv[1], sys.argv[2]
w = os.open(fifo, os.O_WRONLY)
rtts = []
r = open(out, "rb")
for _ in range(20):
    r.seek(0, 2)
    t0 = time.monotonic()
    os.write(w, b"/ainews compute\n")
    seen = b""
    while time.monotonic() - t0 < 10:
        seen += r.read()
        if b"Compute" in seen:
            break
        time.sleep(0.001)
    rtts.append((time.monotonic() - t0) * 1000)
    time.sleep(0.1)
rtts.sort()
print("http.console_rtt_under_load_median_ms %.1f" % rtts[len(rtts) // 2])
print("http.console_rtt_under_load_max_ms %.1f" % rtts[-1])
PY
}

(sleep 1; rtt > $TMP/rtt.out) &
rpid=$!
load "$U/s/$ID" story
wait $rpid
cat $TMP/rtt.out
load "$U/healthz" healthz
load "$U/s/$ID?lang=zh" story_zh
load "$U/" index
echo "http.rss_after_load_kb $(awk '/VmRSS/ {print $2}' /proc/$pid/status)"
exec 3>&-
kill $pid 2>/dev/null
wait $pid 2>/dev/null
pid=""
exit 0
