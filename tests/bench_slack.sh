#!/bin/sh
# bench_slack — the release daemon against tests/fake_slack.py. Prints:
#   slack.ack_p50_ms / ack_p99_ms / ack_max_ms: envelope sent -> ack received,
#       measured at the fake, for ~2000 slash commands at 500/s (the reply
#       rides in the ack, so this includes running the command);
#   slack.ingest_to_post_p50_ms / _max_ms: a single story stored by a
#       separate `ainews ingest` (process exit, row committed) -> the fake
#       receiving chat.postMessage, through the outbox (which the daemon
#       polls every 200 ms: that poll is most of the figure);
#   slack.rss_kb_connected: VmRSS of the daemon just after connecting
#       (its HTTP helper, which alone holds libcurl, still running);
#   slack.rss_kb_idle / _after_commands / pss: after the HTTP helper's idle
#       exit (bot/rest.c; 30 s by default, 3 s here to keep the bench
#       short; the memory after it is the same), then after the burst
#       (commands answer in the ack: no REST);
#   slack.tls_ca_*: the same daemon over wss:// and an https Web API, after
#       a post (helper running: _busy_rss_kb is the daemon, _helper_rss_kb
#       the helper) and after the helper's idle exit; then the next alert's
#       ingest-to-post time (a new helper loads libcurl, new TLS connection,
#       plus the outbox poll).
# Targets: ack p99 < 5 ms, ingest-to-post p50 < 100 ms, RSS < 10 MB.
# Asserts nothing; run from the repo root (make bench).
set -u
BIN=${AINEWS_REL_BIN:-bot/ainews}
case $BIN in /*) ;; *) BIN=$PWD/$BIN ;; esac
PY=/usr/bin/python3
N=${BENCH_SLACK_COMMANDS:-2000}
STORIES=${BENCH_SLACK_STORIES:-30}
APP=xapp-1-A0FAKE-bench-app-token-1234567
BOT=xoxb-bench-bot-token-7654321
TMP=$(mktemp -d -t ainews-bench-slack.XXXXXX)
export AINEWS_REST_IDLE_MS=3000
# the daemon's child processes: its HTTP helper while that runs
kids() { cat /proc/$1/task/*/children 2>/dev/null | tr -d '\n'; }
# wait (up to 10 s) until the daemon's HTTP helper has ended
rest_unloaded() { i=0; while [ -n "$(kids $1)" ] && [ $i -lt 100 ]; do sleep 0.1; i=$((i + 1)); done; }
fpid=; bpid=
trap 'kill $bpid $fpid 2>/dev/null; wait 2>/dev/null; rm -rf "$TMP"' EXIT

$PY tests/fake_slack.py --app-token $APP --bot-token $BOT > $TMP/fake.out 2> $TMP/fake.err &
fpid=$!
i=0; while ! grep -q '^PORT' $TMP/fake.out 2>/dev/null && [ $i -lt 100 ]; do sleep 0.05; i=$((i + 1)); done
PORT=$(awk '/^PORT/ {print $2}' $TMP/fake.out)
C() { $PY tests/slack_ctl.py $PORT "$@"; }

# Ten channels, one rule each, so consecutive stories are not held back by
# the one-message-per-second pace of a single channel.
rules=""
for k in 0 1 2 3 4 5 6 7 8 9; do
	rules="$rules{\"platform\": \"work\", \"channel\": \"C0BENCH$k\", \"expr\": \"quality == 6$k\"},"
done
cat > $TMP/config.json <<JSON
{"store": {"path": "$TMP/b.db"}, "topics": "$PWD/config/topics.json", "http": {"listen": "off"},
 "platforms": [{"type": "slack", "name": "work", "app_token_env": "SLACK_APP_TOKEN",
                "bot_token_env": "SLACK_BOT_TOKEN", "api_base": "http://127.0.0.1:$PORT/api/"}],
 "sources": [], "rules": [${rules%,}]}
JSON
A="$BIN --config $TMP/config.json"
$A ingest --no-alerts tests/fixtures/samples > /dev/null 2>&1
env SLACK_APP_TOKEN=$APP SLACK_BOT_TOKEN=$BOT $A run > /dev/null 2> $TMP/log &
bpid=$!
C wait 'any(x["ready"] for x in s["sockets"])' 10 || { echo "bench_slack: the daemon did not connect"; cat $TMP/log; exit 0; }
sleep 1
echo "slack.rss_kb_connected $(awk '/VmRSS/ {print $2}' /proc/$bpid/status)"
rest_unloaded $bpid
sleep 0.5
echo "slack.rss_kb_idle $(awk '/VmRSS/ {print $2}' /proc/$bpid/status)"
echo "slack.pss_kb_idle $(awk '/^Pss:/ {print $2}' /proc/$bpid/smaps_rollup)"

cpu0=$(awk '{print $14 + $15}' /proc/$bpid/stat)
C do burst "{\"n\": $N, \"interval_ms\": 2, \"texts\": [\"help\", \"compute\", \"top 7d\", \"nvidia\", \"search 数据中心\"], \"timeout\": 60}" > $TMP/burst.json
$PY - $TMP/burst.json <<'PY'
import json, sys
b = json.load(open(sys.argv[1]))
print("slack.commands %d (acked %d, answered inline %d)" % (b["sent"], b["acked"], b["inline"]))
print("slack.ack_p50_ms %.3f" % b["p50_ms"])
print("slack.ack_p99_ms %.3f" % b["p99_ms"])
print("slack.ack_max_ms %.3f" % b["max_ms"])
PY
cpu1=$(awk '{print $14 + $15}' /proc/$bpid/stat)
# Daemon CPU (user+system, clock ticks) over the burst, per command: parse
# the envelope, ack, run the command on the store, render Block Kit, reply.
echo "slack.cpu_ms_per_command $(echo "($cpu1 - $cpu0) * 1000 / $(getconf CLK_TCK) / $N" | bc -l | xargs printf '%.3f')"
echo "slack.rss_kb_after_commands $(awk '/VmRSS/ {print $2}' /proc/$bpid/status)"
echo "slack.pss_kb_after_commands $(awk '/^Pss:/ {print $2}' /proc/$bpid/smaps_rollup)"

# Single stories from separate processes, 150-400 ms apart, rotating channels.
: > $TMP/ingested
k=0
while [ $k -lt $STORIES ]; do
	printf '{"id": "b-%d", "title": {"en": "Bench story %d about compute"}, "scores": {"hot": 70, "quality": 6%d, "impact": 70}}' \
		$k $k $((k % 10)) > $TMP/b-$k.json
	$A ingest $TMP/b-$k.json > /dev/null 2>&1
	echo "b-$k $(date +%s.%N)" >> $TMP/ingested
	# random gaps, so the ingests cannot lock onto the daemon's poll phase
	sleep $(awk -v k=$k 'BEGIN { srand(k * 7919); printf "%.3f", 0.15 + rand() * 0.25 }')
	k=$((k + 1))
done
C wait "sum(1 for p in s['posts'] if 'Bench story' in (p['text'] or '')) >= $STORIES" 30 > /dev/null 2>&1
C state 's["posts"]' > $TMP/posts.json
$PY - $TMP/ingested $TMP/posts.json <<'PY'
import json, re, sys
done = {l.split()[0]: float(l.split()[1]) for l in open(sys.argv[1])}
lat = []
for p in json.load(open(sys.argv[2])):
    m = re.search(r"Bench story (\d+) about", p["text"] or "")
    if m and "b-" + m.group(1) in done:
        lat.append((p["t"] - done["b-" + m.group(1)]) * 1000)
lat.sort()
if lat:
    print("slack.ingest_to_post_stories %d" % len(lat))
    print("slack.ingest_to_post_p50_ms %.1f" % lat[len(lat) // 2])
    print("slack.ingest_to_post_max_ms %.1f" % lat[-1])
else:
    print("slack.ingest_to_post: no posts seen")
PY
echo "slack.fake_violations $(C state 'len(s["errors"])')"
echo "slack.rss_kb_end $(awk '/VmRSS/ {print $2}' /proc/$bpid/status)"
kill -TERM $bpid; wait $bpid 2>/dev/null; bpid=
kill $fpid 2>/dev/null; wait $fpid 2>/dev/null; fpid=

# As in production: wss:// and an https Web API, both verified, with the
# system's CA certificates (plus the fake's own CA), read from the hashed
# directory as the daemon does by default and, for comparison, from one
# bundle file.
command -v openssl > /dev/null 2>&1 || exit 0
o=$TMP/tls
. tests/tls_certs.sh
make_test_certs $o "ainews bench CA"
mkdir -p $o/certs
for f in /etc/ssl/certs/*.pem; do ln -s "$f" $o/certs/ 2>/dev/null; done
cp $o/ca.pem $o/certs/ainews-bench-ca.pem
openssl rehash $o/certs > /dev/null 2>&1
cat /etc/ssl/certs/ca-certificates.crt $o/ca.pem > $o/bundle.pem 2>/dev/null
$PY tests/fake_slack.py --app-token $APP --bot-token $BOT --tls-cert $o/srv.pem --tls-key $o/srv.key \
	> $TMP/fake.out 2> $TMP/fake.err &
fpid=$!
i=0; while ! grep -q '^TLSPORT' $TMP/fake.out 2>/dev/null && [ $i -lt 100 ]; do sleep 0.05; i=$((i + 1)); done
PORT=$(awk '/^PORT/ {print $2}' $TMP/fake.out)
TLSPORT=$(awk '/^TLSPORT/ {print $2}' $TMP/fake.out)
C config '{"wss": true}' > /dev/null
sed "s|http://127.0.0.1:[0-9]*/api/|https://localhost:$TLSPORT/api/|" $TMP/config.json > $TMP/tls.json
for how in dir file; do
	if [ $how = dir ]; then ca="SSL_CERT_FILE= SSL_CERT_DIR=$o/certs"; else ca="SSL_CERT_FILE=$o/bundle.pem SSL_CERT_DIR="; fi
	n0=$(C state 'sum(1 for x in s["sockets"] if x["ready"])')
	env SLACK_APP_TOKEN=$APP SLACK_BOT_TOKEN=$BOT $ca $BIN --config $TMP/tls.json run > /dev/null 2> $TMP/log.$how &
	bpid=$!
	C wait "sum(1 for x in s['sockets'] if x['ready']) > $n0" 10 > /dev/null 2>&1 || { echo "bench_slack: no TLS connection ($how)"; cat $TMP/log.$how; }
	C do burst '{"n": 50, "interval_ms": 5, "texts": ["compute"], "timeout": 20}' > /dev/null
	printf '{"id": "tls-%s", "title": {"en": "Bench story over TLS"}, "scores": {"hot": 70, "quality": 60, "impact": 70}}' $how \
		> $TMP/tls-$how.json
	$BIN --config $TMP/tls.json ingest $TMP/tls-$how.json > /dev/null 2>&1
	C wait "any('over TLS' in (p['text'] or '') for p in s['posts'])" 10 > /dev/null 2>&1 || echo "bench_slack: no post over TLS ($how)"
	sleep 2.2 # after the trim that follows activity
	echo "slack.tls_ca_${how}_busy_rss_kb $(awk '/VmRSS/ {print $2}' /proc/$bpid/status)"
	for k in $(kids $bpid); do echo "slack.tls_ca_${how}_helper_rss_kb $(awk '/VmRSS/ {print $2}' /proc/$k/status)"; done
	rest_unloaded $bpid
	sleep 0.5
	echo "slack.tls_ca_${how}_rss_kb $(awk '/VmRSS/ {print $2}' /proc/$bpid/status)"
	echo "slack.tls_ca_${how}_pss_kb $(awk '/^Pss:/ {print $2}' /proc/$bpid/smaps_rollup)"
	# The next alert after the unload: load libcurl, a new TLS connection.
	printf '{"id": "tls-%s-again", "title": {"en": "Bench story after idle %s"}, "scores": {"hot": 70, "quality": 60, "impact": 70}}' $how $how \
		> $TMP/tls-$how-again.json
	$BIN --config $TMP/tls.json ingest $TMP/tls-$how-again.json > /dev/null 2>&1
	t0=$(date +%s.%N)
	C wait "any('after idle $how' in (p['text'] or '') for p in s['posts'])" 10 > /dev/null 2>&1 || echo "bench_slack: no post after idle ($how)"
	echo "slack.tls_ca_${how}_post_after_idle_ms $(C state "[p['t'] for p in s['posts'] if 'after idle $how' in (p['text'] or '')][0]" | awk -v t0=$t0 '{printf "%.1f", ($1 - t0) * 1000}')"
	kill -TERM $bpid; wait $bpid 2>/dev/null; bpid=
done
exit 0
