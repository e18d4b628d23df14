# lib.sh — shared helpers for the shell end-to-end tests.
# Each test sources this, calls check/expect_* and ends with `finish`.
set -u
BIN=${AINEWS_BIN:-build/san/ainews}
case $BIN in /*) ;; *) BIN=$PWD/$BIN ;; esac
ROOT=$PWD
SAMPLES=$ROOT/tests/fixtures/samples
PY=/usr/bin/python3
T_PASS=0
T_FAIL=0
TMP=$(mktemp -d -t ainews-e2e.XXXXXX)
trap '[ -n "${KEEP_TMP:-}" ] || rm -rf "$TMP"' EXIT
export ASAN_OPTIONS=${ASAN_OPTIONS:-detect_leaks=1}

check() { # check "description" command...
	desc=$1; shift
	if "$@" >/dev/null 2>&1; then T_PASS=$((T_PASS + 1)); else T_FAIL=$((T_FAIL + 1)); echo "not ok - $desc"; fi
}
expect_eq() { # expect_eq "description" got want
	if [ "$2" = "$3" ]; then T_PASS=$((T_PASS + 1)); else
		T_FAIL=$((T_FAIL + 1)); echo "not ok - $1"; echo "     got: $2"; echo "    want: $3"; fi
}
expect_match() { # expect_match "description" text pattern (grep -E)
	if printf '%s\n' "$2" | grep -qE -- "$3"; then T_PASS=$((T_PASS + 1)); else
		T_FAIL=$((T_FAIL + 1)); echo "not ok - $1"; echo "     in: $(printf '%s' "$2" | head -c 600)"; echo "   want: /$3/"; fi
}
expect_nomatch() {
	if printf '%s\n' "$2" | grep -qE -- "$3"; then T_FAIL=$((T_FAIL + 1)); echo "not ok - $1"; echo "   found: /$3/"; else
		T_PASS=$((T_PASS + 1)); fi
}
wait_for() { # wait_for pattern file [seconds]: poll until grep -E finds it
	i=0; lim=$(( ${3:-$WAIT_SECONDS} * 10 ))
	while [ $i -lt $lim ]; do grep -qE -- "$1" "$2" 2>/dev/null && return 0; sleep 0.1; i=$((i + 1)); done
	return 1
}
WAIT_SECONDS=${WAIT_SECONDS:-10}
json() { # json 'python expression over j' < input
	$PY -c "import json,sys; j=json.load(sys.stdin); print($1)"
}
finish() {
	echo "$T_PASS passed, $T_FAIL failed"
	[ "$T_FAIL" = 0 ]
}
