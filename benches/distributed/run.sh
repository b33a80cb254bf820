#!/usr/bin/env bash
# The counting phase beside one machine's: the local engine, --engine datafusion and Ballista on
# N synth consumers (default 1,000,000) written as Parquet, one file for the local engine and
# the same rows cut into PARTS files (default 4) for the others. Ballista runs as a standalone
# cluster in the process with 1 and with 2 executors, and as separate processes (a scheduler and
# 2 executors started by `micromarket-datafusion scheduler|executor`, each measured apart).
# Prints wall time, peak memory per process, rows per second and the counting phase of each
# (local: ingest to aggregation; the others: their id pass, their ingest-and-count plan and the
# merge), and checks that every output equals the local run's.
#
#   benches/distributed/run.sh [N] [PARTS]
#
# RUNS (default: all of them) picks runs by name, for sizes where the local engine would not fit
# in memory: RUNS="ballista-processes" benches/distributed/run.sh 100000000 16
#
# REPEAT (default 1) runs the picked runs that many times in turn, and then prints each other
# run's counting phase against the local run's of the same round and the median of those ratios:
# this machine's timings vary by up to 40% from one run to the next, so one pair decides little.
#   REPEAT=5 RUNS="local datafusion-parts" benches/distributed/run.sh 10000000 4
#
# Cutting the Parquet file uses pyarrow, installed (pinned as in benches/compare) into
# target/compare-venv.
set -euo pipefail
cd "$(dirname "$0")/../.."
n=${1:-1000000}
parts=${2:-4}
cargo build --release -q -p micromarket-datafusion
bin=target/release/micromarket-datafusion
work=target/distributed
world=$work/$n
venv=target/compare-venv
if [ ! -f "$world/consumers.parquet" ]; then
  "$bin" -q synth --consumers "$n" --format parquet --out "$world"
fi
if [ ! -d "$world/parts-$parts" ]; then
  [ -x "$venv/bin/python" ] || python3 -m venv "$venv"
  "$venv/bin/pip" install --quiet --disable-pip-version-check \
    "$(grep '^pyarrow==' benches/compare/requirements.txt)"
  "$venv/bin/python" - "$world/consumers.parquet" "$world/parts-$parts" "$parts" <<'PY'
import os, sys
import pyarrow.parquet as pq
source, folder, parts = sys.argv[1], sys.argv[2], int(sys.argv[3])
reader = pq.ParquetFile(source)
rows = reader.metadata.num_rows
per_part = -(-rows // parts)
os.makedirs(folder + ".tmp", exist_ok=True)
writer, part, written = None, -1, 0
for batch in reader.iter_batches(batch_size=65536):
    while batch.num_rows:
        if writer is None or written == per_part:
            if writer:
                writer.close()
            part, written = part + 1, 0
            writer = pq.ParquetWriter(f"{folder}.tmp/part-{part:03}.parquet", batch.schema, compression="zstd")
        take = min(batch.num_rows, per_part - written)
        writer.write_batch(batch.slice(0, take), row_group_size=1 << 20)
        written += take
        batch = batch.slice(take)
writer.close()
os.rename(folder + ".tmp", folder)
PY
fi
printf 'micromarket distributed bench key' > "$work/secret.key"

inputs=(--regions "$world/regions.geojson" --cities "$world/cities.geojson"
  --segments "$world/segments.toml" --privacy-key "$work/secret.key")

report() { # name manifest time-file [process time-file...]
  python3 - "$n" "$work/counting.log" "$@" <<'PY'
import json, sys
n, log, name, manifest, timing, *others = sys.argv[1:]
t = json.load(open(manifest))["timings_ms"]
wall, kb = open(timing).read().split()[-2:]
counting = sum(t.get(k, 0) for k in ("ingest", "segments", "boundary_index", "locate", "record_keys", "aggregate", "id_pass", "ingest_and_count", "merge_counts"))
line = f"{name:<26} wall {float(wall):6.2f} s  peak {int(kb) / 1024:6.0f} MB  counting {counting / 1000:6.2f} s  ({int(n) / counting * 1000 / 1e6:5.2f} M rows/s)  total {t['total'] / 1000:6.2f} s"
for process, file in zip(others[::2], others[1::2]):
    line += f"  {process} peak {int(open(file).read().split()[-1]) / 1024:5.0f} MB"
print(line)
with open(log, "a") as out:
    out.write(f"{name} {counting}\n")
PY
}

run() { # name engine consumers [extra...]
  local name=$1 engine=$2 consumers=$3
  shift 3
  rm -rf "$work/out-$name" "$work/out-$name.rejects.csv"
  /usr/bin/time -f "%e %M" -o "$work/time-$name" "$bin" -q analyze --engine "$engine" \
    --consumers "$consumers" "${inputs[@]}" --out "$work/out-$name" "$@"
  report "$name" "$work/out-$name/manifest.json" "$work/time-$name"
}

free_port() {
  python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'
}

# Ballista as separate processes: a scheduler and 2 executors, each measured until it is stopped.
cluster() { # name consumers
  local name=$1 consumers=$2 scheduler executors=()
  scheduler=127.0.0.1:$(free_port)
  /usr/bin/time -f "%e %M" -o "$work/time-$name-scheduler" \
    "$bin" scheduler --bind "$scheduler" >"$work/$name-scheduler.log" 2>&1 &
  local pids=($!)
  for e in 1 2; do
    local port
    port=$(free_port)
    /usr/bin/time -f "%e %M" -o "$work/time-$name-executor-$e" "$bin" executor \
      --scheduler "$scheduler" --bind "127.0.0.1:$port" --slots 1 \
      >"$work/$name-executor-$e.log" 2>&1 &
    pids+=($!)
  done
  sleep 2
  rm -rf "$work/out-$name" "$work/out-$name.rejects.csv"
  /usr/bin/time -f "%e %M" -o "$work/time-$name" "$bin" -q analyze --engine ballista \
    --scheduler "df://$scheduler" --consumers "$consumers" "${inputs[@]}" --out "$work/out-$name"
  for pid in "${pids[@]}"; do pkill -TERM -P "$pid" || true; done
  wait || true
  report "$name" "$work/out-$name/manifest.json" "$work/time-$name" \
    scheduler "$work/time-$name-scheduler" \
    executor-1 "$work/time-$name-executor-1" executor-2 "$work/time-$name-executor-2"
}

runs=${RUNS:-local datafusion-parts ballista-1-executor ballista-2-executors ballista-processes}
wanted() { [[ " $runs " == *" $1 "* ]]; }
echo "$n consumers, $parts Parquet parts, $(nproc) cores"
rm -f "$work/counting.log"
for ((round = 1; round <= ${REPEAT:-1}; round++)); do
  wanted local && run local local "$world/consumers.parquet"
  wanted datafusion-parts && run datafusion-parts datafusion "$world/parts-$parts"
  wanted ballista-1-executor && run ballista-1-executor ballista "$world/parts-$parts" --executors 1
  wanted ballista-2-executors && run ballista-2-executors ballista "$world/parts-$parts" --executors 2
  wanted ballista-processes && cluster ballista-processes "$world/parts-$parts"
  wanted local || continue
  for other in datafusion-parts ballista-1-executor ballista-2-executors ballista-processes; do
    wanted "$other" || continue
    if diff -rq -x manifest.json "$work/out-local" "$work/out-$other" >/dev/null; then
      echo "$other: every output but the manifest equals the local run's"
    else
      echo "$other: OUTPUTS DIFFER" && exit 1
    fi
  done
done
wanted local || exit 0
# Each run's counting phase against the local run's of its round, and their median.
python3 - "$work/counting.log" <<'PY'
import statistics, sys
rounds, ratios = [], {}
for line in open(sys.argv[1]):
    name, ms = line.split()
    if name == "local":
        rounds.append(int(ms))
    else:
        ratios.setdefault(name, []).append(int(ms) / rounds[-1])
for name, r in ratios.items():
    listed = ", ".join(f"{x:.2f}" for x in r)
    print(f"{name}: counting phase / local's, per round: {listed}; median {statistics.median(r):.2f}")
PY
