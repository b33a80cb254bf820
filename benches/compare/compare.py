#!/usr/bin/env python3
"""The same job, on the same data, in micromarket and in the tools planners use instead.

    compare.py DATA_DIR WORK_DIR MICROMARKET_BINARY

DATA_DIR holds consumers.csv, regions.geojson and cities.geojson: `micromarket synth` output,
or the real US counties and states of benches/real (run.sh --real). The job: read the
consumers, give each its H3 cell at resolution 8, find its city and its region (point in polygon,
boundary inclusive, first in file order), and count every city, region and `all` x cell x
segment of the 27-segment grid (discipline x level x gender), as micromarket does for its
scopes; then Gi* hot spots for every city and segment. Each tool runs in its own process under
/usr/bin/time (wall time, peak memory) and reports its stage times; the answers are checked
against micromarket's (counts equal; Gi* equal to esda's to 1e-6), and one table is printed.

Peers: GeoPandas + h3-py (counting), esda's G_Local (hot spots, on the same data-driven study
areas, built here with h3-py and GeoPandas, and the same weights), DuckDB with its spatial extension loaded from the pip package's bundled file
(counting per city, region and `all` x segment; it has no H3, so the cell stage is marked as not possible).
"""
import csv
import json
import os
import subprocess
import sys
import time

RESOLUTION = 8
GRID = ("discipline", "level", "gender")


def segment_name(discipline, level, gender):
    return f"{discipline}-{level}-{gender}".lower()


def report(stages, extra=None):
    print(json.dumps({"stages": stages, **(extra or {})}))


# --- peers, each run as `compare.py peer NAME DATA_DIR WORK_DIR` -------------------------------


def peer_geopandas(data, work):
    import geopandas as gpd
    import h3
    import pandas as pd

    stages = {}
    t = time.perf_counter()
    df = pd.read_csv(os.path.join(data, "consumers.csv"), engine="pyarrow")
    stages["read"] = time.perf_counter() - t

    t = time.perf_counter()
    df["cell"] = [
        h3.latlng_to_cell(lat, lon, RESOLUTION)
        for lat, lon in zip(df["lat"].to_numpy(), df["lon"].to_numpy())
    ]
    stages["h3"] = time.perf_counter() - t

    t = time.perf_counter()
    points = gpd.GeoDataFrame(
        df[["cell", *GRID]],
        geometry=gpd.points_from_xy(df["lon"], df["lat"]),
        crs="EPSG:4326",
    )
    areas = {}
    for kind in ("cities", "regions"):
        polygons = gpd.read_file(os.path.join(data, f"{kind}.geojson"))[["name", "geometry"]]
        joined = gpd.sjoin(points, polygons, predicate="intersects", how="inner")
        # A point in two areas belongs to the first in file order, as in micromarket.
        joined = joined.sort_values("index_right", kind="stable")
        areas[kind] = joined[~joined.index.duplicated(keep="first")]
    stages["locate"] = time.perf_counter() - t

    t = time.perf_counter()
    counts = {
        kind: joined.groupby(["name", "cell", *GRID], observed=True).size()
        for kind, joined in areas.items()
    }
    counts["all"] = df.groupby(["cell", *GRID], observed=True).size()
    stages["count"] = time.perf_counter() - t

    with open(os.path.join(work, "geopandas_counts.csv"), "w", newline="") as f:
        w = csv.writer(f)
        for kind in ("cities", "regions"):
            for (name, cell, d, l, g), n in counts[kind].items():
                w.writerow([kind, name, cell, segment_name(d, l, g), n])
        for (cell, d, l, g), n in counts["all"].items():
            w.writerow(["all", "", cell, segment_name(d, l, g), n])
    report(stages)


def peer_duckdb(data, work):
    import duckdb
    import duckdb_extension_spatial

    stages = {}
    con = duckdb.connect()
    folder = os.path.join(os.path.dirname(duckdb_extension_spatial.__file__), "extensions")
    extension = next(
        os.path.join(root, f) for root, _, files in os.walk(folder) for f in files
        if f.endswith(".duckdb_extension")
    )
    con.execute(f"LOAD '{extension}'")

    t = time.perf_counter()
    con.execute(
        "CREATE TABLE c AS SELECT * FROM read_csv(?, header = true)",
        [os.path.join(data, "consumers.csv")],
    )
    stages["read"] = time.perf_counter() - t

    t = time.perf_counter()
    for kind in ("cities", "regions"):
        con.execute(
            f"CREATE TABLE {kind} AS SELECT row_number() OVER () AS k, name, geom FROM ST_Read(?)",
            [os.path.join(data, f"{kind}.geojson")],
        )
        # A point in two areas belongs to the first in file order, as in micromarket.
        con.execute(
            f"""CREATE TABLE in_{kind} AS
               SELECT c.id, min({kind}.k) AS k
               FROM c JOIN {kind} ON ST_Intersects({kind}.geom, ST_Point(c.lon, c.lat))
               GROUP BY c.id"""
        )
    stages["locate"] = time.perf_counter() - t

    t = time.perf_counter()
    rows = [
        (kind, *row)
        for kind in ("cities", "regions")
        for row in con.execute(
            f"""SELECT {kind}.name, discipline, level, gender, count(*)
               FROM c JOIN in_{kind} USING (id) JOIN {kind} USING (k) GROUP BY ALL"""
        ).fetchall()
    ]
    rows += [
        ("all", "", *row)
        for row in con.execute(
            "SELECT discipline, level, gender, count(*) FROM c GROUP BY ALL"
        ).fetchall()
    ]
    stages["count"] = time.perf_counter() - t

    with open(os.path.join(work, "duckdb_counts.csv"), "w", newline="") as f:
        w = csv.writer(f)
        for kind, name, d, l, g, n in rows:
            w.writerow([kind, name, segment_name(d, l, g), n])
    report(stages, {"cannot": ["h3"]})


def peer_esda(data, work):
    """Gi* per city and segment with esda, on micromarket's study areas and weights."""
    import warnings

    import geopandas as gpd
    import h3
    import numpy as np
    from esda.getisord import G_Local
    from libpysal.weights import W

    warnings.simplefilter("ignore")
    counts = {}
    with open(os.path.join(work, "geopandas_counts.csv")) as f:
        for kind, city, cell, segment, n in csv.reader(f):
            if kind == "cities":
                counts[(city, cell, segment)] = int(n)
    cities = gpd.read_file(os.path.join(data, "cities.geojson"))[["name", "geometry"]]
    segments = sorted({s for (_, _, s) in counts})
    occupied = {}
    for (city, cell, _) in counts:
        occupied.setdefault(city, set()).add(cell)
    stages = {"weights": 0.0, "gi": 0.0}
    t = time.perf_counter()
    # The study area, from the data: the cells holding a city's consumers plus the cells of
    # their 1-rings whose centre lies in the city (boundary inclusive, first city in file
    # order), found here with h3-py and a GeoPandas spatial join of the ring cells' centres.
    ring = sorted({n for cells in occupied.values() for c in cells for n in h3.grid_disk(c, 1)})
    centres = gpd.GeoDataFrame(
        {"cell": ring},
        geometry=gpd.points_from_xy(
            [h3.cell_to_latlng(c)[1] for c in ring], [h3.cell_to_latlng(c)[0] for c in ring]
        ),
        crs=cities.crs,
    )
    hits = gpd.sjoin(centres, cities, predicate="intersects", how="inner")
    hits = hits.sort_values("index_right", kind="stable")
    hits = hits[~hits.index.duplicated(keep="first")]
    centre_city = dict(zip(hits["cell"], hits["name"]))
    stages["weights"] += time.perf_counter() - t
    results = []
    for city in cities["name"]:
        if city not in occupied:
            continue
        t = time.perf_counter()
        area = set(occupied[city])
        area |= {n for c in occupied[city] for n in h3.grid_disk(c, 1) if centre_city.get(n) == city}
        cells = sorted(area)
        position = {c: i for i, c in enumerate(cells)}
        neighbours = {
            i: [position[n] for n in h3.grid_disk(c, 1) if n != c and n in position]
            for i, c in enumerate(cells)
        }
        w = W(neighbours, silence_warnings=True)
        stages["weights"] += time.perf_counter() - t
        for segment in segments:
            y = np.array([counts.get((city, c, segment), 0) for c in cells], dtype=float)
            t = time.perf_counter()
            if y.std() == 0:
                z = np.zeros(len(cells))
            else:
                z = G_Local(y, w, transform="B", star=True, permutations=0).Zs
            stages["gi"] += time.perf_counter() - t
            results.extend((city, c, segment, z[i]) for i, c in enumerate(cells) if y.any())
    with open(os.path.join(work, "esda_gi.csv"), "w", newline="") as f:
        csv.writer(f).writerows(results)
    report(stages)


# --- the driver --------------------------------------------------------------------------------


def timed(cmd, cwd):
    """Runs cmd under /usr/bin/time -v; returns (stdout, wall seconds, peak MB)."""
    out = subprocess.run(
        ["/usr/bin/time", "-v", *cmd], cwd=cwd, capture_output=True, text=True
    )
    if out.returncode != 0:
        sys.exit(f"{' '.join(cmd)} failed:\n{out.stdout}\n{out.stderr}")
    fields = dict(
        line.strip().split(": ", 1) for line in out.stderr.splitlines() if ": " in line
    )
    clock = fields["Elapsed (wall clock) time (h:mm:ss or m:ss)"].split(":")
    wall = sum(float(x) * 60 ** i for i, x in enumerate(reversed(clock)))
    return out.stdout, wall, int(fields["Maximum resident set size (kbytes)"]) / 1024


def peer(name, data, work):
    stdout, wall, peak = timed([sys.executable, __file__, "peer", name, data, work], work)
    result = json.loads(stdout.strip().splitlines()[-1])
    result.update(wall=wall, peak_mb=peak)
    return result


def main(data, work, binary):
    data, work = os.path.abspath(data), os.path.abspath(work)
    os.makedirs(work, exist_ok=True)
    grid = os.path.join(work, "grid.toml")
    with open(grid, "w") as f:
        f.write('[grid]\ndimensions = ["discipline", "level", "gender"]\n')
    out = os.path.join(work, "micromarket-out")
    _, mm_wall, mm_peak = timed(
        [binary, "-q", "analyze", "--consumers", os.path.join(data, "consumers.csv"),
         "--regions", os.path.join(data, "regions.geojson"),
         "--cities", os.path.join(data, "cities.geojson"), "--segments", grid,
         "--resolution", str(RESOLUTION), "--min-count", "1", "--privacy", "none", "--no-maps",
         "--formats", "csv", "--out", out],
        work,
    )
    with open(os.path.join(out, "manifest.json")) as f:
        manifest = json.load(f)
    ms = {k: v / 1000 for k, v in manifest["timings_ms"].items()}
    mm = {
        "read": ms["ingest"],
        "h3+locate": ms["locate"],
        "count": ms["segments"] + ms["aggregate"],
        "gi": ms["hot_spots_of_cities"],
    }

    gp = peer("geopandas", data, work)
    dk = peer("duckdb", data, work)
    es = peer("esda", data, work)

    # Answers agree: counts per area x cell x segment (cities, regions, all) and per area x
    # segment; Gi* to 1e-6.
    kinds = {"city": "cities", "region": "regions", "all": "all"}
    ours, ours_area, ours_gi = {}, {}, {}
    for scope in manifest["scopes"]:
        kind = kinds[scope["kind"]]
        # An area without consumers has no cell layer (nothing to compare).
        path = next((o["path"] for o in scope["outputs"] if o["kind"] == "cells_csv"), None)
        if path is None:
            continue
        with open(os.path.join(out, path)) as f:
            for row in csv.DictReader(f):
                name = {"cities": row["city"], "regions": row["region"], "all": ""}[kind]
                if kind == "cities":
                    ours_gi[(name, row["hex_id"], row["segment"])] = float(row["gi"])
                if int(row["count"]) > 0:
                    ours[(kind, name, row["hex_id"], row["segment"])] = int(row["count"])
                    k = (kind, name, row["segment"])
                    ours_area[k] = ours_area.get(k, 0) + int(row["count"])
    with open(os.path.join(work, "geopandas_counts.csv")) as f:
        theirs = {(kind, a, cell, s): int(n) for kind, a, cell, s, n in csv.reader(f)}
    assert theirs == ours, f"GeoPandas counts differ on {len(set(theirs.items()) ^ set(ours.items()))} keys"
    with open(os.path.join(work, "duckdb_counts.csv")) as f:
        duck = {(kind, a, s): int(n) for kind, a, s, n in csv.reader(f)}
    assert duck == ours_area, "DuckDB area x segment counts differ"
    worst, compared = 0.0, 0
    with open(os.path.join(work, "esda_gi.csv")) as f:
        for city, cell, segment, z in csv.reader(f):
            if (city, cell, segment) in ours_gi:
                worst = max(worst, abs(float(z) - ours_gi[(city, cell, segment)]))
                compared += 1
    assert compared > 0 and worst <= 1e-6, f"Gi* differs from esda's by up to {worst}"

    def row(label, g, d, m):
        """A table row; None is a stage the tool cannot do, "" one it does inside another row."""
        def cell(x):
            return "cannot" if x is None else x if isinstance(x, str) else f"{x:8.2f}"
        def ratio(x):
            ok = all(isinstance(v, (int, float)) for v in (x, m))
            return f"{x / m:6.1f}x" if ok and m > 0 else ""
        print(f"{label:<28} {cell(g):>10} {cell(d):>10} {cell(m):>12} {ratio(g):>9} {ratio(d):>9}")

    n = sum(1 for _ in open(os.path.join(data, "consumers.csv"))) - 1
    cities = sum(1 for s in manifest["scopes"] if s["kind"] == "city")
    print(f"\n{n:,} consumers, {cities} cities, resolution {RESOLUTION}, 27 segments; seconds (ratio = peer / micromarket)\n")
    print(f"{'stage':<28} {'GeoPandas':>10} {'DuckDB':>10} {'micromarket':>12} {'GP/mm':>9} {'Duck/mm':>9}")
    g, d = gp["stages"], dk["stages"]
    row("read CSV", g["read"], d["read"], mm["read"])
    row("H3 cell", g["h3"], None, "(one pass)")
    row("point in polygon", g["locate"], d["locate"], "(one pass)")
    row("H3 + point in polygon", g["h3"] + g["locate"], None, mm["h3+locate"])
    row("count area x cell x segment", g["count"], d["count"], mm["count"])
    gp_job = sum(g.values())
    dk_job = sum(d.values())
    mm_job = mm["read"] + mm["h3+locate"] + mm["count"]
    row("counting job (stages)", gp_job, dk_job, mm_job)
    row("process wall (see below)", gp["wall"], dk["wall"], f"{mm_wall:8.2f}")
    row("Gi*, 27 segments x cities", es["stages"]["gi"], None, mm["gi"])
    row("Gi* weights (esda: libpysal W)", es["stages"]["weights"], None, "(in Gi*)")
    row("peak memory (MB)", gp["peak_mb"], dk["peak_mb"], mm_peak)
    print("\nProcess wall: the peers' processes run the counting job (and interpreter start); "
          "micromarket's is its whole analyze run with --min-count 1 --privacy none (counting, Gi* and "
          "micro-markets for every scope, every cell of every scope exported), so no ratio.")
    print(f"Answers agree: {len(ours):,} area x cell x segment counts (cities, regions, all) "
          f"equal GeoPandas'; {len(ours_area):,} area x segment counts equal DuckDB's; Gi* equals esda's on "
          f"{compared:,} cells x segments (largest difference {worst:.1e}).")


if __name__ == "__main__":
    if sys.argv[1] == "peer":
        {"geopandas": peer_geopandas, "duckdb": peer_duckdb, "esda": peer_esda}[sys.argv[2]](
            sys.argv[3], sys.argv[4]
        )
    else:
        main(*sys.argv[1:4])
