#!/usr/bin/env bash
# Pathological inputs at full size (issue 19): wall time, peak memory and exit code of `analyze`
# on each; every one must finish with exit 0 or a clear error, within the memory rules README
# states ("Limits").
#
#   benches/pathological/run.sh          # inputs made once under target/pathological/
set -euo pipefail
cd "$(dirname "$0")/../.."
command -v /usr/bin/time >/dev/null || { echo "needs GNU time (apt-get install -y time)" >&2; exit 1; }
cargo build --release --quiet
bin=target/release/micromarket
data=target/pathological
sample=data/sample
[ -f "$data/big.csv" ] || python3 benches/pathological/make.py "$sample" "$data"
printf '[[segment]]\nname = "road"\nfilter = "discipline = %s"\n' "'road'" >"$data/road.toml"
printf '%-34s %8s %8s %5s  %s\n' input wall_s peak_mb exit "error or rows accepted/rejected"
run() {
  local name=$1; shift
  rm -rf "$data/out"
  set +e
  /usr/bin/time -f '%e %M' -o "$data/time.txt" "$bin" analyze -q --out "$data/out" "$@" \
    >/dev/null 2>"$data/stderr.txt"
  local code=$?
  set -e
  read -r wall kb <"$data/time.txt"
  local what
  if [ -f "$data/out/manifest.json" ]; then
    what=$(python3 -c 'import json,sys; r=json.load(open(sys.argv[1]))["rows"]; print(r["accepted"], "/", r["rejected"], r["rejected_by_reason"])' "$data/out/manifest.json")
  else
    what=$(grep -v '^warning' "$data/stderr.txt" | head -n 1 | cut -c 1-120)
  fi
  printf '%-34s %8s %8d %5s  %s\n' "$name" "$wall" $((kb / 1024)) "$code" "$what"
}
common=(--segments "$sample/segments.toml" --regions "$sample/regions.geojson")
run "boundary of 1,000,000 vertices" --consumers "$sample/consumers.csv" \
  --regions "$data/vertices.geojson" --segments "$sample/segments.toml"
run "a 50 MB field" --consumers "$data/field.csv" "${common[@]}"
run "20,000 columns x 2,000 rows" --consumers "$data/columns.csv" \
  --regions "$sample/regions.geojson" --segments "$data/road.toml"
run "2 GB consumers file (33 M rows)" --consumers "$data/big.csv" "${common[@]}" \
  --cities "$sample/cities.geojson"
