#!/bin/sh
# e2e_ingest — `ainews ingest/show/list/search/outbox` on the real samples and
# on every kind of bad input, through the real binary.
. tests/lib.sh
DB=$TMP/a.db
A="$BIN --db $DB"

out=$($A ingest $SAMPLES 2>&1); rc=$?
expect_eq "samples ingest exit 0" "$rc" 0
expect_eq "three stored" "$(printf '%s\n' "$out" | grep -c 'stored (revision 1')" 3
out=$($A ingest $SAMPLES 2>&1); rc=$?
expect_eq "re-ingest exit 0" "$rc" 0
expect_eq "re-ingest is a no-op" "$(printf '%s\n' "$out" | grep -c 'unchanged (revision 1)')" 3

ID1=$($A list --json | json '[s["id"] for s in j if s["scores"]["hot"]==70][0]')
ID0=$($A list --json | json '[s["id"] for s in j if s["scores"]["hot"]==65][0]')
ID2=$($A list --json | json '[s["id"] for s in j if s["scores"]["hot"] is None][0]')
expect_match "ids" "$ID1 $ID0 $ID2" '^s-[0-9a-f]{12} s-[0-9a-f]{12} s-[0-9a-f]{12}$'
show=$($A show --json $ID1)
expect_eq "scores" "$(printf "%s" "$show" | json '(j["scores"]["hot"], j["scores"]["quality"], j["scores"]["impact"])')" "(70, 65, 70)"
expect_eq "en title" "$(printf "%s" "$show" | json 'j["title"]["en"]')" "Meta Signs AI Computing Power Agreement with Data Center Company Crusoe"
expect_eq "zh title" "$(printf "%s" "$show" | json 'j["title"]["zh"]')" "Meta或同数据中心公司Crusoe签署AI算力协议"
expect_eq "tldr counts" "$(printf "%s" "$show" | json 'len(j["tldr"]["en"]), len(j["tldr"]["zh"])')" "5 3"
expect_eq "tags" "$(printf "%s" "$show" | json '" ".join(t["en"]+"/"+t["zh"] for t in j["tags"])')" "LLM/大模型 Security/安全 Regulation/监管"
expect_eq "revision" "$(printf "%s" "$show" | json 'j["revision"]')" 1
expect_eq "analysis_url" "$(printf "%s" "$show" | json 'j["analysis_url"]')" "http://127.0.0.1:8080/s/$ID1"
expect_eq "design keys" "$(printf "%s" "$show" | json '",".join(j.keys())')" \
	"id,source,url,url_zh,lang,title,summary,scores,tldr,key_data,analysis,insights,faq,tags,topics,entities,published_at,updated_at,revision,analysis_url"
expect_eq "article has null scores" "$($A show --json $ID2 | json 'j["scores"]')" "{'hot': None, 'quality': None, 'impact': None}"
expect_match "published_at resolved from '5h ago'" "$(printf "%s" "$show" | json 'j["published_at"]')" '^20[0-9]{2}-[0-9]{2}-[0-9]{2}T[0-9:]{8}Z$'
expect_eq "list is an array of 3" "$($A list --json | json 'len(j)')" 3
expect_eq "show unknown id fails" "$($A show nope >/dev/null 2>&1; echo $?)" 1

# Search: Chinese without spaces, both languages, case-insensitive English.
expect_match "search 算力 finds sample 001" "$($A search --json 算力 | json "[s[\"id\"] for s in j]")" "$ID1"
r=$($A search --json 人才 | json '" ".join(s["id"] for s in j)')
expect_match "search 人才 finds sample 000" "$r" "$ID0"
expect_match "search 人才 finds sample 002" "$r" "$ID2"
expect_eq "search META" "$($A search --json META crusoe | json '[s["id"] for s in j]')" "['$ID1']"
expect_eq "search Traditional 資料中心 finds Simplified 数据中心" "$($A search --json 資料中心 | json '[s["id"] for s in j]')" "['$ID1']"
expect_eq "search nothing" "$($A search --json zzzqqq | json 'len(j)')" 0

# A changed story becomes revision 2 with what changed; both revisions kept.
sed 's/^70$/88/' $SAMPLES/001_*.txt > $TMP/001-v2.txt
touch -r $SAMPLES/001_b7f92d73314365c7.txt $TMP/001-v2.txt
out=$($A ingest $TMP/001-v2.txt 2>&1)
expect_match "revision 2" "$out" "$ID1 revision 2 \(changed: scores"
expect_eq "scores now" "$($A show --json $ID1 | json 'j["scores"]["hot"], j["revision"]')" "88 2"
expect_eq "revisions kept" "$(sqlite3 $DB "select group_concat(revision||':'||changed, ' ') from revisions where story_id='$ID1'")" "1:new 2:scores"

# Bad input: one clear line each, exit 1, the good input next to it stored.
mkdir -p $TMP/mix
: > $TMP/mix/empty.txt
head -c 3000 /dev/urandom > $TMP/mix/junk.bin
printf 'AI News\nTitle \377\376 here\n' > $TMP/mix/badutf8.txt
printf '{"title": {"en": "Typed wrong"}, "scores": {"hot": "high"}}' > $TMP/mix/wrong.json
printf '[{"title": "Good one in a batch"}, {"title": {"en": 5}}]' > $TMP/mix/batch.json
printf '{"title": "JSONL good"}\n{"title": []}\n{"title": "JSONL good 2"}\n' > $TMP/mix/lines.jsonl
head -c 2500 $SAMPLES/001_*.txt > $TMP/mix/truncated.txt
truncate -s 50M $TMP/mix/huge.txt
cp $SAMPLES/002_*.txt $TMP/mix/good.txt
printf 'Plain English Article About Nvidia GPUs\n\nNvidia said it would ship new GPUs. Demand is high.\n' > $TMP/mix/english.txt
out=$($A ingest $TMP/mix 2>$TMP/err); rc=$?
err=$(cat $TMP/err)
expect_eq "mixed dir exits 1" "$rc" 1
expect_match "empty named" "$err" "empty.txt: empty input"
expect_match "binary named" "$err" "junk.bin: line [0-9]+: (binary data|invalid UTF-8)"
expect_match "bad utf8 named" "$err" "badutf8.txt: line 2: invalid UTF-8 at byte offset 14"
expect_match "wrong type JSON path" "$err" 'wrong.json: line 1: \$.scores.hot: expected an integer'
expect_match "batch element path" "$err" 'batch.json: \$\[1\].title.en: expected a string'
expect_match "jsonl line" "$err" 'lines.jsonl: line 2: \$.title'
expect_match "huge named" "$err" "huge.txt: file too large \(52428800 bytes"
expect_eq "one line per bad input" "$(printf '%s\n' "$err" | grep -c .)" 7
expect_match "batch good kept" "$out" "batch.json: \[0\]: s-[0-9a-f]+ stored"
expect_eq "jsonl good kept" "$(printf '%s\n' "$out" | grep -c 'lines.jsonl: line [13]: s-')" 2
expect_match "truncated export kept" "$out" "truncated.txt: s-[0-9a-f]+ (stored|unchanged|revision)"
expect_match "english article stored" "$out" "english.txt: s-[0-9a-f]+ stored"
expect_match "good sample unchanged" "$out" "good.txt: $ID2 unchanged"
expect_eq "stdin works" "$(printf '{"title": "From stdin"}' | $A ingest - | grep -c stored)" 1
expect_eq "no input is a usage error" "$($A ingest >/dev/null 2>&1; echo $?)" 2

# A new empty database file is migrated; a junk database is refused clearly.
: > $TMP/empty.db
expect_eq "empty db migrates" "$($BIN --db $TMP/empty.db list --json)" "[]"
expect_eq "user_version" "$(sqlite3 $TMP/empty.db 'pragma user_version')" 6
head -c 5000 /dev/urandom > $TMP/junk.db
check "junk db refused" sh -c "! $BIN --db $TMP/junk.db list"

# Kill -9 mid-ingest: no half-written story (one transaction per story).
$PY - > $TMP/many.jsonl <<'PYEOF'
import json
for i in range(3000):
    print(json.dumps({"id": "k-%d" % i, "title": {"en": "Story %d about compute" % i, "zh": "算力新闻%d" % i},
                      "scores": {"hot": i % 100, "quality": 50, "impact": 40},
                      "tldr": {"en": ["one", "two"]}, "analysis": {"en": "word " * 400}}))
PYEOF
$A ingest --no-alerts $TMP/many.jsonl >/dev/null 2>&1 &
pid=$!
i=0 # kill it once the first batches are committed, mid-way
while [ $i -lt 100 ] && [ "$(sqlite3 $DB "select count(*) from stories where id like 'k-%'" 2>/dev/null)" = 0 ]; do sleep 0.05; i=$((i + 1)); done
kill -9 $pid 2>/dev/null
wait $pid 2>/dev/null
n=$(sqlite3 $DB "select count(*) from stories where id like 'k-%'")
check "some stored before the kill ($n)" test "$n" -gt 0
check "killed mid-way ($n of 3000)" test "$n" -lt 3000
expect_eq "every story has its revision" "$(sqlite3 $DB "select count(*) from stories s where not exists (select 1 from revisions r where r.story_id = s.id and r.revision = s.revision)")" 0
# The index's held segments (store_bulk()) died with it: the claim names
# exactly the stories the written index lacks, and the next command that
# opens the store indexes them again.
expect_eq "index and claim cover every story" "$(sqlite3 $DB "select (select count(*) from stories) - (select coalesce(sum(ndocs), 0) from search_seg) + (select count(*) from search_dead) - (select count(*) from stories, (select coalesce((select value from meta where key = 'search_held'), '1 0') v) where rowid between cast(substr(v, 1, instr(v, ' ') - 1) as integer) and cast(substr(v, instr(v, ' ') + 1) as integer))")" 0
held=$(sqlite3 $DB "select count(*) from meta where key = 'search_held'")
$A list --limit 1 >/dev/null 2>$TMP/recover.err
# (a kill right after the sixteenth commit finds nothing held; the unit
# test in test_store.c always has a claim)
check "a claim left ($held) is redone, and says so" sh -c "[ $held = 0 ] || grep -q 're-indexing stories' $TMP/recover.err"
expect_eq "claim gone" "$(sqlite3 $DB "select count(*) from meta where key = 'search_held'")" 0
expect_eq "every story is indexed" "$(sqlite3 $DB "select (select count(*) from stories) - (select coalesce(sum(ndocs), 0) from search_seg) + (select count(*) from search_dead)")" 0
expect_eq "index covers the newest story" "$(sqlite3 $DB "select (select max(rowid) from stories) = (select max(max_doc) from search_seg)")" 1
expect_eq "the newest killed-run story is found" "$($A search --json "算力新闻$((n - 1))" | json "[s[\"id\"] for s in j]")" "['k-$((n - 1))']"
expect_eq "integrity" "$(sqlite3 $DB 'pragma integrity_check')" ok
out=$($A ingest --no-alerts $TMP/many.jsonl 2>&1)
expect_eq "re-run completes the rest" "$(sqlite3 $DB "select count(*) from stories where id like 'k-%'")" 3000
expect_eq "nothing duplicated" "$(sqlite3 $DB "select count(*) from revisions where story_id like 'k-%'")" 3000

finish
