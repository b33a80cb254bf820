#!/usr/bin/env bash
# End-to-end timing of `micromarket analyze` on synth data: wall time, peak memory and bytes
# written per size, with the default outputs (FORMATS=csv,geojson,... chooses the cell layers).
#
#   benches/e2e.sh                 # 1,000,000 and 10,000,000 consumers
#   benches/e2e.sh 100000 1000000  # chosen sizes
#
# Data (seed 42, 20 cities) is generated once per size under target/bench-data/ and reused.
set -euo pipefail
cd "$(dirname "$0")/.."
sizes=("$@")
[ ${#sizes[@]} -gt 0 ] || sizes=(1000000 10000000)
command -v /usr/bin/time >/dev/null || { echo "needs GNU time (apt-get install -y time)" >&2; exit 1; }

cargo build --release --quiet
bin=target/release/micromarket
# Previous outputs are deleted only after the last run (see benches/real/run.sh).
mkdir -p target
aside=$(mktemp -d target/bench-out-old.XXXXXX)
trap 'rm -rf "$aside"' EXIT
formats=(${FORMATS:+--formats "$FORMATS"})
printf '%-12s %10s %12s %14s %12s\n' consumers wall_s peak_mb bytes_per_row written_mb
for n in "${sizes[@]}"; do
  data="target/bench-data/$n-20-cities"
  [ -f "$data/consumers.csv" ] || "$bin" -q synth --seed 42 --consumers "$n" --cities 20 --out "$data"
  log=$(mktemp)
  [ ! -e "target/bench-out/$n" ] || mv "target/bench-out/$n" "$(mktemp -d "$aside/$n.XXXXXX")"
  /usr/bin/time -v "$bin" -q analyze --consumers "$data/consumers.csv" \
    --regions "$data/regions.geojson" --cities "$data/cities.geojson" \
    --segments "$data/segments.toml" "${formats[@]}" --out "target/bench-out/$n" 2>"$log"
  wall=$(awk -F': ' '/Elapsed \(wall clock\)/ {print $2}' "$log" | awk -F: '{ if (NF==3) print $1*3600+$2*60+$3; else print $1*60+$2 }')
  peak_kb=$(awk -F': ' '/Maximum resident set size/ {print $2}' "$log")
  rm -f "$log"
  written=$(du -sb "target/bench-out/$n" | cut -f1)
  printf '%-12s %10.2f %12.0f %14.0f %12.1f\n' "$n" "$wall" "$((peak_kb / 1024))" "$((peak_kb * 1024 / n))" \
    "$(awk -v b="$written" 'BEGIN { print b / 1e6 }')"
done
