#!/bin/sh
# browser_test — the analysis page in Debian's headless Chromium: sample 001
# at desktop (1280x900) and phone (390x844) widths, light and dark. From the
# rendered DOM: both languages present as lang="en"/lang="zh" columns, and a
# story titled <script>alert(1)</script> renders as text with no element
# made from it. From the screenshots (tests/browser_png.py finds each
# column's coloured rule): side by side on the desktop, stacked on the
# phone, text under both, a dark background when the browser prefers dark.
#
# Run alone (sh tests/browser_test.sh) or through tests/e2e_http.sh, which
# adds its counts. AINEWS_SCREENSHOTS=DIR keeps the PNGs for a human look.
. tests/lib.sh
CHROME=${CHROMIUM:-/usr/bin/chromium}
if [ ! -x "$CHROME" ]; then
	echo "not ok - $CHROME not found: run 'make deps' (Debian package chromium)"
	T_FAIL=1
	finish
	exit 1
fi
DB=$TMP/b.db
cat > $TMP/config.json <<JSON
{
  "store": {"path": "$DB"},
  "http": {"listen": "127.0.0.1:0", "public_url": "http://ainews.test"},
  "topics": "$ROOT/config/topics.json",
  "platforms": [], "sources": [], "rules": []
}
JSON
A="$BIN --config $TMP/config.json"
$A ingest --no-alerts $SAMPLES >/dev/null 2>&1
ID1=$($A list --json | json '[s["id"] for s in j if s["scores"]["hot"]==70][0]')
printf '%s' '{"id": "s-xss", "title": {"en": "<script>alert(1)</script>", "zh": "<img src=x onerror=alert(2)>标题"},
 "summary": {"en": "<b>not bold</b> <a href=\"javascript:alert(3)\">x</a>"}, "url": "javascript:alert(4)"}' |
	$A ingest --no-alerts - >/dev/null 2>&1
$A run > $TMP/out 2> $TMP/log &
pid=$!
i=0; while [ $i -lt 100 ] && ! grep -qE 'http: listening on 127\.0\.0\.1:[0-9]+' $TMP/log; do sleep 0.1; i=$((i + 1)); done
PORT=$(grep -oE 'http: listening on 127\.0\.0\.1:[0-9]+' $TMP/log | head -n 1 | sed 's/.*://')
check "server listening" test -n "$PORT"
U=http://127.0.0.1:$PORT

chrome() { # chrome OUTFLAG URL [more flags]: one headless run, its own profile
	out=$1; url=$2; shift 2
	rm -rf $TMP/chrome
	timeout 90 $CHROME --headless --no-sandbox --disable-gpu --disable-quic --no-first-run \
		--disable-background-networking --disable-component-update --disable-sync --disable-dev-shm-usage \
		--hide-scrollbars --user-data-dir=$TMP/chrome "$@" $out "$url" 2>> $TMP/chrome.log
}
png() { $PY tests/browser_png.py "$@"; }

# ---- the DOM as Chromium built it
chrome --dump-dom "$U/s/$ID1" --window-size=1280,900 > $TMP/dom.html
dom=$(cat $TMP/dom.html)
expect_match "English column in the DOM" "$dom" '<div class="col" lang="en"><p class="kicker">ENGLISH</p><h1>Meta Signs AI Computing Power Agreement with Data Center Company Crusoe</h1>'
expect_match "中文 column in the DOM" "$dom" '<div class="col" lang="zh"><p class="kicker">中文</p><h1>Meta或同数据中心公司Crusoe签署AI算力协议</h1>'
expect_eq "both languages in every section" "$(grep -o '<div class="col" lang="[a-z]*">' $TMP/dom.html | sort | uniq -c | tr -s ' ' | tr '\n' ';')" \
	" 6 <div class=\"col\" lang=\"en\">; 6 <div class=\"col\" lang=\"zh\">;"
expect_nomatch "no scripts in the DOM" "$dom" '<script'

chrome --dump-dom "$U/s/s-xss" --window-size=1280,900 > $TMP/xss.html
xss=$(cat $TMP/xss.html)
expect_match "script title rendered as text" "$xss" '<h1>&lt;script&gt;alert\(1\)&lt;/script&gt;</h1>'
expect_match "img title rendered as text" "$xss" '<h1>&lt;img src=x onerror=alert\(2\)&gt;标题</h1>'
expect_nomatch "no script element" "$xss" '<script'
expect_nomatch "no img element" "$xss" '<img'
expect_nomatch "no b element" "$xss" '<b>'
expect_nomatch "no javascript: link" "$xss" '<a [^>]*href="javascript'
expect_match "the page still rendered" "$xss" '</footer>'

# ---- the layout, from pixels
chrome --screenshot=$TMP/desktop.png "$U/s/$ID1" --window-size=1280,900
chrome --screenshot=$TMP/phone.png "$U/s/$ID1" --window-size=390,844
chrome --screenshot=$TMP/dark.png "$U/s/$ID1" --window-size=1280,900 --force-dark-mode
for f in desktop phone dark; do check "$f screenshot taken" test -s $TMP/$f.png; done
png $TMP/desktop.png > $TMP/desktop.json
png $TMP/phone.png > $TMP/phone.json
png $TMP/dark.png dark > $TMP/dark.json
d() { json "$1" < $TMP/desktop.json; }
p() { json "$1" < $TMP/phone.json; }
expect_eq "desktop size" "$(d 'j["size"]')" "[1280, 900]"
expect_eq "desktop: both columns on screen" "$(d 'bool(j["en"]["box"] and j["zh"]["box"])')" True
expect_eq "desktop: side by side (中文 right of English, same top)" \
	"$(d 'j["zh"]["box"][0] > j["en"]["box"][2] and abs(j["zh"]["box"][1] - j["en"]["box"][1]) <= 2')" True
expect_eq "desktop: columns of equal width" "$(d 'abs((j["zh"]["box"][2]-j["zh"]["box"][0]) - (j["en"]["box"][2]-j["en"]["box"][0])) <= 2')" True
expect_eq "desktop: text under both rules" "$(d 'j["en"]["text_below"] > 2000 and j["zh"]["text_below"] > 2000')" True
expect_eq "phone size" "$(p 'j["size"]')" "[390, 844]"
expect_eq "phone: both columns on screen" "$(p 'bool(j["en"]["box"] and j["zh"]["box"])')" True
expect_eq "phone: stacked (中文 below English, same left)" \
	"$(p 'j["zh"]["box"][1] > j["en"]["box"][3] + 100 and abs(j["zh"]["box"][0] - j["en"]["box"][0]) <= 2')" True
expect_eq "phone: a column fills the width" "$(p 'j["en"]["box"][2] - j["en"]["box"][0] > 300 and j["en"]["box"][2] < 390')" True
expect_eq "phone: text under both rules" "$(p 'j["en"]["text_below"] > 2000 and j["zh"]["text_below"] > 1000')" True
expect_eq "light background" "$(d 'sum(j["bg"]) > 700')" True
expect_eq "dark: dark background" "$(json 'sum(j["bg"]) < 150' < $TMP/dark.json)" True
expect_eq "dark: columns side by side, light text" \
	"$(json 'bool(j["en"]["box"] and j["zh"]["box"]) and j["zh"]["box"][0] > j["en"]["box"][2] and j["en"]["text_below"] > 2000' < $TMP/dark.json)" True
if [ -n "${AINEWS_SCREENSHOTS:-}" ]; then
	mkdir -p "$AINEWS_SCREENSHOTS" && cp $TMP/*.png "$AINEWS_SCREENSHOTS"/
fi

kill -TERM $pid
wait $pid; rc=$?
expect_eq "daemon clean exit" "$rc" 0
check "no sanitizer reports" sh -c "! grep -q 'Sanitizer' $TMP/log"
finish
