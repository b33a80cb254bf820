// Converts the public TopoJSON boundary files of us-atlas and world-atlas into the GeoJSON
// FeatureCollections micromarket reads:
//
//   node prepare.mjs NODE_MODULES OUT_DIR
//
// OUT_DIR/us/regions.geojson    the 56 states, DC and territories (id = FIPS, name)
// OUT_DIR/us/cities.geojson     the 3,231 counties (id = FIPS, name = "County, State", region)
// OUT_DIR/world/regions.geojson the 16 countries reaching nearest the antimeridian (id = ISO 3166 numeric)
import { readFileSync, writeFileSync, mkdirSync } from "node:fs";
import { join } from "node:path";

const [modules, out] = process.argv.slice(2);
const { feature } = await import(join(modules, "topojson-client/src/index.js"));
const topo = (file) => JSON.parse(readFileSync(join(modules, file), "utf8"));
const write = (path, features) => {
  mkdirSync(join(out, path, ".."), { recursive: true });
  writeFileSync(join(out, path), JSON.stringify({ type: "FeatureCollection", features }));
  console.log(`${path}: ${features.length} features`);
};
const polygonal = (f) =>
  f.geometry && (f.geometry.type === "Polygon" || f.geometry.type === "MultiPolygon");
// topojson-client leaves a few rings of us-atlas open (Illinois's first, for one); GeoJSON
// requires first = last, which micromarket checks, so such rings are closed here.
const closed = (geometry) => {
  const close = (ring) => {
    const [a, b] = [ring[0], ring[ring.length - 1]];
    return a[0] === b[0] && a[1] === b[1] ? ring : [...ring, a];
  };
  const polygons = geometry.type === "Polygon" ? [geometry.coordinates] : geometry.coordinates;
  const fixed = polygons.map((rings) => rings.map(close));
  return geometry.type === "Polygon"
    ? { type: "Polygon", coordinates: fixed[0] }
    : { type: "MultiPolygon", coordinates: fixed };
};

const us = topo("us-atlas/counties-10m.json");
const states = feature(us, us.objects.states).features.filter(polygonal);
const stateName = new Map(states.map((s) => [s.id, s.properties.name]));
write("us/regions.geojson", states.map((s) => ({
  type: "Feature",
  properties: { id: s.id, name: s.properties.name },
  geometry: closed(s.geometry),
})));
// Names are "County, State"; where a state has two of one name (Virginia's Richmond county and
// Richmond city, say) the FIPS code follows, so every county name is unique.
const counties = feature(us, us.objects.counties).features.filter(polygonal);
const countyName = (c) => `${c.properties.name}, ${stateName.get(c.id.slice(0, 2)) ?? c.id.slice(0, 2)}`;
const seen = new Map();
for (const c of counties) seen.set(countyName(c), (seen.get(countyName(c)) ?? 0) + 1);
write("us/cities.geojson", counties.map((c) => ({
  type: "Feature",
  properties: {
    id: c.id,
    name: seen.get(countyName(c)) > 1 ? `${countyName(c)} (${c.id})` : countyName(c),
    region: c.id.slice(0, 2),
  },
  geometry: closed(c.geometry),
})));

const world = topo("world-atlas/countries-10m.json");
// The 16 countries reaching furthest toward ±180° (Russia, Antarctica, Fiji, the USA, New
// Zealand... Vanuatu at 169.9°), most split into parts on either side of it.
const farthest = (coordinates) =>
  typeof coordinates[0] === "number" ? Math.abs(coordinates[0]) : Math.max(...coordinates.map(farthest));
const reaches = (geometry) => farthest(geometry.coordinates) >= 169.5;
write("world/regions.geojson", feature(world, world.objects.countries).features
  .filter((f) => polygonal(f) && reaches(f.geometry))
  .map((f) => ({ type: "Feature", properties: { id: f.id, name: f.properties.name }, geometry: closed(f.geometry) })));
