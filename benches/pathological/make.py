"""Writes the pathological inputs of benches/pathological/run.sh into a folder, from the bundled
sample: a region of 1,000,000 vertices around the sample's area, the sample with one 50 MB field,
20,000 columns, and a consumers file of about 2 GB (the sample 330 times with unique ids)."""
import math
import os
import sys

sample, out = sys.argv[1], sys.argv[2]
os.makedirs(out, exist_ok=True)
with open(os.path.join(sample, "consumers.csv")) as f:
    header, *lines = f.read().splitlines()


def write(name, rows):
    with open(os.path.join(out, name), "w") as f:
        for row in rows:
            f.write(row + "\n")


# A wobbly ring of 1,000,000 vertices (a coastline's wiggle, 2,000 waves) around the sample.
n = 1_000_000
ring = ",".join(
    "[%.7f,%.7f]" % (8.5 + 1.4 * r * math.cos(t), 46.8 + r * math.sin(t))
    for t, r in ((2 * math.pi * (i % n) / n, 1.6 + 0.05 * math.sin(2000 * 2 * math.pi * (i % n) / n)) for i in range(n + 1))
)
write("vertices.geojson", ['{"type":"FeatureCollection","features":[{"type":"Feature","properties":{"name":"Wobbly"},"geometry":{"type":"Polygon","coordinates":[[%s]]}}]}' % ring])


def with_long_field(i, line):
    if i != 5:
        return line
    fields = line.split(",")
    fields[5] = "x" * (50 << 20)  # the discipline, a grid dimension
    return ",".join(fields)


write("field.csv", [header] + [with_long_field(i, l) for i, l in enumerate(lines)])

columns = 20_000
filler = ",7" * (columns - 6)
write(
    "columns.csv",
    ["id,lat,lon,gender,discipline,level," + ",".join("a%d" % c for c in range(6, columns))]
    + [",".join(l.split(",")[0:4] + l.split(",")[5:7]) + filler for l in lines[:2000]],
)

with open(os.path.join(out, "big.csv"), "w") as f:
    f.write(header + "\n")
    for copy in range(330):
        f.write("\n".join("r%d%s" % (copy, l) for l in lines) + "\n")
