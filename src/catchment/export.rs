//! Catchment outputs: `catchments.geojson`, `stores.geojson`, `catchments.csv`, `overlap.csv`.

use super::assign::{Catchment, Catchments, Stores};
use crate::disclosure::Privacy;
use crate::export::{
    AtomicFile, ExportError, OutputRecord, Written, io_error, json_text, opt_text, write_csv,
    write_multipolygon,
};
use crate::stats::{ScopeCounts, round6};
use serde_json::{Map, Value, json};
use std::io::{self, Write};
use std::path::Path;

/// Figures of one store × segment as published: (members, penetration, lift).
fn figures(
    c: &Catchment,
    s: usize,
    scope: &ScopeCounts,
    privacy: Privacy,
) -> (Option<u64>, Option<f64>, Option<f64>) {
    let (big_k, big_n) = (scope.total_members(s), scope.total_population());
    let published = privacy.group(c.members[s], c.consumers, big_k, big_n);
    (
        published.members,
        published.rates.penetration,
        published.rates.lift,
    )
}

/// The flat properties of a store: id, name, scope, consumers and per segment its figures.
fn properties(
    stores: &Stores,
    s: usize,
    c: &Catchment,
    scopes: &[ScopeCounts],
    segment_names: &[String],
    privacy: Privacy,
) -> Map<String, Value> {
    let scope = &scopes[c.scope];
    let mut map = Map::new();
    map.insert("store_id".into(), json!(stores.ids[s]));
    map.insert("name".into(), json!(stores.names[s]));
    map.insert("scope_kind".into(), json!(scope.scope.kind));
    map.insert("region".into(), json!(json_text(&scope.scope.region)));
    map.insert("city".into(), json!(json_text(&scope.scope.city)));
    map.insert("consumers".into(), json!(privacy.count(c.consumers)));
    for (seg, name) in segment_names.iter().enumerate() {
        let (members, p, l) = figures(c, seg, scope, privacy);
        map.insert(format!("{name}_members"), json!(members));
        map.insert(format!("{name}_penetration"), json!(p));
        map.insert(format!("{name}_lift"), json!(l));
    }
    map
}

fn write_features(
    path: &Path,
    count: usize,
    mut feature: impl FnMut(&mut AtomicFile, usize) -> io::Result<()>,
) -> io::Result<Written> {
    let mut file = AtomicFile::create(path)?;
    file.write_all(b"{\"type\":\"FeatureCollection\",\"features\":[\n")?;
    for i in 0..count {
        if i > 0 {
            file.write_all(b",\n")?;
        }
        feature(&mut file, i)?;
    }
    file.write_all(b"\n]}\n")?;
    file.commit()
}

/// Writes every catchment output into `root` and returns their records.
///
/// A catchment's shape is the dissolve of the H3 cells holding at least the minimum count of its
/// consumers (null when there is none), so no shape points at a few people.
///
/// # Errors
///
/// [`ExportError`] naming the file.
pub fn write_catchments(
    root: &Path,
    stores: &Stores,
    result: &Catchments,
    scopes: &[ScopeCounts],
    segment_names: &[String],
    privacy: Privacy,
    with_overlap: bool,
) -> Result<Vec<OutputRecord>, ExportError> {
    std::fs::create_dir_all(root).map_err(io_error(root))?;
    let props: Vec<Map<String, Value>> = result
        .stores
        .iter()
        .enumerate()
        .map(|(s, c)| properties(stores, s, c, scopes, segment_names, privacy))
        .collect();
    let n = result.stores.len();
    let mut records = Vec::new();

    let path = root.join("catchments.geojson");
    let written = write_features(&path, n, |f, s| {
        f.write_all(b"{\"type\":\"Feature\",\"properties\":")?;
        serde_json::to_writer(&mut *f, &props[s])?;
        f.write_all(b",\"geometry\":")?;
        let cells: Vec<h3o::CellIndex> = result.stores[s]
            .cells
            .iter()
            .filter(|(_, k)| privacy.shows_cell(u64::from(*k)))
            .map(|(c, _)| *c)
            .collect();
        if cells.is_empty() {
            f.write_all(b"null")?;
        } else {
            let shape = crate::market::dissolve(&cells).map_err(io::Error::other)?;
            write_multipolygon(f, &shape)?;
        }
        f.write_all(b"}")
    })
    .map_err(io_error(&path))?;
    records.push(OutputRecord::new(
        "catchments",
        "catchments.geojson".into(),
        n as u64,
        written,
    ));

    let path = root.join("stores.geojson");
    let written = write_features(&path, n, |f, s| {
        f.write_all(b"{\"type\":\"Feature\",\"properties\":")?;
        serde_json::to_writer(&mut *f, &props[s])?;
        let (lat, lng) = (round6(stores.lat[s]), round6(stores.lng[s]));
        write!(
            f,
            ",\"geometry\":{{\"type\":\"Point\",\"coordinates\":[{lng},{lat}]}}}}"
        )
    })
    .map_err(io_error(&path))?;
    records.push(OutputRecord::new(
        "stores",
        "stores.geojson".into(),
        n as u64,
        written,
    ));

    records.push(write_csv(
        root,
        "catchments.csv",
        "catchments_csv",
        |csv| {
            csv.write_record([
                "store_id",
                "name",
                "segment",
                "consumers",
                "members",
                "penetration",
                "lift",
            ])?;
            let mut rows = 0;
            for (s, c) in result.stores.iter().enumerate() {
                let consumers = privacy.count(c.consumers);
                for (seg, name) in segment_names.iter().enumerate() {
                    let (members, p, l) = figures(c, seg, &scopes[c.scope], privacy);
                    csv.write_record([
                        stores.ids[s].as_str(),
                        stores.names[s].as_str(),
                        name.as_str(),
                        &opt_text(consumers),
                        &opt_text(members),
                        &opt_text(p),
                        &opt_text(l),
                    ])?;
                    rows += 1;
                }
            }
            Ok(rows)
        },
    )?);

    if with_overlap {
        records.push(write_overlap(root, stores, result, privacy)?);
    }
    Ok(records)
}

/// Writes `overlap.csv`: the consumers each pair of stores shares, as published.
fn write_overlap(
    root: &Path,
    stores: &Stores,
    result: &Catchments,
    privacy: Privacy,
) -> Result<OutputRecord, ExportError> {
    write_csv(root, "overlap.csv", "overlap", |csv| {
        csv.write_record(["store_a", "store_b", "shared"])?;
        for &(a, b, shared) in &result.overlap {
            csv.write_record([
                stores.ids[a].as_str(),
                stores.ids[b].as_str(),
                &opt_text(privacy.count(shared)),
            ])?;
        }
        Ok(result.overlap.len() as u64)
    })
}
