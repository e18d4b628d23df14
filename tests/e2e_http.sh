#!/bin/sh
# e2e_http — the daemon's web side through curl: every route with its
# status codes and headers, the webhook (auth, size limits, a batch with a
# bad story, JSON Lines) feeding the normal pipeline up to a console alert,
# /healthz (ok, then 503 for a stuck outbox), /metrics, the server turned
# off, and a clean SIGTERM with a connection still open. Ends with the
# headless-Chromium test (tests/browser_test.sh), whose counts it adds.
#
# The server binds port 0 and the test reads the port from the log line
# "http: listening on 127.0.0.1:PORT", so runs never collide on a port.
. tests/lib.sh
DB=$TMP/h.db
TOKEN=e2e-token-$$-0123456789
cat > $TMP/config.json <<JSON
{
  "store": {"path": "$DB"},
  "http": {"listen": "127.0.0.1:0", "public_url": "http://ainews.test", "ingest_token_env": "AINEWS_E2E_TOKEN"},
  "topics": "$ROOT/config/topics.json",
  "platforms": [{"type": "console", "name": "console"}],
  "sources": [],
  "rules": [{"platform": "console", "channel": "console", "expr": "hot >= 80"}],
  "admins": {"console": ["console"]}
}
JSON
A="$BIN --config $TMP/config.json"
$A ingest --no-alerts $SAMPLES >/dev/null 2>&1
ID1=$($A list --json | json '[s["id"] for s in j if s["scores"]["hot"]==70][0]')
ID0=$($A list --json | json '[s["id"] for s in j if s["scores"]["hot"]==65][0]')

port_of() { grep -oE 'http: listening on 127\.0\.0\.1:[0-9]+' "$1" | head -n 1 | sed 's/.*://'; }

mkfifo $TMP/in
AINEWS_E2E_TOKEN=$TOKEN $A run < $TMP/in > $TMP/out 2> $TMP/log &
pid=$!
exec 3> $TMP/in
check "daemon ready" wait_for "console: ready" $TMP/log
check "server listening" wait_for "http: listening on 127.0.0.1:[0-9]+" $TMP/log
U=http://127.0.0.1:$(port_of $TMP/log)

# get URL -> $TMP/h (headers, lower-cased) and $TMP/b (body); prints the status
get() {
	curl -s -D $TMP/h.raw -o $TMP/b "$@"
	tr 'A-Z' 'a-z' < $TMP/h.raw | tr -d '\r' > $TMP/h
	head -n 1 $TMP/h | cut -d' ' -f2
}
hdr() { grep -i "^$1:" $TMP/h | head -n 1 | cut -d' ' -f2- ; }
CSP="default-src 'none'; style-src 'unsafe-inline'; img-src data:; base-uri 'none'; form-action 'none'; frame-ancestors 'none'"
html_headers() { # every HTML response carries the same security headers
	expect_eq "$1: content type" "$(hdr content-type)" "text/html; charset=utf-8"
	expect_eq "$1: nosniff" "$(hdr x-content-type-options)" "nosniff"
	expect_eq "$1: CSP" "$(hdr content-security-policy)" "$CSP"
	expect_eq "$1: referrer policy" "$(hdr referrer-policy)" "no-referrer"
}

# ---- pages
expect_eq "story page 200" "$(get $U/s/$ID1)" 200
html_headers "story"
expect_eq "story cache" "$(hdr cache-control)" "public, max-age=60"
expect_eq "content-length matches" "$(hdr content-length)" "$(wc -c < $TMP/b | tr -d ' ')"
body=$(cat $TMP/b)
expect_match "English title" "$body" '<div class="col" lang="en"><p class="kicker">ENGLISH</p><h1>Meta Signs AI Computing Power Agreement'
expect_match "Chinese title" "$body" '<div class="col" lang="zh"><p class="kicker">中文</p><h1>Meta或同数据中心公司Crusoe签署AI算力协议</h1>'
expect_match "scores" "$body" '<span class="num">70</span>Hot <span lang="zh">热度</span>'
expect_match "TL;DR" "$body" '<h2>TL;DR</h2>'
expect_match "FAQ in Chinese" "$body" '<h2>常见问题</h2>'
expect_match "revision history" "$body" 'Revision history'
expect_nomatch "no script" "$body" '<script'
expect_eq "?lang=en 200" "$(get "$U/s/$ID1?lang=en")" 200
expect_nomatch "?lang=en has no 中文 column" "$(cat $TMP/b)" '<div class="col" lang="zh">'
expect_eq "?lang=zh 200" "$(get "$U/s/$ID1?lang=zh")" 200
expect_match "?lang=zh page language" "$(cat $TMP/b)" '<html lang="zh">'
expect_nomatch "?lang=zh has no English column" "$(cat $TMP/b)" '<div class="col" lang="en">'
expect_eq "?rev=1 200" "$(get "$U/s/$ID1?rev=1")" 200
expect_eq "?rev=9 404" "$(get "$U/s/$ID1?rev=9")" 404
expect_eq "HEAD story 200" "$(curl -s -I -o /dev/null -w '%{http_code}' $U/s/$ID1)" 200

expect_eq "story JSON 200" "$(get $U/s/$ID0.json)" 200
expect_eq "json content type" "$(hdr content-type)" "application/json; charset=utf-8"
expect_eq "json nosniff" "$(hdr x-content-type-options)" "nosniff"
expect_eq "json cache" "$(hdr cache-control)" "public, max-age=60"
expect_eq "json is the story" "$(json '(j["id"], j["analysis_url"])' < $TMP/b)" "('$ID0', 'http://ainews.test/s/$ID0')"

expect_eq "unknown id 404" "$(get $U/s/s-000000000000)" 404
html_headers "404"
expect_eq "404 not cached" "$(hdr cache-control)" "no-store"
expect_match "404 page" "$(cat $TMP/b)" '404 Not found'
expect_eq "unknown id JSON 404" "$(get $U/s/s-000000000000.json)" 404
expect_eq "JSON 404 body" "$(json 'j["error"]' < $TMP/b)" "no such story"
expect_eq "unknown path 404" "$(get $U/wp-admin.php)" 404

expect_eq "index 200" "$(get $U/)" 200
html_headers "index"
expect_eq "index lists the samples" "$(grep -c '<li><article>' $TMP/b)" 3
expect_eq "?topic=compute 200" "$(get "$U/?topic=compute")" 200
expect_eq "compute lists two" "$(grep -c '<li><article>' $TMP/b)" 2
expect_eq "?topic=unknown 404" "$(get "$U/?topic=nope")" 404
expect_eq "?entity=meta 200" "$(get "$U/?entity=meta")" 200
expect_eq "POST on a page 405" "$(get -X POST -d x $U/s/$ID1)" 405
expect_eq "Allow header" "$(hdr allow)" "get, head"

# ---- the webhook
POST="curl -s -o $TMP/b -w %{http_code} -X POST $U/api/stories"
cat > $TMP/good.json <<'JSON'
{"id": "s-hook-1", "title": {"en": "Webhook: Nvidia ships a GPU for data centers", "zh": "英伟达发布数据中心GPU"},
 "scores": {"hot": 91, "quality": 70, "impact": 80}, "tldr": {"en": ["Shipping next quarter."]}}
JSON
expect_eq "no token 401" "$($POST --data-binary @$TMP/good.json)" 401
expect_eq "401 says why" "$(json 'j["error"]' < $TMP/b)" "missing or wrong bearer token"
expect_eq "wrong token 401" "$($POST -H "Authorization: Bearer nope" --data-binary @$TMP/good.json)" 401
expect_eq "token prefix 401" "$($POST -H "Authorization: Bearer ${TOKEN%??}" --data-binary @$TMP/good.json)" 401
expect_eq "token as Basic 401" "$($POST -H "Authorization: Basic $TOKEN" --data-binary @$TMP/good.json)" 401
expect_eq "GET on the webhook 405" "$(get $U/api/stories)" 405
AUTH="Authorization: Bearer $TOKEN"
expect_eq "good story 202" "$($POST -H "$AUTH" -H 'Content-Type: application/json' --data-binary @$TMP/good.json)" 202
expect_eq "stored id" "$(json '(j["ids"], j["stories"][0]["result"], j["stories"][0]["alerts"])' < $TMP/b)" "(['s-hook-1'], 'new', 1)"
check "webhook story alerted on the console" wait_for "Webhook: Nvidia ships a GPU for data centers" $TMP/out
check "alert links the analysis page" wait_for "http://ainews.test/s/s-hook-1\?lang=en" $TMP/out
expect_eq "story page of the webhook story" "$(get $U/s/s-hook-1)" 200
expect_eq "same story again 202" "$($POST -H "$AUTH" --data-binary @$TMP/good.json)" 202
expect_eq "unchanged" "$(json 'j["unchanged"]' < $TMP/b)" 1

printf '[{"id": "s-hook-2", "title": "Second webhook story"}, {"id": "s-hook-3", "scores": {"hot": "high"}}, 7]' > $TMP/batch.json
expect_eq "batch with bad stories 400" "$($POST -H "$AUTH" --data-binary @$TMP/batch.json)" 400
expect_eq "good one kept and reported" "$(json '(j["ids"], j["accepted"], j["rejected"])' < $TMP/b)" "(['s-hook-2'], 1, 2)"
expect_eq "errors name their JSON path" "$(json '[e["where"] for e in j["errors"]]' < $TMP/b)" "['\$[1].scores.hot', '\$[2]']"
expect_eq "kept story served" "$(get $U/s/s-hook-2.json)" 200
expect_eq "bad story not stored" "$(get $U/s/s-hook-3.json)" 404

printf '{"id": "s-hook-4", "title": "JSON Lines one"}\n{"id": "s-hook-5", "title": "JSON Lines two"}\n' > $TMP/lines.jsonl
expect_eq "JSON Lines 202" "$($POST -H "$AUTH" -H 'Content-Type: application/x-ndjson' --data-binary @$TMP/lines.jsonl)" 202
expect_eq "two stored" "$(json 'j["ids"]' < $TMP/b)" "['s-hook-4', 's-hook-5']"
expect_eq "not JSON 400" "$($POST -H "$AUTH" --data-binary '{oops')" 400
expect_eq "empty body 400" "$($POST -H "$AUTH" -H 'Content-Length: 0')" 400
expect_eq "chunked (no length) 411" "$($POST -H "$AUTH" -H 'Transfer-Encoding: chunked' --data-binary @$TMP/good.json)" 411
$PY -c "import sys; sys.stdout.write('[' + ' ' * (5 * 1024 * 1024) + ']')" > $TMP/big.json
expect_eq "over 5 MB 413" "$($POST -H "$AUTH" --data-binary @$TMP/big.json)" 413
expect_eq "413 says why" "$(json 'j["error"]' < $TMP/b)" "body over 5 MB"
# ... also when the client streams the body without waiting (no Expect: 100-continue)
expect_eq "over 5 MB streamed 413" "$($POST -H "$AUTH" -H 'Expect:' --data-binary @$TMP/big.json)" 413
expect_eq "over 5 MB without a token is 401" "$($POST --data-binary @$TMP/big.json)" 401
# ... and such a client gets its answer every time: the server reads and
# drops the body, then closes (a close with the body unread resets the
# connection, and curl then reports no status at all)
for i in 1 2 3 4 5 6 7 8; do $POST -H "$AUTH" -H 'Expect:' --data-binary @$TMP/big.json; echo; done > $TMP/codes
expect_eq "over 5 MB streamed, 8 times: 413 each time" "$(sort $TMP/codes | uniq -c | tr -s ' ')" " 8 413"
# the answer comes before the body; the close once the body is in (not a
# reset, and not a wait for a timeout)
expect_eq "early answer, body read and dropped, then closed" "$($PY - "${U##*:}" "$TOKEN" <<'PY'
import socket, sys, time
s = socket.create_connection(("127.0.0.1", int(sys.argv[1])), timeout=30)
n = 6 * 1024 * 1024
s.sendall(b"POST /api/stories HTTP/1.1\r\nHost: t\r\nAuthorization: Bearer " + sys.argv[2].encode()
          + b"\r\nContent-Length: %d\r\n\r\n" % n)
data = s.recv(65536)  # the answer, with no body sent yet
early = data.startswith(b"HTTP/1.1 413")
t0 = time.time()
sent = 0
while sent < n:
    sent += s.send(b" " * min(65536, n - sent))
while True:
    b = s.recv(65536)
    if not b:
        break
    data += b
print(early, data.split(b"\r\n", 1)[0].decode(), b"connection: close" in data.lower(), time.time() - t0 < 5)
PY
)" "True HTTP/1.1 413 Request Entity Too Large True True"
expect_eq "api headers: no-store" "$(curl -s -D - -o /dev/null -X POST $U/api/stories -d x | tr -d '\r' | grep -i '^cache-control:' | cut -d' ' -f2)" "no-store"

# ---- health and metrics
echo "/ainews compute" >&3
check "command answered" wait_for "Meta Signs AI Computing Power Agreement" $TMP/out
expect_eq "healthz 200" "$(get $U/healthz)" 200
expect_eq "healthz content type" "$(hdr content-type)" "application/json; charset=utf-8"
expect_eq "healthz no-store" "$(hdr cache-control)" "no-store"
expect_eq "healthz nosniff" "$(hdr x-content-type-options)" "nosniff"
expect_eq "healthz body" "$(json '(j["status"], [(p["name"], p["state"]) for p in j["platforms"]], j["outbox"]["stuck"], j["problems"])' < $TMP/b)" \
	"('ok', [('console', 'ready')], False, [])"
expect_match "last ingest set by the webhook" "$(json 'j["last_ingest"]' < $TMP/b)" '^20[0-9]{2}-[0-9]{2}-[0-9]{2}T'
expect_eq "metrics 200" "$(get $U/metrics)" 200
expect_eq "metrics content type" "$(hdr content-type)" "text/plain; version=0.0.4; charset=utf-8"
expect_eq "metrics no-store" "$(hdr cache-control)" "no-store"
m=$(cat $TMP/b)
expect_match "webhook stories counted" "$m" '^ainews_stories_ingested_total\{via="webhook"\} 4$'
expect_match "alert sent counted" "$m" '^ainews_alerts_sent_total\{platform="console"\} [1-9]'
expect_match "no failures" "$m" '^ainews_alerts_failed_total\{platform="console",kind="permanent"\} 0$'
expect_match "platform up" "$m" '^ainews_platform_up\{platform="console"\} 1$'
expect_match "reconnects series" "$m" '^ainews_websocket_reconnects_total\{platform="console"\} 0$'
expect_match "outbox depth" "$m" '^ainews_outbox_depth [0-9]+$'
expect_match "command latency histogram" "$m" '^ainews_command_duration_seconds_count\{platform="console"\} 1$'
expect_match "histogram +Inf bucket" "$m" '^ainews_command_duration_seconds_bucket\{platform="console",le="\+Inf"\} 1$'
expect_match "http requests by route and code" "$m" '^ainews_http_requests_total\{route="api_stories",code="401"\} [4-9]$'
expect_match "story pages counted" "$m" '^ainews_http_requests_total\{route="story",code="200"\} [4-9]$'
expect_nomatch "the token never appears in metrics" "$m" "$TOKEN"

# ---- SIGTERM with an idle keep-alive connection open: clean exit
$PY - "$(port_of $TMP/log)" > $TMP/idle.out 2>&1 <<'PY' &
import socket, sys, time
s = socket.create_connection(("127.0.0.1", int(sys.argv[1])), timeout=20)
s.sendall(b"GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n")
data = b""
while b"\r\n\r\n" not in data:
    data += s.recv(4096)
head, body = data.split(b"\r\n\r\n", 1)
length = int([l for l in head.split(b"\r\n") if l.lower().startswith(b"content-length:")][0].split(b":")[1])
while len(body) < length:
    body += s.recv(4096)
print("held", head.split(b"\r\n")[0].decode())
sys.stdout.flush()
try:
    print("closed", repr(s.recv(4096)))  # returns b"" when the daemon closes
except OSError as e:
    print("error", e)
PY
idle=$!
check "idle connection held" wait_for "held HTTP/1.1 200" $TMP/idle.out
kill -TERM $pid
i=0; while kill -0 $pid 2>/dev/null && [ $i -lt 100 ]; do sleep 0.1; i=$((i + 1)); done
check "stopped on SIGTERM" sh -c "! kill -0 $pid 2>/dev/null"
wait $pid; rc=$?
expect_eq "clean exit status" "$rc" 0
exec 3>&-
wait $idle
check "idle connection closed by the daemon" grep -q "closed b''" $TMP/idle.out
check "no sanitizer reports" sh -c "! grep -q 'Sanitizer' $TMP/log"
check "the token never reaches the log" sh -c "! grep -qF '$TOKEN' $TMP/log"

# ---- webhook disabled, outbox stuck -> 503; the server off
cat > $TMP/config2.json <<JSON
{
  "store": {"path": "$DB"},
  "http": {"listen": "127.0.0.1:0", "ingest_token_env": "AINEWS_E2E_UNSET_TOKEN"},
  "topics": "$ROOT/config/topics.json",
  "platforms": [{"type": "discord", "name": "ghost", "token_env": "AINEWS_E2E_UNSET_TOKEN"}],
  "sources": [],
  "rules": [{"platform": "ghost", "channel": "C1", "expr": "hot >= 90"}]
}
JSON
B="$BIN --config $TMP/config2.json"
printf '{"id": "s-ghost-1", "title": "For a platform that never connects", "scores": {"hot": 95}}' | $B ingest - >/dev/null 2>&1
# The row for "ghost" has waited an hour: the outbox is stuck.
sqlite3 $DB "UPDATE outbox SET created_at = created_at - 3600 WHERE platform = 'ghost'"
env -u AINEWS_E2E_UNSET_TOKEN $B run > $TMP/out2 2> $TMP/log2 &
pid2=$!
check "second daemon listening" wait_for "http: listening on 127.0.0.1:[0-9]+.*webhook disabled" $TMP/log2
U2=http://127.0.0.1:$(port_of $TMP/log2)
expect_eq "disabled webhook 503" "$(curl -s -o $TMP/b -w '%{http_code}' -X POST -H "$AUTH" --data-binary @$TMP/good.json $U2/api/stories)" 503
expect_eq "503 names the variable" "$(json 'j["error"]' < $TMP/b)" "webhook disabled: set AINEWS_E2E_UNSET_TOKEN"
expect_eq "stuck outbox 503" "$(get $U2/healthz)" 503
expect_eq "stuck outbox reported" "$(json '(j["status"], j["outbox"]["stuck"], j["outbox"]["oldest_queued_age_s"] >= 3600, len(j["problems"]))' < $TMP/b)" \
	"('unhealthy', True, True, 1)"
expect_match "queued per platform" "$(curl -s $U2/metrics)" 'ainews_alerts_queued\{platform="ghost"\} 1'
kill -TERM $pid2
wait $pid2; rc=$?
expect_eq "second daemon clean exit" "$rc" 0
check "no sanitizer reports (2)" sh -c "! grep -q 'Sanitizer' $TMP/log2"

sed 's/"127.0.0.1:0"/"off"/' $TMP/config2.json > $TMP/config3.json
$BIN --config $TMP/config3.json run > /dev/null 2> $TMP/log3 &
pid3=$!
check "server off by config" wait_for 'http: off' $TMP/log3
kill -TERM $pid3
wait $pid3; rc=$?
expect_eq "third daemon clean exit" "$rc" 0

# ---- the browser test (its own daemon), counted here
if [ -z "${AINEWS_NO_BROWSER:-}" ]; then
	sh tests/browser_test.sh > $TMP/browser.out 2>&1
	grep -E '^not ok|^     |^    want|^skip' $TMP/browser.out
	line=$(grep -E '^[0-9]+ passed, [0-9]+ failed' $TMP/browser.out | tail -n 1)
	if [ -n "$line" ]; then
		T_PASS=$((T_PASS + ${line%% passed*}))
		f=${line#*passed, }; T_FAIL=$((T_FAIL + ${f%% failed*}))
	else
		tail -n 20 $TMP/browser.out
		T_FAIL=$((T_FAIL + 1)); echo "not ok - browser test gave no result line"
	fi
fi
finish
