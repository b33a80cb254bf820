//! A scope's groups of cells: `micromarkets.geojson` (a feature per micro-market, in rank order)
//! and, with a budget, `campaign.geojson` and `campaign.csv` (a feature or row per segment);
//! each with a GeoParquet twin when Parquet is asked for.

use super::atomic::{ExportError, io_error};
use super::format::{Format, Formats};
use super::geometry::write_multipolygon;
use super::geoparquet::write_features;
use super::manifest::OutputRecord;
use super::text::json_text;
use super::{relative, write_bytes, write_csv};
use crate::disclosure::Rates;
use crate::scope::ScopeAnalysis;
use crate::stats::{round6, significant6};
use arrow_schema::DataType;
use geo::MultiPolygon;
use serde_json::{Map, Value};
use std::io::{self, Write};
use std::path::Path;

/// Penetration and lift with their intervals: the last columns of both groups.
const RATE_COLUMNS: [&str; 6] = [
    "penetration",
    "penetration_low",
    "penetration_high",
    "lift",
    "lift_low",
    "lift_high",
];

/// Properties of a micro-market before [`RATE_COLUMNS`], with their Parquet types.
const MARKET_COLUMNS: [(&str, DataType); 21] = [
    ("id", DataType::Utf8),
    ("rank", DataType::UInt64),
    ("scope_kind", DataType::Utf8),
    ("region", DataType::Utf8),
    ("city", DataType::Utf8),
    ("segment", DataType::Utf8),
    ("cells", DataType::UInt64),
    ("area_km2", DataType::Float64),
    ("members", DataType::UInt64),
    ("population", DataType::UInt64),
    ("excess_members", DataType::Float64),
    ("radii", DataType::Utf8),
    ("centres", DataType::UInt64),
    ("p_value", DataType::Float64),
    ("q_value", DataType::Float64),
    ("score", DataType::Float64),
    ("p_fwer", DataType::Float64),
    ("stable_coarser", DataType::Boolean),
    ("stable_finer", DataType::Boolean),
    ("centroid_lat", DataType::Float64),
    ("centroid_lon", DataType::Float64),
];

/// Columns of `campaign.csv` before [`RATE_COLUMNS`] (then `suppressed`), with their Parquet
/// types; also the properties of `campaign.geojson`.
const CAMPAIGN_COLUMNS: [(&str, DataType); 10] = [
    ("scope_kind", DataType::Utf8),
    ("region", DataType::Utf8),
    ("city", DataType::Utf8),
    ("segment", DataType::Utf8),
    ("unit", DataType::Utf8),
    ("budget", DataType::UInt64),
    ("cells", DataType::UInt64),
    ("area_km2", DataType::Float64),
    ("members", DataType::UInt64),
    ("population", DataType::UInt64),
];

/// Every column of a group: `first`, the rates, then `last`.
fn columns(
    first: &[(&'static str, DataType)],
    last: &[(&'static str, DataType)],
) -> Vec<(&'static str, DataType)> {
    let rates = RATE_COLUMNS.iter().map(|&name| (name, DataType::Float64));
    first
        .iter()
        .cloned()
        .chain(rates)
        .chain(last.iter().cloned())
        .collect()
}

/// `properties` with the rates added.
fn with_rates(properties: Value, rates: &Rates) -> Map<String, Value> {
    let Value::Object(mut map) = properties else {
        unreachable!("json! of an object literal is an object")
    };
    for (name, value) in RATE_COLUMNS.iter().zip(rates.values()) {
        map.insert((*name).to_string(), value.into());
    }
    map
}

/// A FeatureCollection of `features`.
fn feature_collection(
    features: &[(Map<String, Value>, &MultiPolygon<f64>)],
) -> io::Result<Vec<u8>> {
    let mut file = Vec::new();
    file.write_all(b"{\"type\":\"FeatureCollection\",\"features\":[\n")?;
    for (i, (properties, geometry)) in features.iter().enumerate() {
        if i > 0 {
            file.write_all(b",\n")?;
        }
        file.write_all(b"{\"type\":\"Feature\",\"properties\":")?;
        serde_json::to_writer(&mut file, properties)?;
        file.write_all(b",\"geometry\":")?;
        write_multipolygon(&mut file, geometry)?;
        file.write_all(b"}")?;
    }
    file.write_all(b"\n]}\n")?;
    Ok(file)
}

/// Writes `name.geojson` and, with Parquet in `formats`, `name.parquet` of `features` into
/// `folder`, listed as `kind` and `kind_parquet`; returns their records and the GeoJSON.
fn write_layer(
    folder: &Path,
    analysis: &ScopeAnalysis<'_>,
    (name, kind): (&str, &str),
    features: &[(Map<String, Value>, &MultiPolygon<f64>)],
    (columns, formats): (&[(&str, DataType)], Formats),
) -> Result<(Vec<OutputRecord>, Vec<u8>), ExportError> {
    let scope = &analysis.counts.scope;
    let path = folder.join(format!("{name}.geojson"));
    let geojson = feature_collection(features).map_err(io_error(&path))?;
    let mut records = vec![OutputRecord::new(
        kind,
        relative(scope, &format!("{name}.geojson")),
        features.len() as u64,
        write_bytes(&path, &geojson)?,
    )];
    if formats.contains(Format::Parquet) {
        let path = folder.join(format!("{name}.parquet"));
        let written = write_features(&path, columns, features).map_err(io_error(&path))?;
        records.push(OutputRecord::new(
            &format!("{kind}_parquet"),
            relative(scope, &format!("{name}.parquet")),
            features.len() as u64,
            written,
        ));
    }
    Ok((records, geojson))
}

/// Writes a scope's micro-markets; returns their records and the GeoJSON (for the map).
pub(super) fn write_micromarkets(
    folder: &Path,
    analysis: &ScopeAnalysis<'_>,
    formats: Formats,
) -> Result<(Vec<OutputRecord>, Vec<u8>), ExportError> {
    let scope = &analysis.counts.scope;
    let features: Vec<(Map<String, Value>, &MultiPolygon<f64>)> = analysis
        .markets
        .iter()
        .map(|m| {
            let properties = serde_json::json!({
                "id": m.id,
                "rank": m.rank,
                "scope_kind": scope.kind,
                "region": json_text(&scope.region),
                "city": json_text(&scope.city),
                "segment": analysis.segment_names[m.segment],
                "cells": m.cells.len(),
                "area_km2": round6(m.area_km2),
                "members": m.members,
                "population": m.population,
                "excess_members": round6(m.excess_members),
                "radii": m.radii.iter().map(u32::to_string).collect::<Vec<_>>().join(","),
                "centres": m.centres,
                "p_value": significant6(m.p_value),
                "q_value": significant6(m.q_value),
                "score": round6(m.score),
                "p_fwer": m.p_fwer.map(significant6),
                "stable_coarser": m.stable_coarser,
                "stable_finer": m.stable_finer,
                "centroid_lat": round6(m.centroid_lat),
                "centroid_lon": round6(m.centroid_lng),
            });
            let rates = Rates::of(m.members, m.population, m.scope_members, m.scope_population);
            (with_rates(properties, &rates), &m.geometry)
        })
        .collect();
    let columns = columns(&MARKET_COLUMNS, &[]);
    write_layer(
        folder,
        analysis,
        ("micromarkets", "micromarkets"),
        &features,
        (&columns, formats),
    )
}

/// Writes a scope's campaigns under `budget`: `campaign.geojson` (a feature per segment that
/// selected cells, dissolved), `campaign.csv` (a row per segment) and with Parquet
/// `campaign.parquet`; returns their records and the GeoJSON (for the map).
pub(super) fn write_campaigns(
    folder: &Path,
    analysis: &ScopeAnalysis<'_>,
    budget: u64,
    formats: Formats,
) -> Result<(Vec<OutputRecord>, Vec<u8>), ExportError> {
    let scope = &analysis.counts.scope;
    let privacy = analysis.params.privacy();
    let campaigns = &analysis.campaigns;
    let rows: Vec<Map<String, Value>> = campaigns
        .iter()
        .map(|c| {
            let published =
                privacy.group(c.members, c.population, c.scope_members, c.scope_population);
            let properties = serde_json::json!({
                "scope_kind": scope.kind,
                "region": json_text(&scope.region),
                "city": json_text(&scope.city),
                "segment": analysis.segment_names[c.segment],
                "unit": analysis.params.budget_unit,
                "budget": budget,
                "cells": c.cells.len(),
                "area_km2": round6(c.cells.iter().map(|cell| cell.area_km2()).sum()),
                "members": published.members,
                "population": c.population,
                "suppressed": published.suppressed,
            });
            with_rates(properties, &published.rates)
        })
        .collect();
    let geojson_path = folder.join("campaign.geojson");
    let geometries: Vec<Option<MultiPolygon<f64>>> = campaigns
        .iter()
        .map(|c| {
            (!c.cells.is_empty())
                .then(|| crate::market::dissolve(&c.cells))
                .transpose()
        })
        .collect::<Result<_, _>>()
        .map_err(|e| io_error(&geojson_path)(io::Error::other(e)))?;
    let features: Vec<(Map<String, Value>, &MultiPolygon<f64>)> = rows
        .iter()
        .zip(&geometries)
        .filter_map(|(row, geometry)| Some((row.clone(), geometry.as_ref()?)))
        .collect();
    let columns = columns(&CAMPAIGN_COLUMNS, &[("suppressed", DataType::Boolean)]);
    let (mut records, geojson) = write_layer(
        folder,
        analysis,
        ("campaign", "campaign"),
        &features,
        (&columns, formats),
    )?;
    let mut csv_record = write_csv(folder, "campaign.csv", "campaign_csv", |csv| {
        csv.write_record(columns.iter().map(|(name, _)| name))?;
        for row in &rows {
            csv.write_record(columns.iter().map(|(name, _)| match &row[*name] {
                Value::Null => String::new(),
                Value::String(text) => text.clone(),
                other => other.to_string(),
            }))?;
        }
        Ok(rows.len() as u64)
    })?;
    csv_record.path = relative(scope, "campaign.csv");
    records.push(csv_record);
    Ok((records, geojson))
}
