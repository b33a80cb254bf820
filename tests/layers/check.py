"""Reads a run's cell layers with tools users pick, independently of micromarket's own code.

For every scope of OUT/manifest.json:
- cells.parquet passes geoparquet-validator (core and bbox covering), and GeoPandas and DuckDB
  (spatial) read it back with every value equal to cells.csv and every geometry equal to the
  cell's in cells.geojson;
- cells.fgb, read by GDAL's FlatGeobuf driver (DuckDB spatial's ST_Read), holds the same cells,
  values and geometries;
- micromarkets.parquet and campaign.parquet are conformant and hold their GeoJSON's features;
- ogrinfo (GDAL) opens cells.geojson, cells.geojsons, cells.fgb and the micro-market and campaign GeoJSON
  with no warning and the manifest's feature count.

Usage: python check.py OUT       (exit 0 when every check holds; prints one line per scope)
"""

import csv
import json
import math
import os
import subprocess
import sys

import duckdb
import duckdb_extension_spatial
import geopandas
import geoparquet_validator
import shapely

FIGURES = ["count", "penetration", "penetration_low", "penetration_high", "lift", "lift_low",
           "lift_high", "gi", "p_value", "q_value", "hot", "in_micromarket"]


def typed(text, column):
    if text == "":
        return None
    if text in ("true", "false"):
        return text == "true"
    return int(text) if column == "count" else float(text)


def same(a, b):
    if a is None or (isinstance(a, float) and math.isnan(a)):
        return b is None
    return a == b


def ogr_features(path):
    """Feature count of the single layer ogrinfo reports; fails on any warning."""
    run = subprocess.run(["ogrinfo", "-ro", "-al", "-so", path], capture_output=True, text=True)
    assert run.returncode == 0, f"ogrinfo {path}: {run.stderr}"
    assert "Warning" not in run.stderr and "ERROR" not in run.stderr, f"ogrinfo {path}: {run.stderr}"
    counts = [int(line.split(":")[1]) for line in run.stdout.splitlines()
              if line.startswith("Feature Count:")]
    assert len(counts) == 1, f"ogrinfo {path}: {run.stdout}"
    return counts[0]


def check_parquet(path, cells_csv, geojson, segments, db):
    report = geoparquet_validator.check(path)
    for conformance in ("core", "covering"):
        assert geoparquet_validator.conformant(report, conformance), \
            f"{path}: {conformance}: {geoparquet_validator.failed(report, conformance)}"
    frame = geopandas.read_parquet(path)
    assert frame.crs is not None and frame.crs.to_epsg() in (4326, None), f"{path}: crs {frame.crs}"
    assert frame.crs.equals("OGC:CRS84") or frame.crs.to_epsg() == 4326, f"{path}: {frame.crs}"
    rows = {}
    with open(cells_csv) as f:
        for row in csv.DictReader(f):
            rows[(row["hex_id"], row["segment"])] = row
    assert len(rows) == len(frame) * len(segments), f"{path}: {len(rows)} CSV rows"
    with open(geojson) as f:
        shapes = {feat["properties"]["hex_id"]: shapely.geometry.shape(feat["geometry"])
                  for feat in json.load(f)["features"]}
    assert len(shapes) == len(frame), f"{path}: {len(shapes)} GeoJSON features"
    records = frame.to_dict("records")
    for record in records:
        hex_id = record["hex_id"]
        assert int(hex_id, 16) == record["h3"], f"{path}: h3 of {hex_id}"
        assert shapely.equals_exact(record["geometry"], shapes[hex_id], tolerance=0), \
            f"{path}: geometry of {hex_id}"
        for segment in segments:
            full = rows[(hex_id, segment)]
            assert int(full["population"]) == record["population"]
            for column in FIGURES:
                got, want = record[f"{segment}_{column}"], typed(full[column], column)
                assert same(got, want), f"{path}: {hex_id} {segment}_{column}: {got} vs {want}"
    # DuckDB reads the same rows, takes the column as GEOMETRY from the geo metadata (its own WKB
    # reader), and the bbox covering matches.
    first = segments[0]
    got = db.execute(
        f"""SELECT count(*), sum(population), sum("{first}_count"),
                   bool_and(ST_IsValid(geometry)),
                   bool_and(abs(ST_XMin(geometry) - bbox.xmin) < 1e-12
                            AND abs(ST_YMax(geometry) - bbox.ymax) < 1e-12),
                   sum(ST_Area(geometry))
            FROM read_parquet(?)""",
        [path],
    ).fetchone()
    want_count = int(frame[f"{first}_count"].fillna(0).sum())
    assert got[0] == len(frame) and got[1] == frame["population"].sum(), f"{path}: DuckDB {got}"
    assert (got[2] or 0) == want_count, f"{path}: DuckDB {got} vs {want_count}"
    assert got[3] and got[4], f"{path}: DuckDB geometry or bbox check {got}"
    planar_area = shapely.area(frame.geometry.values).sum()  # in square degrees, as DuckDB's
    assert abs(got[5] - planar_area) < 1e-9, f"{path}: DuckDB area {got[5]} vs {planar_area}"
    return len(frame)


def check_fgb(path, cells_csv, geojson, segments, db):
    """cells.fgb read by GDAL's FlatGeobuf driver (inside DuckDB spatial's ST_Read): the same
    cells, values and geometries as cells.csv and cells.geojson."""
    frame = db.execute("SELECT * EXCLUDE (geom), ST_AsWKB(geom) AS wkb FROM ST_Read(?)",
                       [path]).fetchdf()
    with open(cells_csv) as f:
        rows = {(row["hex_id"], row["segment"]): row for row in csv.DictReader(f)}
    with open(geojson) as f:
        shapes = {feat["properties"]["hex_id"]: shapely.geometry.shape(feat["geometry"])
                  for feat in json.load(f)["features"]}
    assert len(frame) == len(shapes), f"{path}: {len(frame)} features"
    for record in frame.to_dict("records"):
        hex_id = record["hex_id"]
        assert int(hex_id, 16) == record["h3"], f"{path}: h3 of {hex_id}"
        geometry = shapely.from_wkb(bytes(record["wkb"]))
        if geometry.geom_type == "MultiPolygon" and len(geometry.geoms) == 1:
            geometry = geometry.geoms[0]  # the layer is all MultiPolygons; GeoJSON has Polygons
        assert shapely.equals_exact(geometry, shapes[hex_id], tolerance=0), f"{path}: {hex_id}"
        for segment in segments:
            full = rows[(hex_id, segment)]
            assert int(full["population"]) == record["population"]
            assert (record["region"] or "") == full["region"] and (record["city"] or "") == full["city"]
            for column in FIGURES:
                got, want = record[f"{segment}_{column}"], typed(full[column], column)
                if column in ("hot", "in_micromarket"):
                    got = bool(got)
                assert same(got, want), f"{path}: {hex_id} {segment}_{column}: {got} vs {want}"
    return len(frame)


def check_group_parquet(path, geojson):
    """A micro-market or campaign GeoParquet file holds its GeoJSON's features, in order."""
    report = geoparquet_validator.check(path)
    assert geoparquet_validator.conformant(report, "core"), \
        f"{path}: {geoparquet_validator.failed(report, 'core')}"
    frame = geopandas.read_parquet(path)
    with open(geojson) as f:
        features = json.load(f)["features"]
    assert len(frame) == len(features), f"{path}: {len(frame)} rows"
    for record, feature in zip(frame.to_dict("records"), features):
        for key, want in feature["properties"].items():
            assert same(record[key], want), f"{path}: {key}: {record[key]} vs {want}"
        shape = shapely.geometry.shape(feature["geometry"])
        assert shapely.equals_exact(record["geometry"], shape, tolerance=0), f"{path}: geometry"
    return len(frame)


def main(out):
    with open(os.path.join(out, "manifest.json")) as f:
        manifest = json.load(f)
    segments = manifest["parameters"]["segments"]
    db = duckdb.connect()
    # The spatial extension as the pip package bundles it (no download).
    folder = os.path.join(os.path.dirname(duckdb_extension_spatial.__file__), "extensions")
    extension = next(os.path.join(root, f) for root, _, files in os.walk(folder)
                     for f in files if f.endswith(".duckdb_extension"))
    db.execute(f"LOAD '{extension}'")
    for scope in manifest["scopes"]:
        outputs = {o["kind"]: o for o in scope["outputs"]}
        if "cells" not in outputs:
            print(f"{scope['kind']} {scope['name']}: no cell shown, no cell layer")
            continue
        path = lambda kind: os.path.join(out, outputs[kind]["path"])
        for kind in ("cells", "cells_geojsonseq", "cells_fgb", "micromarkets", "campaign"):
            if kind in outputs:
                got = ogr_features(path(kind))
                assert got == outputs[kind]["features"], f"{path(kind)}: ogrinfo {got} features"
        cells = check_parquet(path("cells_parquet"), path("cells_csv"), path("cells"), segments, db)
        if "cells_fgb" in outputs:
            assert check_fgb(path("cells_fgb"), path("cells_csv"), path("cells"), segments, db) == cells
        groups = [check_group_parquet(path(f"{kind}_parquet"), path(kind))
                  for kind in ("micromarkets", "campaign") if f"{kind}_parquet" in outputs]
        print(f"{scope['kind']} {scope['name']}: {cells} cells and {groups} groups, every layer agrees")


if __name__ == "__main__":
    main(sys.argv[1])
