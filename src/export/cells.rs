//! A scope's cell layers: one pass over the cells the minimum count shows, every segment's
//! figures computed once per cell and handed to each layer the run asked for.

use super::atomic::{AtomicFile, ExportError, Written, io_error};
use super::format::Format;
use super::geometry::{CellOutlines, Shape};
use super::geoparquet::{GeoParquet, ROW_GROUP_ROWS};
use super::manifest::OutputRecord;
use super::relative;
use super::text::{json_text, write_opt_text};
use crate::disclosure::CellFigures;
use crate::scope::ScopeAnalysis;
use arrow_array::ArrayRef;
use arrow_array::builder::{BooleanBuilder, Float64Builder, StringBuilder, UInt64Builder};
use arrow_schema::{DataType, Field};
use h3o::CellIndex;
use rayon::prelude::*;
use std::borrow::Cow;
use std::collections::HashMap;
use std::fmt::Write as _;
use std::io::{self, Write};
use std::path::{Path, PathBuf};
use std::sync::Arc;

/// Per-segment property suffixes of the lean GeoJSON layers, in output order.
const LEAN_PROPERTIES: [&str; 4] = ["count", "penetration", "lift", "in_micromarket"];

/// Column names of `cells.csv`.
const CSV_HEADER: [&str; 17] = [
    "hex_id",
    "region",
    "city",
    "segment",
    "population",
    "count",
    "penetration",
    "penetration_low",
    "penetration_high",
    "lift",
    "lift_low",
    "lift_high",
    "gi",
    "p_value",
    "q_value",
    "hot",
    "in_micromarket",
];

/// Per-segment float columns of `cells.parquet` and `cells.fgb`, after `<segment>_count`.
const TYPED_FLOATS: [&str; 9] = [
    "penetration",
    "penetration_low",
    "penetration_high",
    "lift",
    "lift_low",
    "lift_high",
    "gi",
    "p_value",
    "q_value",
];

/// Shown cells whose rows are built together (figures and shapes in parallel) before every
/// layer writes them, each layer on its own thread: a scope as large as the whole study area
/// keeps both cores busy, and a chunk's figures (about 2 MB with 31 segments) stay in cache
/// between the pass that computes them and the layers that read them segment by segment
/// (512 cells wrote `benches/export.rs`'s GeoParquet faster than 2,048).
const CHUNK_CELLS: usize = 512;

/// One shown cell with every segment's figures as published.
struct CellRow<'a> {
    cell: CellIndex,
    /// The region and city the cell's consumers mostly live in (empty when none).
    place: (&'a str, &'a str),
    population: u64,
    figures: &'a [CellFigures],
    /// Per segment: the cell is part of one of its micro-markets.
    in_market: &'a [bool],
    /// The cell's shape, built once for all the layers that draw it (none for CSV alone).
    shape: Option<Cow<'a, Shape>>,
}

impl CellRow<'_> {
    /// The cell's shape.
    fn shape(&self) -> &Shape {
        self.shape
            .as_ref()
            .expect("built for every layer that draws cells")
    }
}

/// A layer being written.
trait CellLayer: Send {
    /// Appends cells, in order.
    fn rows(&mut self, rows: &[CellRow<'_>]) -> io::Result<()>;
    /// Completes the file; returns what was written.
    fn commit(self: Box<Self>) -> io::Result<Written>;
}

/// A layer with what its manifest record needs.
struct Output {
    kind: &'static str,
    name: &'static str,
    path: PathBuf,
    /// Rows per shown cell (cells × segments for the long CSV).
    rows_per_cell: u64,
    layer: Box<dyn CellLayer>,
}

/// Writes a scope's cell layers in `formats` into `folder`: the cells the minimum count shows,
/// with every segment's figures as published; returns their manifest records. A scope where it
/// shows no cell has no cell layer (most counties of a national run: an empty GeoParquet file
/// is still its schema, about 12 KB with 27 segments).
pub(super) fn write_cells(
    folder: &Path,
    analysis: &ScopeAnalysis<'_>,
    options: &super::ExportOptions<'_>,
) -> Result<Vec<OutputRecord>, ExportError> {
    let formats = options.formats;
    let counts: &crate::stats::ScopeCounts = &analysis.counts;
    let scope = &counts.scope;
    let segments = counts.segments;
    let privacy = analysis.params.privacy();
    let shown = privacy.shown_cells(counts);
    if shown.is_empty() {
        return Ok(Vec::new());
    }
    let mut outputs = formats
        .iter()
        .map(|format| open_layer(folder, format, analysis, shown.len()))
        .collect::<Result<Vec<Output>, ExportError>>()?;
    let big_n = counts.total_population();
    let big_k: Vec<u64> = (0..segments).map(|s| counts.total_members(s)).collect();
    // The segments whose micro-markets hold each cell, looked up once per cell.
    let mut market_segments: HashMap<CellIndex, Vec<usize>> = HashMap::new();
    for market in &analysis.markets {
        for &cell in &market.cells {
            market_segments
                .entry(cell)
                .or_default()
                .push(market.segment);
        }
    }
    let needs_shape = formats.draws_cells();
    let mut figures = Vec::new();
    let mut in_market = Vec::new();
    for chunk in shown.chunks(CHUNK_CELLS) {
        figures.resize(chunk.len() * segments, CellFigures::default());
        in_market.resize(chunk.len() * segments, false);
        let rows: Vec<CellRow<'_>> = chunk
            .par_iter()
            .zip(figures.par_chunks_mut(segments))
            .zip(in_market.par_chunks_mut(segments))
            .map(|((&c, figures), in_market)| {
                let cell = counts.cells[c];
                for (s, f) in figures.iter_mut().enumerate() {
                    *f = privacy.cell(counts, &analysis.hot_spots, (c, s), (big_k[s], big_n));
                }
                in_market.fill(false);
                for &s in market_segments.get(&cell).map_or(&[][..], Vec::as_slice) {
                    in_market[s] = true;
                }
                let place = options
                    .places
                    .map_or((scope.region.as_str(), scope.city.as_str()), |places| {
                        places.names(counts, cell, options.boundaries)
                    });
                CellRow {
                    cell,
                    place,
                    population: u64::from(counts.population[c]),
                    figures,
                    in_market,
                    shape: needs_shape.then(|| CellOutlines::shape(options.outlines, cell)),
                }
            })
            .collect();
        outputs
            .par_iter_mut()
            .try_for_each(|output| output.layer.rows(&rows).map_err(io_error(&output.path)))?;
    }
    outputs
        .into_iter()
        .map(|output| {
            let written = output.layer.commit().map_err(io_error(&output.path))?;
            Ok(OutputRecord::new(
                output.kind,
                relative(scope, output.name),
                shown.len() as u64 * output.rows_per_cell,
                written,
            ))
        })
        .collect()
}

/// Opens the layer of `format` in `folder`, for `cells` rows.
fn open_layer(
    folder: &Path,
    format: Format,
    analysis: &ScopeAnalysis<'_>,
    cells: usize,
) -> Result<Output, ExportError> {
    let names = analysis.segment_names;
    let (kind, name, rows_per_cell) = match format {
        Format::Geojson => ("cells", "cells.geojson", 1),
        Format::Geojsonseq => ("cells_geojsonseq", "cells.geojsons", 1),
        Format::Parquet => ("cells_parquet", "cells.parquet", 1),
        Format::Csv => ("cells_csv", "cells.csv", names.len() as u64),
        Format::Fgb => ("cells_fgb", "cells.fgb", 1),
    };
    let path = folder.join(name);
    let layer: io::Result<Box<dyn CellLayer>> = match format {
        Format::Geojson => LeanGeojson::create(&path, names, false).map(|l| Box::new(l) as _),
        Format::Geojsonseq => LeanGeojson::create(&path, names, true).map(|l| Box::new(l) as _),
        Format::Parquet => CellsParquet::create(&path, names, cells).map(|l| Box::new(l) as _),
        Format::Csv => CellsCsv::create(&path, names).map(|l| Box::new(l) as _),
        Format::Fgb => CellsFgb::create(&path, names).map(|l| Box::new(l) as _),
    };
    Ok(Output {
        kind,
        name,
        rows_per_cell,
        layer: layer.map_err(io_error(&path))?,
        path,
    })
}

/// `cells.geojson` (a FeatureCollection) or `cells.geojsons` (RFC 8142: each feature after an
/// RS and before a line feed), with the lean properties: per segment count, penetration, lift
/// and the micro-market flag, each left out where it is null or false except in the first
/// feature.
struct LeanGeojson {
    file: AtomicFile,
    /// `,"<segment>_<suffix>":` per segment and [`LEAN_PROPERTIES`] entry, escaped once.
    keys: Vec<[String; 4]>,
    sequence: bool,
    features: u64,
}

/// Cells whose text (GeoJSON features, CSV rows) one thread formats into one buffer.
const TEXT_BATCH: usize = 64;

/// A text layer's `rows` formatted on several threads, [`TEXT_BATCH`] cells to a buffer by
/// `format` (given a batch and the position of its first row), the buffers in order.
fn format_batches(
    rows: &[CellRow<'_>],
    format: impl Fn(&[CellRow<'_>], usize) -> io::Result<Vec<u8>> + Sync,
) -> io::Result<Vec<Vec<u8>>> {
    rows.par_chunks(TEXT_BATCH)
        .enumerate()
        .map(|(b, batch)| format(batch, b * TEXT_BATCH))
        .collect()
}

impl LeanGeojson {
    fn create(path: &Path, names: &[String], sequence: bool) -> io::Result<Self> {
        let key = |name: &str, suffix: &str| {
            format!(",{}:", serde_json::Value::from(format!("{name}_{suffix}")))
        };
        let keys = names
            .iter()
            .map(|n| LEAN_PROPERTIES.map(|suffix| key(n, suffix)))
            .collect();
        let mut file = AtomicFile::create(path)?;
        if !sequence {
            file.write_all(b"{\"type\":\"FeatureCollection\",\"features\":[\n")?;
        }
        Ok(LeanGeojson {
            file,
            keys,
            sequence,
            features: 0,
        })
    }

    /// Appends feature number `n` of the layer (from 0), with its separator, to `w`.
    fn feature(&self, w: &mut Vec<u8>, row: &CellRow<'_>, n: u64) -> io::Result<()> {
        if self.sequence {
            w.write_all(b"\x1e")?;
        } else if n > 0 {
            w.write_all(b",\n")?;
        }
        write!(
            w,
            "{{\"type\":\"Feature\",\"properties\":{{\"hex_id\":\"{}\",\"region\":",
            row.cell
        )?;
        serde_json::to_writer(&mut *w, &json_text(row.place.0))?;
        w.write_all(b",\"city\":")?;
        serde_json::to_writer(&mut *w, &json_text(row.place.1))?;
        write!(w, ",\"population\":{}", row.population)?;
        // The first feature lists every property, so that readers taking their columns from it
        // (kepler.gl) see them all; later ones leave out nulls and false flags.
        let every = n == 0;
        for ((figures, keys), &in_market) in row.figures.iter().zip(&self.keys).zip(row.in_market) {
            if every || figures.count.is_some() {
                w.write_all(keys[0].as_bytes())?;
                serde_json::to_writer(&mut *w, &figures.count)?;
            }
            if every || figures.rates.penetration.is_some() {
                w.write_all(keys[1].as_bytes())?;
                serde_json::to_writer(&mut *w, &figures.rates.penetration)?;
            }
            if every || figures.rates.lift.is_some() {
                w.write_all(keys[2].as_bytes())?;
                serde_json::to_writer(&mut *w, &figures.rates.lift)?;
            }
            if every || in_market {
                w.write_all(keys[3].as_bytes())?;
                w.write_all(if in_market { b"true" } else { b"false" })?;
            }
        }
        w.write_all(b"},\"geometry\":")?;
        row.shape().write_geojson(w)?;
        w.write_all(if self.sequence { b"}\n" } else { b"}" })
    }
}

impl CellLayer for LeanGeojson {
    fn rows(&mut self, rows: &[CellRow<'_>]) -> io::Result<()> {
        let first = self.features;
        let batches = format_batches(rows, |batch, at| {
            let mut w = Vec::new();
            for (i, row) in batch.iter().enumerate() {
                self.feature(&mut w, row, first + (at + i) as u64)?;
            }
            Ok(w)
        })?;
        for batch in &batches {
            self.file.write_all(batch)?;
        }
        self.features += rows.len() as u64;
        Ok(())
    }

    fn commit(mut self: Box<Self>) -> io::Result<Written> {
        if !self.sequence {
            self.file.write_all(b"\n]}\n")?;
        }
        self.file.commit()
    }
}

/// `cells.csv`: a row per cell × segment with every figure.
struct CellsCsv {
    file: AtomicFile,
    names: Vec<String>,
}

impl CellsCsv {
    fn create(path: &Path, names: &[String]) -> io::Result<Self> {
        let mut header = csv::Writer::from_writer(Vec::new());
        header.write_record(CSV_HEADER)?;
        let mut file = AtomicFile::create(path)?;
        file.write_all(
            &header
                .into_inner()
                .map_err(csv::IntoInnerError::into_error)?,
        )?;
        Ok(CellsCsv {
            file,
            names: names.to_vec(),
        })
    }

    /// Appends a cell's rows, one per segment, to `csv`; `scratch` holds text between calls.
    fn cell(
        &self,
        csv: &mut csv::Writer<Vec<u8>>,
        [leading, text]: &mut [String; 2],
        row: &CellRow<'_>,
    ) -> io::Result<()> {
        leading.clear();
        write!(leading, "{}", row.cell).map_err(io::Error::other)?;
        let hex_len = leading.len();
        write!(leading, "{}", row.population).map_err(io::Error::other)?;
        let (hex_id, population) = leading.split_at(hex_len);
        for ((figures, name), in_market) in row.figures.iter().zip(&self.names).zip(row.in_market) {
            for field in [hex_id, row.place.0, row.place.1, name, population] {
                csv.write_field(field)?;
            }
            write_opt_text(text, figures.count);
            csv.write_field(&*text)?;
            for value in figures.floats() {
                write_opt_text(text, value);
                csv.write_field(&*text)?;
            }
            for flag in [figures.hot, *in_market] {
                csv.write_field(if flag { "true" } else { "false" })?;
            }
            csv.write_record(None::<&[u8]>)?;
        }
        Ok(())
    }
}

impl CellLayer for CellsCsv {
    fn rows(&mut self, rows: &[CellRow<'_>]) -> io::Result<()> {
        let batches = format_batches(rows, |batch, _| {
            let mut csv = csv::Writer::from_writer(Vec::new());
            let mut scratch = [String::new(), String::new()];
            for row in batch {
                self.cell(&mut csv, &mut scratch, row)?;
            }
            csv.into_inner().map_err(csv::IntoInnerError::into_error)
        })?;
        for batch in &batches {
            self.file.write_all(batch)?;
        }
        Ok(())
    }

    fn commit(self: Box<Self>) -> io::Result<Written> {
        self.file.commit()
    }
}

/// One segment's columns of `cells.parquet` being built.
struct SegmentColumns {
    count: UInt64Builder,
    floats: [Float64Builder; 9],
    hot: BooleanBuilder,
    micromarket: BooleanBuilder,
}

/// `cells.parquet`: GeoParquet with every figure, typed, nulls where the minimum count hides
/// a value.
struct CellsParquet {
    file: GeoParquet,
    hex_id: StringBuilder,
    h3: UInt64Builder,
    regions: StringBuilder,
    cities: StringBuilder,
    population: UInt64Builder,
    segments: Vec<SegmentColumns>,
    pending: usize,
}

impl CellsParquet {
    fn create(path: &Path, names: &[String], rows: usize) -> io::Result<Self> {
        let mut fields = vec![
            Field::new("hex_id", DataType::Utf8, false),
            Field::new("h3", DataType::UInt64, false),
            Field::new("region", DataType::Utf8, true),
            Field::new("city", DataType::Utf8, true),
            Field::new("population", DataType::UInt64, false),
        ];
        for name in names {
            fields.push(Field::new(format!("{name}_count"), DataType::UInt64, true));
            for suffix in TYPED_FLOATS {
                let nullable = !matches!(suffix, "gi" | "p_value" | "q_value");
                fields.push(Field::new(
                    format!("{name}_{suffix}"),
                    DataType::Float64,
                    nullable,
                ));
            }
            fields.push(Field::new(format!("{name}_hot"), DataType::Boolean, false));
            fields.push(Field::new(
                format!("{name}_in_micromarket"),
                DataType::Boolean,
                false,
            ));
        }
        // Builders sized for a row group at once, instead of grown by doubling from 1,024.
        let capacity = rows.min(ROW_GROUP_ROWS);
        let hex_ids = || StringBuilder::with_capacity(capacity, capacity * 15);
        let names_of = || StringBuilder::with_capacity(capacity, capacity * 8);
        Ok(CellsParquet {
            file: GeoParquet::create(path, fields, rows)?,
            hex_id: hex_ids(),
            h3: UInt64Builder::with_capacity(capacity),
            regions: names_of(),
            cities: names_of(),
            population: UInt64Builder::with_capacity(capacity),
            segments: names
                .iter()
                .map(|_| SegmentColumns {
                    count: UInt64Builder::with_capacity(capacity),
                    floats: std::array::from_fn(|_| Float64Builder::with_capacity(capacity)),
                    hot: BooleanBuilder::with_capacity(capacity),
                    micromarket: BooleanBuilder::with_capacity(capacity),
                })
                .collect(),
            pending: 0,
        })
    }

    /// Writes the rows built so far as one row group.
    fn flush(&mut self) -> io::Result<()> {
        let mut columns: Vec<ArrayRef> = vec![
            Arc::new(self.hex_id.finish()),
            Arc::new(self.h3.finish()),
            Arc::new(self.regions.finish()),
            Arc::new(self.cities.finish()),
            Arc::new(self.population.finish()),
        ];
        for segment in &mut self.segments {
            columns.push(Arc::new(segment.count.finish()));
            columns.extend(
                segment
                    .floats
                    .iter_mut()
                    .map(|f| Arc::new(f.finish()) as ArrayRef),
            );
            columns.push(Arc::new(segment.hot.finish()));
            columns.push(Arc::new(segment.micromarket.finish()));
        }
        self.pending = 0;
        self.file.write(columns)
    }
}

impl CellsParquet {
    /// Appends `rows`, which fit in the row group being built: the per-cell columns on one
    /// thread while the segments' columns are appended on the others.
    fn append(&mut self, rows: &[CellRow<'_>]) -> io::Result<()> {
        let CellsParquet {
            file,
            hex_id,
            h3,
            regions,
            cities,
            population,
            segments,
            ..
        } = self;
        let cells = || {
            for row in rows {
                write!(hex_id, "{}", row.cell).map_err(io::Error::other)?;
                hex_id.append_value("");
                h3.append_value(u64::from(row.cell));
                regions.append_option(json_text(row.place.0));
                cities.append_option(json_text(row.place.1));
                population.append_value(row.population);
                file.push_geometry(row.shape());
            }
            Ok::<_, io::Error>(())
        };
        let figures = || {
            segments
                .par_iter_mut()
                .enumerate()
                .for_each(|(s, columns)| {
                    for row in rows {
                        let figures = &row.figures[s];
                        columns.count.append_option(figures.count);
                        for (builder, value) in columns.floats.iter_mut().zip(figures.floats()) {
                            builder.append_option(value);
                        }
                        columns.hot.append_value(figures.hot);
                        columns.micromarket.append_value(row.in_market[s]);
                    }
                });
        };
        rayon::join(cells, figures).0?;
        self.pending += rows.len();
        if self.pending == ROW_GROUP_ROWS {
            self.flush()?;
        }
        Ok(())
    }
}

impl CellLayer for CellsParquet {
    fn rows(&mut self, mut rows: &[CellRow<'_>]) -> io::Result<()> {
        while !rows.is_empty() {
            let (now, later) = rows.split_at(rows.len().min(ROW_GROUP_ROWS - self.pending));
            self.append(now)?;
            rows = later;
        }
        Ok(())
    }

    fn commit(mut self: Box<Self>) -> io::Result<Written> {
        if self.pending > 0 {
            self.flush()?;
        }
        self.file.commit()
    }
}

/// `cells.fgb`: FlatGeobuf with its packed Hilbert R-tree index and every figure, typed, for
/// QGIS and GDAL without Parquet (GDAL's driver since 3.1). Columns as in `cells.parquet`; a
/// hidden value is an absent (null) property.
struct CellsFgb {
    path: PathBuf,
    writer: flatgeobuf::FgbWriter<'static>,
    /// Per segment: the names of its count, floats, hot and micro-market columns.
    columns: Vec<Vec<String>>,
}

/// Columns before the per-segment ones.
const FGB_LEADING: [(&str, flatgeobuf::ColumnType); 5] = [
    ("hex_id", flatgeobuf::ColumnType::String),
    ("h3", flatgeobuf::ColumnType::Long),
    ("region", flatgeobuf::ColumnType::String),
    ("city", flatgeobuf::ColumnType::String),
    ("population", flatgeobuf::ColumnType::Long),
];

impl CellsFgb {
    fn create(path: &Path, names: &[String]) -> io::Result<Self> {
        use flatgeobuf::{ColumnType, FgbCrs, FgbWriter, FgbWriterOptions, GeometryType};
        let fgb_error = |e: flatgeobuf::Error| io::Error::other(e.to_string());
        let mut writer = FgbWriter::create_with_options(
            "cells",
            GeometryType::MultiPolygon,
            FgbWriterOptions {
                write_index: true,
                crs: FgbCrs {
                    code: 4326,
                    ..FgbCrs::default()
                },
                ..FgbWriterOptions::default()
            },
        )
        .map_err(fgb_error)?;
        for (name, kind) in FGB_LEADING {
            writer.add_column(name, kind, |_, column| {
                column.nullable = matches!(name, "region" | "city");
            });
        }
        let columns: Vec<Vec<String>> = names
            .iter()
            .map(|n| {
                std::iter::once("count")
                    .chain(TYPED_FLOATS)
                    .chain(["hot", "in_micromarket"])
                    .map(|suffix| format!("{n}_{suffix}"))
                    .collect()
            })
            .collect();
        for segment in &columns {
            for (i, name) in segment.iter().enumerate() {
                let kind = match i {
                    0 => ColumnType::Long,
                    1..=9 => ColumnType::Double,
                    _ => ColumnType::Bool,
                };
                writer.add_column(name, kind, |_, column| column.nullable = i <= 9);
            }
        }
        Ok(CellsFgb {
            path: path.to_path_buf(),
            writer,
            columns,
        })
    }
}

impl CellsFgb {
    /// Appends one cell: the crate's writer takes a feature at a time.
    fn feature(&mut self, row: &CellRow<'_>) -> io::Result<()> {
        use geozero::{ColumnValue, PropertyProcessor};
        let geometry = geo::Geometry::MultiPolygon(row.shape().to_geo());
        let hex_id = row.cell.to_string();
        let columns = &self.columns;
        let mut failed = None;
        self.writer
            .add_feature_geom(geometry, |feature| {
                let mut at = 0;
                let mut put = |name: &str, value: Option<ColumnValue<'_>>| {
                    if let Some(value) = value {
                        if let Err(e) = feature.property(at, name, &value) {
                            failed = Some(e.to_string());
                        }
                    }
                    at += 1;
                };
                put("hex_id", Some(ColumnValue::String(&hex_id)));
                put("h3", Some(ColumnValue::Long(u64::from(row.cell) as i64)));
                put("region", json_text(row.place.0).map(ColumnValue::String));
                put("city", json_text(row.place.1).map(ColumnValue::String));
                put("population", Some(ColumnValue::Long(row.population as i64)));
                for ((names, figures), in_market) in
                    columns.iter().zip(row.figures).zip(row.in_market)
                {
                    put(
                        &names[0],
                        figures.count.map(|k| ColumnValue::Long(k as i64)),
                    );
                    for (name, value) in names[1..10].iter().zip(figures.floats()) {
                        put(name, value.map(ColumnValue::Double));
                    }
                    put(&names[10], Some(ColumnValue::Bool(figures.hot)));
                    put(&names[11], Some(ColumnValue::Bool(*in_market)));
                }
            })
            .map_err(|e| io::Error::other(e.to_string()))?;
        failed.map_or(Ok(()), |e| Err(io::Error::other(e)))
    }
}

impl CellLayer for CellsFgb {
    fn rows(&mut self, rows: &[CellRow<'_>]) -> io::Result<()> {
        rows.iter().try_for_each(|row| self.feature(row))
    }

    fn commit(self: Box<Self>) -> io::Result<Written> {
        let mut file = AtomicFile::create(&self.path)?;
        self.writer
            .write(&mut file)
            .map_err(|e| io::Error::other(e.to_string()))?;
        file.commit()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::disclosure::Rates;
    use h3o::{LatLng, Resolution};

    /// Writes `cells` rows through the layer of `format`, all at once or one call per row;
    /// returns the file's bytes.
    fn written(
        format: Format,
        cells: &[CellIndex],
        figures: &[CellFigures],
        at_once: bool,
    ) -> Vec<u8> {
        let names = ["a, b".to_string(), "c".to_string()];
        let dir = tempfile::tempdir().expect("tempdir");
        let path = dir.path().join("layer");
        let mut layer: Box<dyn CellLayer> = match format {
            Format::Geojson => {
                Box::new(LeanGeojson::create(&path, &names, false).expect("created"))
            }
            Format::Geojsonseq => {
                Box::new(LeanGeojson::create(&path, &names, true).expect("created"))
            }
            Format::Csv => Box::new(CellsCsv::create(&path, &names).expect("created")),
            _ => Box::new(CellsParquet::create(&path, &names, cells.len()).expect("created")),
        };
        let in_market = [true, false];
        let rows: Vec<CellRow<'_>> = cells
            .iter()
            .zip(figures.chunks(2))
            .enumerate()
            .map(|(i, (&cell, figures))| CellRow {
                cell,
                place: ("North, East", if i % 3 == 0 { "" } else { "Town" }),
                population: 10 + i as u64,
                figures,
                in_market: &in_market,
                shape: Some(Cow::Owned(Shape::of_cell(cell))),
            })
            .collect();
        if at_once {
            layer.rows(&rows).expect("written");
        } else {
            for row in &rows {
                layer.rows(std::slice::from_ref(row)).expect("written");
            }
        }
        layer.commit().expect("committed");
        std::fs::read(&path).expect("read")
    }

    #[test]
    fn a_layer_writes_the_same_bytes_in_batches_as_row_by_row() {
        let origin = LatLng::new(48.85, 2.35)
            .expect("valid")
            .to_cell(Resolution::Nine);
        let cells: Vec<CellIndex> = origin.grid_disk::<Vec<_>>(8)[..3 * TEXT_BATCH + 5].to_vec();
        let figures: Vec<CellFigures> = (0..cells.len() * 2)
            .map(|i| CellFigures {
                count: (i % 5 != 0).then_some(i as u64),
                rates: Rates::of(i as u64 % 7, 20, 30, 400),
                gi: i as f64 / 10.0,
                p_value: 0.5,
                q_value: 0.25,
                hot: i % 4 == 0,
                suppressed: i % 5 == 0,
            })
            .collect();
        for format in [
            Format::Geojson,
            Format::Geojsonseq,
            Format::Csv,
            Format::Parquet,
        ] {
            let batched = written(format, &cells, &figures, true);
            assert!(batched.len() > 1000, "{format}");
            assert!(
                batched == written(format, &cells, &figures, false),
                "{format}"
            );
        }
    }
}
