#!/bin/sh
# e2e_slack — the real daemon against tests/fake_slack.py, a strict fake of
# Slack Socket Mode and the Web API on 127.0.0.1. The fake records every
# protocol error (late or malformed acks, bad tokens, reused tickets, blocks
# over the limits, no text fallback, wrong Content-Type, posting faster than
# the pace or before Retry-After, closing the old socket first on a refresh)
# and each phase asserts that it saw none.
#
# Phases: commands (inline ack, entities, garbage and 300 kB frames,
# redelivery, events), alerts (channel rule, DM through conversations.open,
# thread update, permanent failure, 429 on the first two posts), refresh
# mid-traffic, a dropped socket, a 5 s slow Web API while commands keep
# arriving, link_disabled; then a slow core (response_url), a refused app
# token (log and /healthz), an unset token, no usable libcurl, and wss://
# with TLS; meanwhile in the background, a peer that stops answering pings.
. tests/lib.sh
APP=xapp-1-A0FAKE-e2e-app-token-3141592653
BOT=xoxb-e2e-bot-token-2718281828
DB=$TMP/s.db
A="$BIN --config $TMP/config.json"
bpid= fpid= dbpid= dfpid=
# lib.sh's trap, plus whatever is still running when a check bails out
trap 'kill $bpid $fpid $dbpid $dfpid 2>/dev/null; [ -n "${KEEP_TMP:-}" ] || rm -rf "$TMP"' EXIT

C() { $PY tests/slack_ctl.py "$FPORT" "$@"; }
errors() { C state 's["errors"]'; }

start_fake() { # start_fake [extra fake args]
	: > $TMP/fake.out
	$PY tests/fake_slack.py --app-token $APP --bot-token $BOT "$@" > $TMP/fake.out 2>> $TMP/fake.err &
	fpid=$!
	i=0; while ! grep -q '^PORT' $TMP/fake.out && [ $i -lt 100 ]; do sleep 0.05; i=$((i + 1)); done
	FPORT=$(awk '/^PORT/ {print $2}' $TMP/fake.out)
	TLSPORT=$(awk '/^TLSPORT/ {print $2}' $TMP/fake.out)
}
stop_fake() { kill $fpid 2>/dev/null; wait $fpid 2>/dev/null; }

write_config() { # write_config [http.listen]
	cat > $TMP/config.json <<JSON
{
  "store": {"path": "$DB"},
  "topics": "$ROOT/config/topics.json",
  "http": {"listen": "${1:-off}"},
  "platforms": [{"type": "slack", "name": "work", "app_token_env": "SLACK_APP_TOKEN",
                 "bot_token_env": "SLACK_BOT_TOKEN", "api_base": "${API_BASE:-http://127.0.0.1:$FPORT/api/}"}],
  "sources": [],
  "rules": [{"platform": "work", "channel": "C0INFRA", "expr": "topic:compute and impact >= 60"}],
  "admins": {"work": ["U0ADMIN"]}
}
JSON
}

start_bot() { # start_bot [VAR=value ...]: the daemon with both tokens set
	env SLACK_APP_TOKEN=$APP SLACK_BOT_TOKEN=$BOT "$@" ${RUN_BIN:-$BIN} --config $TMP/config.json run >> $TMP/out 2>> $TMP/log &
	bpid=$!
}
stop_bot() { # SIGTERM and wait; the exit status lands in $brc
	kill -TERM $bpid 2>/dev/null
	i=0; while kill -0 $bpid 2>/dev/null && [ $i -lt 100 ]; do sleep 0.1; i=$((i + 1)); done
	wait $bpid; brc=$?
}
wait_log() { # wait_log pattern [seconds]
	i=0; lim=$(( ${2:-5} * 10 ))
	while [ $i -lt $lim ]; do grep -qE -- "$1" $TMP/log 2>/dev/null && return 0; sleep 0.1; i=$((i + 1)); done
	return 1
}
story() { # story ID TITLE HOT IMPACT: one story file, ingested by a separate process
	printf '{"id": "%s", "title": {"en": "%s"}, "scores": {"hot": %s, "quality": 60, "impact": %s}, "tldr": {"en": ["%s, in one line."]}}' \
		"$1" "$2" "$3" "$4" "$2" > $TMP/$1.json
	$A ingest $TMP/$1.json > /dev/null 2>&1
}
field() { $PY -c "import json,sys; print(json.load(sys.stdin)$1)"; }
posts_of() { C state "sum(1 for p in s['posts'] if p['channel'] == 'C0INFRA' and '$1' in (p['text'] or ''))"; }
no_doubles() { C state "len(set((p['channel'], p['text']) for p in s['posts'])) == len(s['posts'])"; }

# ---- in the background meanwhile: a peer that stops answering pings ----
# (lws pings an idle socket after 10 s and hangs up 25 s after the last
# answer; the check is at the end, so it costs no extra time)
: > $TMP/dead.out
$PY tests/fake_slack.py --app-token $APP --bot-token $BOT > $TMP/dead.out 2> $TMP/dead.err &
dfpid=$!
i=0; while ! grep -q '^PORT' $TMP/dead.out && [ $i -lt 100 ]; do sleep 0.05; i=$((i + 1)); done
DPORT=$(awk '/^PORT/ {print $2}' $TMP/dead.out)
$PY tests/slack_ctl.py $DPORT config '{"pong": false}' > /dev/null
cat > $TMP/dead.json <<JSON
{"store": {"path": "$TMP/dead.db"}, "topics": "$ROOT/config/topics.json", "http": {"listen": "off"},
 "platforms": [{"type": "slack", "name": "work", "app_token_env": "SLACK_APP_TOKEN",
                "bot_token_env": "SLACK_BOT_TOKEN", "api_base": "http://127.0.0.1:$DPORT/api/"}]}
JSON
env SLACK_APP_TOKEN=$APP SLACK_BOT_TOKEN=$BOT $BIN --config $TMP/dead.json run > /dev/null 2> $TMP/dead.log &
dbpid=$!

# ---- phase 1: one daemon through commands, alerts and connection trouble ----
start_fake
write_config
$A ingest --no-alerts $SAMPLES > /dev/null 2>&1
start_bot
check "socket ready after hello" C wait 'any(x["ready"] and x["open"] for x in s["sockets"])' 10
check "log says ready" wait_log "work: ready"
expect_eq "one apps.connections.open" "$(C state 's["opens"]')" 1

# /ainews compute: the reply rides in the ack.
r=$(C slash compute U0USER C0GENERAL)
expect_eq "compute answered inline in the ack" "$(printf "%s\n" "$r" | field '["inline"]')" True
expect_match "compute lists sample 001" "$(printf "%s\n" "$r" | field '["text"]')" "Meta Signs AI Computing Power"
expect_eq "reply is ephemeral" "$(printf "%s\n" "$r" | field '["response_type"]')" ephemeral
check "reply carries blocks" test "$(printf "%s\n" "$r" | field '["blocks"]')" -ge 1
# Slack sends "hot>=60" as "hot&gt;=60"; the command must see ">=".
r=$(C slash "subscribe hot>=99" U0OTHER C0GENERAL)
expect_match "entities in the command text are decoded" "$(printf "%s\n" "$r" | field '["text"]')" "Subscribed .*hot &gt;= 99"
expect_nomatch "no entity left in the parsed rule" "$(printf "%s\n" "$r" | field '["text"]')" "&amp;"

# Garbage frames are logged and survived.
C do raw '{"text": "this is not json"}' > /dev/null
C do raw '{"text": "[1, 2, 3]"}' > /dev/null
C do raw '{"binary": "\u0001\u0002binary"}' > /dev/null
C do raw '{"text": "{\"type\": \"mystery\"}"}' > /dev/null
C do raw '{"text": "{\"envelope_id\": 42, \"type\": \"slash_commands\"}"}' > /dev/null
r=$(C slash help U0USER C0GENERAL)
expect_eq "still answering after garbage" "$(printf "%s\n" "$r" | field '["inline"]')" True
check "non-JSON frame logged" wait_log "ignored a frame that is not a JSON object"
check "binary frame logged" wait_log "ignored a binary frame"

# A redelivered envelope is acked again but not run twice.
r=$(C slash "subscribe nvidia" U0SUB C0RAND)
eid=$(printf "%s\n" "$r" | field '["envelope_id"]')
expect_match "subscribed" "$(printf "%s\n" "$r" | field '["text"]')" "Subscribed"
C do redeliver "{\"envelope_id\": \"$eid\"}" > /dev/null
check "redelivery acked" C wait "[d['ack_ms'] is not None for e in s['envelopes'] if e['envelope_id'] == '$eid' for d in e['deliveries']] == [True, True]" 5
expect_eq "redelivery acked without a second reply" \
	"$(C state "[d['payload'] is None for e in s['envelopes'] if e['envelope_id'] == '$eid' for d in e['deliveries']]")" "[false, true]"
sleep 0.3
expect_eq "no late reply for the redelivery" "$(C state "sum(1 for r in s['responses'] if r['envelope_id'] == '$eid')")" 0
check "redelivery logged" wait_log "redelivered envelope $eid"
# Events: acked (twice when redelivered with a new envelope), never run.
C do event '{"event_id": "Ev0E2E1"}' > /dev/null
C do event '{"event_id": "Ev0E2E1"}' > /dev/null
# A 300 kB frame reaches the plugin in pieces; it must be reassembled to be acked.
C do event '{"event_id": "Ev0E2EBIG", "pad": 300000}' > /dev/null
check "events acked" C wait "all(d['ack_ms'] is not None for e in s['envelopes'] if e['type'] == 'events_api' for d in e['deliveries'])" 5
expect_eq "no violations after commands" "$(errors)" "[]"

# A story from a separate `ainews ingest` reaches the rule's channel and the
# subscriber's DM (conversations.open, once) within a second or so.
story s-slk-1 "Nvidia unveils a data center GPU with 2x compute" 91 80
check "channel alert posted" C wait "any(p['channel'] == 'C0INFRA' for p in s['posts'])" 3
check "DM alert posted" C wait "any(p['channel'] == 'D0SUB' for p in s['posts'])" 3
expect_eq "DM opened through conversations.open" "$(C state 's["dm_opens"]')" '{"U0SUB": 1}'
expect_eq "alerts do not unfurl" "$(C state "all(p['unfurl_links'] is False and p['unfurl_media'] is False for p in s['posts'])")" true
expect_eq "alerts have blocks and a text fallback" "$(C state "all(p['blocks'] and p['text'] for p in s['posts'])")" true
ts=$(C state "[p['ts'] for p in s['posts'] if p['channel'] == 'C0INFRA'][0]")
expect_eq "remote id is channel:ts" "$($A outbox --json | json '[r["remote_id"] for r in j if r["target"] == "C0INFRA"][0]')" "C0INFRA:$(echo $ts | tr -d '"')"
story s-slk-2 "Nvidia quarterly results beat forecasts" 50 40
check "second DM posted" C wait "sum(1 for p in s['posts'] if p['channel'] == 'D0SUB') == 2" 4
expect_eq "DM channel cached (one conversations.open)" "$(C state 's["dm_opens"]["U0SUB"]')" 1
# A new revision of an alerted story is a thread reply, never a second card.
story s-slk-1 "Nvidia unveils a data center GPU with 2x compute" 93 85
check "update posted in the alert's thread" C wait "any(p['channel'] == 'C0INFRA' and p['thread_ts'] == $ts for p in s['posts'])" 4
check "DM update in the DM alert's thread" C wait "any(p['channel'] == 'D0SUB' and p['thread_ts'] for p in s['posts'])" 4

# Channel rules need an admin; a channel Slack refuses fails for good, with the reason.
r=$(C slash "channel add hot >= 95" U0NOBODY C0GONE)
expect_match "non-admin refused" "$(printf "%s\n" "$r" | field '["text"]')" "[Aa]dmin"
r=$(C slash "channel add hot >= 95" U0ADMIN C0GONE)
expect_nomatch "admin may add a channel rule" "$(printf "%s\n" "$r" | field '["text"]')" "[Aa]dmins? only|not an admin"
C config '{"channel_errors": {"C0GONE": "channel_not_found"}}' > /dev/null
story s-slk-3 "Record hot story for the gone channel" 99 10
i=0; while [ $i -lt 40 ] && [ "$($A outbox --json | json '[r["status"] for r in j if r["target"] == "C0GONE"]')" != "['failed']" ]; do sleep 0.1; i=$((i + 1)); done
expect_eq "channel_not_found is a permanent failure" "$($A outbox --json | json '[(r["status"], r["error"]) for r in j if r["target"] == "C0GONE"]')" "[('failed', 'channel_not_found')]"

# 429 on the first two posts: each alert is posted exactly once, after the wait.
C config '{"ratelimit": 2, "retry_after": 1}' > /dev/null
story s-slk-4 "Compute crunch: GPU cloud prices double" 70 85
story s-slk-5 "Gigawatt data center compute campus approved" 72 88
check "both rate-limited alerts posted" C wait "sum(1 for p in s['posts'] if p['channel'] == 'C0INFRA' and ('GPU cloud prices' in p['text'] or 'Gigawatt data center' in p['text'])) == 2" 10
sleep 1.2
expect_eq "first rate-limited alert posted once" "$(posts_of 'GPU cloud prices double')" 1
expect_eq "second rate-limited alert posted once" "$(posts_of 'Gigawatt data center compute')" 1
expect_eq "two 429s served" "$(C state "sum(1 for c in s['calls'] if c['status'] == 429)")" 2
check "429 logged" wait_log "rate limited: retrying in"
expect_eq "no violations after alerts (pace, Retry-After, blocks)" "$(errors)" "[]"

# refresh_requested mid-traffic: 40 commands, a disconnect before the 15th and
# a story ingested meanwhile: every command answered, nothing posted twice.
story s-slk-6 "Compute story during the refresh" 60 90 &
spid=$!
r=$(C do burst '{"n": 40, "interval_ms": 25, "disconnect_at": 15, "reason": "refresh_requested", "texts": ["help", "compute", "top 7d"], "timeout": 10}')
wait $spid
expect_eq "every command during the refresh answered" "$(printf "%s\n" "$r" | field '["answered"]')" 40
expect_eq "commands used the old and the new socket" "$(printf "%s\n" "$r" | field '["sockets_used"]')" "[0, 1]"
check "old socket closed by the bot" C wait 's["sockets"][0]["closed_by"] == "client"' 5
check "refresh story posted" C wait "sum(1 for p in s['posts'] if p['channel'] == 'C0INFRA' and 'during the refresh' in p['text']) == 1" 5
sleep 1
expect_eq "refresh story posted once" "$(posts_of 'Compute story during the refresh')" 1
expect_eq "one new connection for the refresh" "$(C state 's["opens"]')" 2
expect_eq "no violations after the refresh" "$(errors)" "[]"

# A dropped socket: reconnect (fresh ticket) and carry on.
C do drop > /dev/null
check "reconnected after a drop" C wait 'len(s["sockets"]) == 3 and s["sockets"][2]["ready"]' 10
check "reconnect logged" wait_log "reconnecting in"
r=$(C slash compute U0USER C0GENERAL)
expect_eq "answering after the reconnect" "$(printf "%s\n" "$r" | field '["inline"]')" True

# The Web API answers after 5 s: acks never wait for it, even across a
# refresh whose apps.connections.open is slow too.
C config '{"rest_delay": 5}' > /dev/null
story s-slk-7 "Compute story posted while Slack is slow" 60 95
C do disconnect '{"reason": "warning"}' > /dev/null
n=0; while [ $n -lt 8 ]; do C do slash '{"text": "compute", "user": "U0USER", "channel": "C0GENERAL"}' > /dev/null; sleep 0.3; n=$((n + 1)); done
check "all commands acked while REST is slow" C wait "all(d['ack_ms'] is not None for e in s['envelopes'][-8:] for d in e['deliveries'])" 3
expect_eq "every ack under 3 s" "$(C state "max(d['ack_ms'] for e in s['envelopes'] for d in e['deliveries'] if d['ack_ms'] is not None) < 3000")" true
expect_eq "slow commands answered inline" "$(C state "all(e['deliveries'][0]['payload'] for e in s['envelopes'][-8:])")" true
check "slow post arrives" C wait "sum(1 for p in s['posts'] if p['channel'] == 'C0INFRA' and 'while Slack is slow' in p['text']) == 1" 10
check "new socket after the slow refresh" C wait 'len(s["sockets"]) == 4 and s["sockets"][3]["ready"]' 10
C config '{"rest_delay": 0}' > /dev/null
expect_eq "no violations with a slow Web API" "$(errors)" "[]"

# link_disabled: stop the plugin, say why, no reconnect loop.
opens=$(C state 's["opens"]')
C do disconnect '{"reason": "link_disabled"}' > /dev/null
check "link_disabled logged as down" wait_log "work: down: .*link_disabled"
sleep 2
expect_eq "no reconnect after link_disabled" "$(C state 's["opens"]')" "$opens"
expect_eq "socket closed after link_disabled" "$(C state 'sum(1 for x in s["sockets"] if x["open"])')" 0
expect_eq "no alert posted twice" "$(no_doubles)" true
stop_bot
expect_eq "daemon exits cleanly" "$brc" 0
expect_eq "nothing queued twice or left over" "$($A outbox --json | json 'sorted(set(r["status"] for r in j))')" "['failed', 'sent']"
expect_nomatch "tokens never logged" "$(cat $TMP/log)" "$APP|$BOT"
expect_eq "no violations in phase 1" "$(errors)" "[]"
stop_fake

# ---- phase 2: a slow core: empty ack within a second, reply via response_url ----
start_fake
write_config
start_bot AINEWS_REPLY_DELAY_MS=1500
check "ready (slow core)" C wait 'any(x["ready"] and x["open"] for x in s["sockets"])' 10
r=$(C slash compute U0USER C0GENERAL 8)
expect_eq "slow reply not inline" "$(printf "%s\n" "$r" | field '["inline"]')" False
check "empty ack within about a second" test "$(printf "%s\n" "$r" | field '["ack_ms"] < 1500')" = True
expect_match "reply arrived through response_url" "$(printf "%s\n" "$r" | field '["text"]')" "Nvidia unveils a data center GPU"
expect_eq "response_url reply is ephemeral" "$(printf "%s\n" "$r" | field '["response_type"]')" ephemeral
stop_bot
expect_eq "daemon exits cleanly (slow core)" "$brc" 0
expect_eq "no violations in phase 2" "$(errors)" "[]"

# ---- phase 3: a refused app token stops the plugin, no retry loop ----
C config '{"open_error": "invalid_auth"}' > /dev/null
write_config 127.0.0.1:0
mv $TMP/log $TMP/log12
start_bot
check "refused token logged as down" wait_log "work: down: apps.connections.open refused the app token: invalid_auth"
sleep 2
expect_eq "one apps.connections.open, no loop" "$(C state 's["opens"]')" 2
# ... and /healthz says why (when the web side is built in).
hport=$(grep -oE 'http: listening on 127\.0\.0\.1:[0-9]+' $TMP/log | head -n 1 | sed 's/.*://')
if [ -n "$hport" ]; then
	expect_match "healthz names the reason" "$($PY -c 'import sys, urllib.request, urllib.error
try: print(urllib.request.urlopen(sys.argv[1], timeout=5).read().decode())
except urllib.error.HTTPError as e: print(e.read().decode())' http://127.0.0.1:$hport/healthz)" \
		'"work: down: apps.connections.open refused the app token: invalid_auth'
fi
stop_bot
expect_eq "daemon exits cleanly (refused token)" "$brc" 0
stop_fake

# ---- phase 4: an unset token leaves Slack off, the rest runs ----
env -u SLACK_APP_TOKEN SLACK_BOT_TOKEN=$BOT $A run > /dev/null 2> $TMP/log4 &
bpid=$!
i=0; while ! grep -q "ainews running" $TMP/log4 && [ $i -lt 50 ]; do sleep 0.1; i=$((i + 1)); done
expect_match "unset token reported" "$(cat $TMP/log4)" "work: not started: SLACK_APP_TOKEN is not set"
kill -TERM $bpid; wait $bpid
expect_eq "runs and stops without Slack" "$?" 0

# ---- phase 4b: no usable libcurl (a stand-in without its functions first
# on the library path): start-up fails with a line that says so ----
mkdir -p $TMP/nocurl
echo 'int not_curl(void) { return 0; }' > $TMP/nocurl/d.c
if ${CC:-cc} -shared -fPIC -o $TMP/nocurl/libcurl.so.4 $TMP/nocurl/d.c; then
	env SLACK_APP_TOKEN=$APP SLACK_BOT_TOKEN=$BOT LD_LIBRARY_PATH=$TMP/nocurl timeout 20 $A run > /dev/null 2> $TMP/log4b
	expect_eq "no libcurl: start-up fails" "$?" 1
	expect_match "no libcurl: says why" "$(cat $TMP/log4b)" "libcurl.so.4 has no curl_global_init"
else
	check "a C compiler for the libcurl stand-in" false
fi

# ---- phase 5: wss:// with TLS, SNI and a host name to resolve ----
if command -v openssl > /dev/null 2>&1; then
	o=$TMP/tls
	. tests/tls_certs.sh
	make_test_certs $o "ainews e2e CA"
	start_fake --tls-cert $o/srv.pem --tls-key $o/srv.key
	write_config
	C config '{"wss": true}' > /dev/null
	start_bot SSL_CERT_FILE=$o/ca.pem
	check "wss:// socket ready" C wait 'any(x["ready"] and x["open"] for x in s["sockets"])' 10
	r=$(C slash compute U0USER C0GENERAL)
	expect_eq "answering over TLS" "$(printf "%s\n" "$r" | field '["inline"]')" True
	stop_bot
expect_eq "daemon exits cleanly (TLS)" "$brc" 0
	expect_eq "no violations over TLS" "$(errors)" "[]"

	# The same with the CA in a hashed directory (how /etc/ssl/certs is
	# read by default: certificate by certificate), and the Web API over
	# HTTPS too, so both TLS clients verify through it.
	mkdir -p $o/certs
	cp $o/ca.pem $o/certs/
	openssl rehash $o/certs > /dev/null 2>&1 || c_rehash $o/certs > /dev/null 2>&1
	API_BASE="https://localhost:$TLSPORT/api/" write_config
	# With a short REST idle time: the HTTP helper process (which alone
	# holds libcurl) ends between posts and starts again for the next one
	# (the default waits 30 s).
	# The daemon runs from a copy that is deleted once it is up, as when a
	# package upgrade or a rebuild replaces the file: later helpers still
	# start (from the executable the daemon holds open).
	cp $BIN $TMP/ainews-copy
	# the same fake: the first TLS daemon's socket (ready once) must be
	# seen closed, or the wait below could stop on it
	check "the first TLS daemon's socket closed" C wait 'not any(x["open"] for x in s["sockets"])' 10
	RUN_BIN=$TMP/ainews-copy start_bot SSL_CERT_FILE= SSL_CERT_DIR=$o/certs AINEWS_REST_IDLE_MS=700
	check "wss:// ready, CA from a hashed directory" C wait 'any(x["ready"] and x["open"] for x in s["sockets"])' 10
	rm -f $TMP/ainews-copy
	expect_match "the daemon runs from the deleted copy" "$(readlink /proc/$bpid/exe)" "ainews-copy .deleted.$"
	r=$(C slash compute U0USER C0GENERAL)
	expect_eq "answering over TLS (CA directory)" "$(printf "%s\n" "$r" | field '["inline"]')" True
	printf '{"id": "tls-1", "title": {"en": "GPU data center compute deal over TLS"}, "scores": {"hot": 70, "quality": 60, "impact": 80}}' > $TMP/tls-1.json
	$A ingest $TMP/tls-1.json > /dev/null 2>&1
	check "alert posted over HTTPS (CA directory)" C wait "any('over TLS' in (p['text'] or '') for p in s['posts'])" 10
	# the daemon's children: the helper while it runs, nothing once idle
	kids() { cat /proc/$bpid/task/*/children 2>/dev/null | tr -d ' \n'; }
	helper_gone() { i=0; while [ -n "$(kids)" ] && [ $i -lt 50 ]; do sleep 0.1; i=$((i + 1)); done; [ -z "$(kids)" ]; }
	check "libcurl never in the daemon's process" sh -c "test -r /proc/$bpid/maps && ! grep -q libcurl /proc/$bpid/maps"
	check "HTTP helper ended when the Web API is idle" helper_gone
	r=$(C slash compute U0USER C0GENERAL)
	expect_eq "commands still answered (no HTTP helper)" "$(printf "%s\n" "$r" | field '["inline"]')" True
	printf '{"id": "tls-2", "title": {"en": "Second GPU compute deal after idle"}, "scores": {"hot": 70, "quality": 60, "impact": 80}}' > $TMP/tls-2.json
	$A ingest $TMP/tls-2.json > /dev/null 2>&1
	check "next alert posted by a new HTTP helper" C wait "any('after idle' in (p['text'] or '') for p in s['posts'])" 10
	check "helper ended again after that post" helper_gone
	check "libcurl still never in the daemon" sh -c "test -r /proc/$bpid/maps && ! grep -q libcurl /proc/$bpid/maps"
	expect_eq "each alert posted once" "$(C state "sum(1 for p in s['posts'] if 'over TLS' in (p['text'] or '') or 'after idle' in (p['text'] or ''))")" 2
	stop_bot
	expect_eq "no violations (CA directory)" "$(errors)" "[]"
	# a directory without this CA: the websocket is refused, nothing posted
	mkdir -p $o/empty
	cp /etc/ssl/certs/*.0 $o/empty/ 2>/dev/null
	n0=$(C state 'len(s["sockets"])')
	: > $TMP/log
	start_bot SSL_CERT_FILE= SSL_CERT_DIR=$o/empty
	sleep 2
	expect_eq "no socket without the CA" "$(C state 'len(s["sockets"])')" "$n0"
	expect_match "the certificate is refused" "$(cat $TMP/log)" "certificate"
	stop_bot
	stop_fake
fi

# ---- the background peer that stopped answering pings ----
i=0; while ! grep -q "dead peer" $TMP/dead.log && [ $i -lt 400 ]; do sleep 0.1; i=$((i + 1)); done
expect_match "dead peer detected by its missing pongs" "$(cat $TMP/dead.log)" "work: socket 0 lost: no answer to pings \(dead peer\)"
check "reconnected after the dead peer" $PY tests/slack_ctl.py $DPORT wait \
	'len(s["sockets"]) == 2 and s["sockets"][0]["pings"] >= 1 and s["sockets"][1]["ready"]' 10
expect_eq "no violations from the dead-peer daemon" "$($PY tests/slack_ctl.py $DPORT state 's["errors"]')" "[]"
kill -TERM $dbpid; wait $dbpid
expect_eq "dead-peer daemon exits cleanly" "$?" 0
kill $dfpid; wait $dfpid 2>/dev/null

check "no sanitizer reports" sh -c "! grep -q 'Sanitizer' $TMP/log12 $TMP/log $TMP/log4 $TMP/dead.log"
finish
