#!/bin/sh
# e2e_console — the daemon with the console plugin on a pipe: commands in,
# replies out; a file dropped into the inbox and a story ingested by a
# separate process both appear as alerts; SIGTERM stops cleanly.
. tests/lib.sh
WAIT_SECONDS=5
DB=$TMP/c.db
cat > $TMP/config.json <<JSON
{
  "store": {"path": "$DB"},
  "http": {"listen": "off"},
  "topics": "$ROOT/config/topics.json",
  "platforms": [{"type": "console", "name": "console"}],
  "sources": [{"type": "dir", "path": "$TMP/inbox"}],
  "rules": [{"platform": "console", "channel": "console", "expr": "hot >= 60 or impact >= 60"}],
  "admins": {"console": ["console"]}
}
JSON
A="$BIN --config $TMP/config.json"
$A ingest --no-alerts $SAMPLES >/dev/null 2>&1
mkfifo $TMP/in
$A run < $TMP/in > $TMP/out 2> $TMP/log &
pid=$!
exec 3> $TMP/in   # keep the daemon's stdin open

check "daemon ready" wait_for "console: ready" $TMP/log

echo "/ainews compute" >&3
check "compute lists sample 001" wait_for "Meta Signs AI Computing Power Agreement" $TMP/out
echo "/ainews 算力" >&3
echo "/ainews help" >&3
check "help answered" wait_for "subscribe" $TMP/out
echo "/ainews subscribe nvidia" >&3
check "subscribed" wait_for "nvidia" $TMP/out

# A story dropped into the inbox is ingested and alerted on the console.
cat > $TMP/story.json <<'JSON'
{"id": "s-inbox-1", "title": {"en": "Nvidia unveils a data center GPU with 2x compute", "zh": "英伟达发布新数据中心GPU"},
 "scores": {"hot": 91, "quality": 70, "impact": 80},
 "tldr": {"en": ["Nvidia's new GPU doubles compute per watt.", "Shipping next quarter."]}}
JSON
cp $TMP/story.json $TMP/inbox/.story.tmp && mv $TMP/inbox/.story.tmp $TMP/inbox/story.json
check "inbox alert on the channel" wait_for "── #console" $TMP/out
check "alert shows the title" wait_for "Nvidia unveils a data center GPU" $TMP/out
check "subscriber gets a DM" wait_for "── DM to console" $TMP/out
check "file moved to .done" wait_for "" $TMP/inbox/.done/story.json
# A story stored by another process (cron) reaches the console within a second.
printf '{"id": "s-cron-1", "title": "Separate process story about chips", "scores": {"hot": 75}}' > $TMP/cron.json
$A ingest $TMP/cron.json >/dev/null 2>&1
check "cross-process alert within a second" wait_for "Separate process story about chips" $TMP/out 2
# A bad file is moved aside and logged, the daemon keeps going.
printf '\000\001binary' > $TMP/inbox/bad.bin
check "bad inbox file rejected" wait_for "" $TMP/inbox/.rejected/bad.bin
check "rejection logged" wait_for "bad.bin: .*binary data" $TMP/log
echo "/ainews story s-inbox-1" >&3
check "story card" wait_for "Shipping next quarter" $TMP/out

kill -TERM $pid
i=0; while kill -0 $pid 2>/dev/null && [ $i -lt 50 ]; do sleep 0.1; i=$((i + 1)); done
check "stopped on SIGTERM" sh -c "! kill -0 $pid 2>/dev/null"
wait $pid; rc=$?
expect_eq "clean exit status" "$rc" 0
exec 3>&-
expect_eq "everything sent exactly once" "$($A outbox --json | json 'len(set((r["story_id"], r["target_kind"], r["target"]) for r in j)) == len(j) and all(r["status"] == "sent" for r in j)')" True
expect_eq "three alerts (two channel, one DM)" "$($A outbox --json | json 'len(j)')" 3
check "no sanitizer reports" sh -c "! grep -q 'Sanitizer' $TMP/log"
# End of input stops the daemon cleanly (`make run`: Ctrl-D).
out=$(echo "/ainews topics" | timeout 20 $A run 2>/dev/null); rc=$?
expect_eq "exits at end of input" "$rc" 0
expect_match "answered before exiting" "$out" "^Topics \(21\)"
finish
