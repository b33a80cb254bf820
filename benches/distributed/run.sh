#!/usr/bin/env bash
# The local engine against --engine datafusion on N synth consumers (default 1,000,000): one CSV
# file, and the same rows cut into PARTS files (default 4). Prints wall time, peak memory and the
# counting phase of each (local: ingest to aggregation; datafusion: its id pass and its
# ingest-and-count plan), and checks that the outputs are the same.
#
#   benches/distributed/run.sh [N] [PARTS]
set -euo pipefail
cd "$(dirname "$0")/../.."
n=${1:-1000000}
parts=${2:-4}
cargo build --release -q -p micromarket-datafusion
bin=target/release/micromarket-datafusion
world=target/distributed/$n
if [ ! -f "$world/consumers.csv" ]; then
  "$bin" -q synth --consumers "$n" --out "$world"
fi
if [ ! -d "$world/parts-$parts" ]; then
  mkdir -p "$world/parts-$parts"
  rows=$(( (n + parts - 1) / parts ))
  tail -n +2 "$world/consumers.csv" | split -d -a 3 -l "$rows" - "$world/parts-$parts/body-"
  for body in "$world/parts-$parts"/body-*; do
    { head -1 "$world/consumers.csv"; cat "$body"; } > "${body/body-/part-}.csv"
    rm "$body"
  done
fi
printf 'micromarket distributed bench key' > "$world/secret.key"

run() { # name engine consumers [extra...]
  local name=$1 engine=$2 consumers=$3
  shift 3
  local out=target/distributed/out-$name
  rm -rf "$out" "$out.rejects.csv"
  /usr/bin/time -f "%e %M" -o target/distributed/time-$name "$bin" -q analyze --engine "$engine" \
    --consumers "$consumers" --regions "$world/regions.geojson" --cities "$world/cities.geojson" \
    --segments "$world/segments.toml" --privacy-key "$world/secret.key" --out "$out" "$@"
  python3 - "$name" "$out/manifest.json" "target/distributed/time-$name" <<'PY'
import json, sys
name, manifest, timing = sys.argv[1:]
t = json.load(open(manifest))["timings_ms"]
wall, kb = open(timing).read().split()
counting = sum(t.get(k, 0) for k in ("ingest", "segments", "boundary_index", "locate", "record_keys", "aggregate", "id_pass", "ingest_and_count", "merge_counts"))
print(f"{name:<22} wall {float(wall):6.2f} s  peak {int(kb) / 1024:7.0f} MB  counting {counting / 1000:6.2f} s  total {t['total'] / 1000:6.2f} s")
PY
}

echo "$n consumers, $parts parts, $(nproc) cores"
run local local "$world/consumers.csv"
run datafusion-one-file datafusion "$world/consumers.csv"
run datafusion-parts datafusion "$world/parts-$parts" --partitions "$parts"
for other in datafusion-one-file datafusion-parts; do
  if diff -rq -x manifest.json target/distributed/out-local "target/distributed/out-$other" >/dev/null; then
    echo "$other: every output but the manifest equals the local run's"
  else
    echo "$other: OUTPUTS DIFFER" && exit 1
  fi
done
