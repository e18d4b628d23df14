#!/bin/sh
# bench_daemon — resident memory of the idle daemon over a store of 10,000
# stories shaped like sample 001, and end-to-end command latency through
# the console (a pipe). Prints figures; asserts nothing.
set -u
BIN=${AINEWS_REL_BIN:-bot/ainews}
TMP=$(mktemp -d -t ainews-bench.XXXXXX)
trap 'kill $pid 2>/dev/null; rm -rf "$TMP"' EXIT
N=${BENCH_DAEMON_STORIES:-10000}
cat > $TMP/config.json <<JSON
{"store": {"path": "$TMP/d.db"}, "topics": "$PWD/config/topics.json", "http": {"listen": "off"},
  "platforms": [{"type": "console", "name": "console"}], "sources": [],
 "rules": [{"platform": "console", "channel": "console", "expr": "impact >= 99"}]}
JSON
/usr/bin/python3 - "$N" tests/fixtures/samples/001_b7f92d73314365c7.txt > $TMP/stories.jsonl <<'PY'
import json, sys
n = int(sys.argv[1]); text = open(sys.argv[2], encoding="utf-8").read()
paras = [p for p in text.split("\n\n") if p.strip()]
for i in range(n):
    print(json.dumps({"id": "d-%d" % i, "title": {"en": "Meta signs compute deal %d" % i, "zh": "Meta签署算力协议%d" % i},
        "scores": {"hot": i % 100, "quality": 60, "impact": 50}, "tldr": {"en": paras[4:9]},
        "analysis": {"en": "\n\n".join(paras[10:20]), "zh": "\n\n".join(paras[40:50])}}, ensure_ascii=False))
PY
mkdir $TMP/in.d && split -l 1000 $TMP/stories.jsonl $TMP/in.d/part- && rm $TMP/stories.jsonl
t0=$(date +%s.%N)
$BIN --config $TMP/config.json ingest --no-alerts $TMP/in.d > /dev/null 2>$TMP/ingest.err || { echo "ingest failed:"; head -3 $TMP/ingest.err; }
t1=$(date +%s.%N)
echo "daemon.store_stories $N"
echo "daemon.ingest_jsonl_stories_per_s $(echo "$N / ($t1 - $t0)" | bc -l | xargs printf '%.0f')"
mkfifo $TMP/in
$BIN --config $TMP/config.json run < $TMP/in > $TMP/out 2> $TMP/log &
pid=$!
exec 3> $TMP/in
i=0; while ! grep -q "console: ready" $TMP/log 2>/dev/null && [ $i -lt 100 ]; do sleep 0.1; i=$((i+1)); done
sleep 2
echo "daemon.idle_rss_kb $(awk '/VmRSS/ {print $2}' /proc/$pid/status)"
echo "daemon.idle_pss_kb $(awk '/^Pss:/ {print $2}' /proc/$pid/smaps_rollup)"
echo "daemon.idle_private_kb $(awk '/^Private_(Clean|Dirty):/ {s += $2} END {print s}' /proc/$pid/smaps_rollup)"
c0=$(awk '{print $14 + $15}' /proc/$pid/stat)
# 400 commands through the console pipe, one at a time, each waiting for its reply
s0=$(date +%s%N)
for k in $(seq 1 200); do echo "/ainews compute" >&3; echo "/ainews search 数据中心" >&3; done
echo "/ainews story end-of-bench-marker" >&3
i=0; while ! grep -q "end-of-bench-marker" $TMP/out && [ $i -lt 600 ]; do sleep 0.01; i=$((i+1)); done
s1=$(date +%s%N)
c1=$(awk '{print $14 + $15}' /proc/$pid/stat)
hz=$(getconf CLK_TCK)
echo "daemon.console_commands 400"
echo "daemon.console_wall_ms_per_command $(echo "($s1 - $s0) / 1000000 / 400" | bc -l | xargs printf '%.3f')"
echo "daemon.cpu_ms_per_command $(echo "($c1 - $c0) * 1000 / $hz / 400" | bc -l | xargs printf '%.3f')"
echo "daemon.rss_after_commands_kb $(awk '/VmRSS/ {print $2}' /proc/$pid/status)"
exec 3>&-
wait $pid 2>/dev/null
