#!/usr/bin/env bash
# End-to-end `analyze` on real geography: wall time, peak memory and the manifest's stage times
# (boundaries, index, locate, Gi* summed over scopes, micro-markets and scope export summed over
# scopes, total) and the bytes written (out_mb, 10^6 bytes), every output written (maps included), 27
# grid segments, resolution 8.
#
#   benches/real/run.sh                       # US 200k and 1M, the antimeridian countries 20k,
#                                             # synth --extent country 200k, the area-scaling table
#   benches/real/run.sh us:10000000           # one workload
#
# Data comes from benches/real/fetch.sh (run on demand). The area-scaling rows run the same
# 200,000 synth consumers in one region scaled x1, x10 and x100 in area around them.
set -euo pipefail
cd "$(dirname "$0")/../.."
command -v /usr/bin/time >/dev/null || { echo "needs GNU time (apt-get install -y time)" >&2; exit 1; }
root=target/real-geography
work=("$@")
[ ${#work[@]} -gt 0 ] || work=(us:200000 us:1000000 world:20000 country:200000 area:1 area:10 area:100)
sizes=()
for w in "${work[@]}"; do case ${w%%:*} in us|world) sizes+=("${w#*:}") ;; esac; done
benches/real/fetch.sh "${sizes[@]}"
bin=target/release/micromarket
# A previous output is moved aside and deleted only after the last run: on ext4, creating files
# right after deleting thousands (a previous run's output) is slow for a while, which would be
# measured as our export time.
aside=$(mktemp -d target/real-out-old.XXXXXX)
trap 'rm -rf "$aside"' EXIT
printf '%-22s %8s %8s %8s %8s %8s %8s %10s %10s %8s\n' workload wall_s peak_mb bounds index locate gi_sum export_sum total_ms out_mb
for w in "${work[@]}"; do
  kind=${w%%:*} n=${w#*:}
  out="target/real-out/$kind-$n"
  [ ! -e "$out" ] || mv "$out" "$aside/$(basename "$out")"
  case $kind in
    us) args=(--consumers "$root/us/$n/consumers.csv" --regions "$root/us/regions.geojson" --cities "$root/us/cities.geojson") ;;
    world) args=(--consumers "$root/world/$n/consumers.csv" --regions "$root/world/regions.geojson") ;;
    country)
      # No download: synth's country-sized regions (fractal coasts, a lake, islands).
      data="target/bench-data/$n-country"
      [ -f "$data/consumers.csv" ] || "$bin" -q synth --seed 42 --consumers "$n" --cities 20 --extent country --out "$data"
      args=(--consumers "$data/consumers.csv" --regions "$data/regions.geojson" --cities "$data/cities.geojson") ;;
    area)
      data=target/bench-data/200000-20-cities
      [ -f "$data/consumers.csv" ] || "$bin" -q synth --seed 42 --consumers 200000 --cities 20 --out "$data"
      # One square region around the synth box (6-10.5 E, 45.8-47.8 N), its area times n.
      python3 -c "
import json, math, sys
n = float(sys.argv[1]); s = math.sqrt(n); cx, cy, hx, hy = 8.25, 46.8, 2.3 * s, 1.05 * s
ring = [[cx - hx, cy - hy], [cx + hx, cy - hy], [cx + hx, cy + hy], [cx - hx, cy + hy], [cx - hx, cy - hy]]
print(json.dumps({'type': 'FeatureCollection', 'features': [{'type': 'Feature', 'properties': {'name': 'Scaled'}, 'geometry': {'type': 'Polygon', 'coordinates': [ring]}}]}))
" "$n" > "$root/area-$n.geojson"
      args=(--consumers "$data/consumers.csv" --regions "$root/area-$n.geojson") ;;
  esac
  log=$(mktemp)
  /usr/bin/time -v "$bin" -q analyze "${args[@]}" --segments "$root/grid.toml" --out "$out" 2>"$log"
  wall=$(awk -F': ' '/Elapsed \(wall clock\)/ {print $2}' "$log" | awk -F: '{ if (NF==3) print $1*3600+$2*60+$3; else print $1*60+$2 }')
  peak_kb=$(awk -F': ' '/Maximum resident set size/ {print $2}' "$log")
  rm -f "$log"
  python3 - "$out/manifest.json" "$w" "$wall" "$peak_kb" "$(du -sb "$out" | cut -f1)" <<'PY'
import json, sys
m = json.load(open(sys.argv[1]))["timings_ms"]
w, wall, peak, size = sys.argv[2], float(sys.argv[3]), int(sys.argv[4]) / 1024, int(sys.argv[5]) / 1e6
print(f"{w:<22} {wall:8.2f} {peak:8.0f} {m['boundaries']:8} {m['boundary_index']:8} {m['locate']:8} "
      f"{m['hot_spots_summed_over_scopes']:8} {m['campaigns_and_scope_export_summed_over_scopes']:10} {m['total']:10} {size:8.1f}")
PY
done
