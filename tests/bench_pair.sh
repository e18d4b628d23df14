#!/bin/sh
# bench_pair — compare two builds of bench_ingest on this VM by interleaving
# their runs (A, B, A, B...): the host's load drifts over minutes, so runs
# taken apart compare the minutes more than the builds. Prints each run's
# figures, the averages, and the paired difference with its standard
# error. Not a test; not part of `make bench`.
#   sh tests/bench_pair.sh OLD_BIN NEW_BIN [ROUNDS]   (from the repository root)
# Each run: BENCH_INGEST_ONLY, BENCH_STORIES (default 20000) stories, on
# one CPU (bench_ingest pins itself; BENCH_ANY_CPU=1 in the environment
# leaves both builds free; a build from before stop 21 does not pin itself:
# give it as a script that runs it under taskset -c N).
set -u
[ $# -ge 2 ] || { echo "usage: $0 OLD_BIN NEW_BIN [ROUNDS]" >&2; exit 2; }
A=$1 B=$2 R=${3:-6}
runs=$(mktemp -t bench_pair.XXXXXX)
trap 'rm -f "$runs"' EXIT
for _ in $(seq "$R"); do
	for bin in "$A" "$B"; do
		BENCH_INGEST_ONLY=1 BENCH_STORIES=${BENCH_STORIES:-20000} BENCH_NO_STAGES=1 "$bin" 2>/dev/null |
			awk -v name="$bin" '
				/^ingest.stories_per_s / {s = $2} /^ingest.cpu_us_per_story / {c = $2}
				/^ingest.kernel_us_per_story / {k = $2} /^host.steal_pct / {st = $2}
				END {printf "%s stories/s %s cpu_us %s kernel_us %s steal_pct %s\n", name, s, c, k, st}' |
			tee -a "$runs"
	done
done
awk '{n[$1]++; s[$1] += $3; c[$1] += $5}
     END {for (b in n) printf "average %s: %.0f stories/s, %.1f us CPU a story (%d runs)\n", b, s[b] / n[b], c[b] / n[b], n[b]}' "$runs"
# Paired: each B run against the A run just before it. On this VM one
# run moves +-20%, so the mean difference means little without its
# standard error.
awk -v a="$A" -v b="$B" '$1 == a {sa = $3; ca = $5; next}
	$1 == b {d = $3 - sa; dc = $5 - ca; n++; sd += d; sdd += d * d; sc += dc; if (d > 0) w++; if (dc < 0) l++}
	END {if (n < 2) exit; m = sd / n; v = (sdd - n * m * m) / (n - 1);
	     printf "paired (%d): B - A = %+.0f stories/s (standard error %.0f), %+.1f us CPU a story; B faster in %d, less CPU in %d\n",
		    n, m, sqrt(v / n), sc / n, w, l}' "$runs"
