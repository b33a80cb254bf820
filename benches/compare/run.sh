#!/usr/bin/env bash
# Side-by-side benchmark: micromarket against GeoPandas + h3-py, esda and DuckDB spatial on the
# same synth data (20 cities), with the answers checked against each other (see compare.py).
#
#   benches/compare/run.sh                   # 1,000,000 synth consumers
#   benches/compare/run.sh 100000            # another size
#   benches/compare/run.sh --real 200000     # real US counties and states (benches/real)
#
# The peers are installed from PyPI into target/compare-venv (pinned in requirements.txt); the
# DuckDB spatial extension comes from its pip package's bundled file, so nothing is downloaded
# while the benchmark runs.
set -euo pipefail
cd "$(dirname "$0")/../.."
real=false
if [ "${1:-}" = --real ]; then real=true; shift; fi
n=${1:-1000000}
command -v /usr/bin/time >/dev/null || { echo "needs GNU time (apt-get install -y time)" >&2; exit 1; }
venv=target/compare-venv
[ -x "$venv/bin/python" ] || python3 -m venv "$venv"
"$venv/bin/pip" install --quiet --disable-pip-version-check -r benches/compare/requirements.txt
cargo build --release --quiet
if $real; then
  benches/real/fetch.sh "$n"
  data="target/bench-data/us-$n"
  mkdir -p "$data"
  geo="$PWD/target/real-geography/us"
  ln -sf "$geo/$n/consumers.csv" "$data/consumers.csv"
  ln -sf "$geo/regions.geojson" "$data/regions.geojson"
  ln -sf "$geo/cities.geojson" "$data/cities.geojson"
else
  # 20 cities, as in the issue that set the targets.
  data="target/bench-data/$n-20-cities"
  [ -f "$data/consumers.csv" ] ||
    target/release/micromarket -q synth --seed 42 --consumers "$n" --cities 20 --out "$data"
fi
"$venv/bin/python" benches/compare/compare.py "$data" "target/compare/$(basename "$data")" "$PWD/target/release/micromarket"
