#!/usr/bin/env bash
# Runs every benchmark of the bench module COUNT times (default 6, the fewest for which benchstat gives a confidence interval), then
# regenerates README.md's results section and overhead.svg from that one
# run. Takes about 8 minutes on a 2-core machine; the raw output and
# benchstat's summary are kept in results/.
#
#   scripts/run.sh                     # everything, -count=5
#   COUNT=10 BENCH=Invocation scripts/run.sh
set -euo pipefail
cd "$(dirname "$0")/.."

count=${COUNT:-6}
bench=${BENCH:-.}
benchstat=golang.org/x/perf/cmd/benchstat@v0.0.0-20260908200009-22c9c6c9d4da

mkdir -p results
go test -run='^$' -bench="$bench" -count="$count" -timeout=60m . | tee results/raw.txt
go run "$benchstat" results/raw.txt > results/benchstat.txt
go run ./cmd/report -raw results/raw.txt -benchstat results/benchstat.txt -readme README.md -svg overhead.svg
echo "wrote README.md and overhead.svg" >&2
