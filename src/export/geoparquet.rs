//! GeoParquet 1.1 files: WKB polygons with a `bbox` covering column and the `geo` metadata,
//! zstd-compressed (Snappy when small), written a row group at a time, its columns encoded and
//! compressed in parallel, and hashed on the way.

use super::atomic::{AtomicFile, Written};
use super::geometry::Shape;
use arrow_array::builder::{BinaryBuilder, Float64Builder};
use arrow_array::{ArrayRef, BooleanArray, Float64Array, StringArray, StructArray, UInt64Array};
use arrow_schema::{DataType, Field, Fields, Schema, SchemaRef};
use geo::MultiPolygon;
use parquet::arrow::ArrowWriter;
use parquet::arrow::arrow_writer::{
    ArrowColumnChunk, ArrowRowGroupWriterFactory, ArrowWriterOptions, compute_leaves,
};
use parquet::basic::{Compression, ZstdLevel};
use parquet::file::metadata::KeyValue;
use parquet::file::properties::{EnabledStatistics, WriterProperties};
use parquet::file::writer::SerializedFileWriter;
use parquet::schema::types::ColumnPath;
use rayon::prelude::*;
use serde_json::{Map, Value};
use std::io;
use std::path::Path;
use std::sync::Arc;

/// Rows per row group (and per batch the callers build).
pub(crate) const ROW_GROUP_ROWS: usize = 65_536;

/// Files of at least this many rows are zstd-compressed, smaller ones Snappy-compressed. The
/// Parquet writer makes a codec per column chunk, and making a zstd context probes the CPU's
/// features (`cpuid`), which traps to the hypervisor on a virtual machine: 8% of a 1 M-consumer
/// run's CPU time for its 10,000 column chunks (measured with perf on a 2-core VM), more than
/// zstd saves over Snappy on a few thousand values per column.
const ZSTD_MIN_ROWS: usize = 4_096;

/// The four bounds of the `bbox` covering column.
const BBOX: [&str; 4] = ["xmin", "ymin", "xmax", "ymax"];

/// A GeoParquet file being written: the caller's attribute columns, then `geometry` and `bbox`.
pub(crate) struct GeoParquet {
    writer: SerializedFileWriter<AtomicFile>,
    /// Column writers for each row group, encoded apart and spliced into the file in order.
    columns: ArrowRowGroupWriterFactory,
    row_groups: usize,
    schema: SchemaRef,
    bbox_fields: Fields,
    geometry: BinaryBuilder,
    bbox: [Float64Builder; 4],
    wkb: Vec<u8>,
    bounds: [f64; 4],
    polygons: bool,
    multipolygons: bool,
}

fn parquet_error(e: parquet::errors::ParquetError) -> io::Error {
    io::Error::other(e)
}

impl GeoParquet {
    /// Starts `path` with `attributes` before the geometry columns, for `rows` rows (which
    /// choose the compression).
    pub(crate) fn create(path: &Path, attributes: Vec<Field>, rows: usize) -> io::Result<Self> {
        let bbox_fields: Fields = BBOX
            .iter()
            .map(|name| Field::new(*name, DataType::Float64, false))
            .collect();
        let mut fields = attributes;
        fields.push(Field::new("geometry", DataType::Binary, false));
        fields.push(Field::new(
            "bbox",
            DataType::Struct(bbox_fields.clone()),
            false,
        ));
        let schema = Arc::new(Schema::new(fields));
        // Statistics where readers prune on them: the bbox covering (spatial filters) and the
        // cell id; none for the figures, whose min/max per page cost more than they save.
        let compression = if rows >= ZSTD_MIN_ROWS {
            Compression::ZSTD(ZstdLevel::try_new(1).map_err(parquet_error)?)
        } else {
            Compression::SNAPPY
        };
        let mut properties = WriterProperties::builder()
            .set_compression(compression)
            .set_max_row_group_row_count(Some(ROW_GROUP_ROWS))
            .set_dictionary_enabled(false)
            .set_statistics_enabled(EnabledStatistics::None)
            .set_column_statistics_enabled(ColumnPath::from("h3"), EnabledStatistics::Chunk);
        for bound in BBOX {
            let path = ColumnPath::new(vec!["bbox".to_string(), bound.to_string()]);
            properties = properties.set_column_statistics_enabled(path, EnabledStatistics::Chunk);
        }
        let properties = properties.build();
        let file = AtomicFile::create(path)?;
        // The Parquet schema alone types every column; an embedded Arrow schema would add tens
        // of kilobytes to each scope's file.
        let options = ArrowWriterOptions::new()
            .with_properties(properties)
            .with_skip_arrow_metadata(true);
        let (writer, columns) =
            ArrowWriter::try_new_with_options(file, Arc::clone(&schema), options)
                .and_then(ArrowWriter::into_serialized_writer)
                .map_err(parquet_error)?;
        Ok(GeoParquet {
            writer,
            columns,
            row_groups: 0,
            schema,
            bbox_fields,
            geometry: BinaryBuilder::new(),
            bbox: std::array::from_fn(|_| Float64Builder::new()),
            wkb: Vec::new(),
            bounds: [
                f64::INFINITY,
                f64::INFINITY,
                f64::NEG_INFINITY,
                f64::NEG_INFINITY,
            ],
            polygons: false,
            multipolygons: false,
        })
    }

    /// Adds the geometry of the next row.
    pub(crate) fn push_geometry(&mut self, shape: &Shape) {
        self.wkb.clear();
        let (bounds, multi) = shape.write_wkb(&mut self.wkb);
        self.geometry.append_value(&self.wkb);
        for (i, builder) in self.bbox.iter_mut().enumerate() {
            builder.append_value(bounds[i]);
        }
        self.bounds = [
            self.bounds[0].min(bounds[0]),
            self.bounds[1].min(bounds[1]),
            self.bounds[2].max(bounds[2]),
            self.bounds[3].max(bounds[3]),
        ];
        self.multipolygons |= multi;
        self.polygons |= !multi;
    }

    /// Writes the rows given since the last batch as one row group (callers give at most
    /// [`ROW_GROUP_ROWS`]): `attributes` in schema order, one value per geometry pushed. Each
    /// column is encoded and compressed on its own thread.
    pub(crate) fn write(&mut self, mut attributes: Vec<ArrayRef>) -> io::Result<()> {
        attributes.push(Arc::new(self.geometry.finish()));
        let bbox: Vec<ArrayRef> = self
            .bbox
            .iter_mut()
            .map(|b| Arc::new(b.finish()) as ArrayRef)
            .collect();
        attributes.push(Arc::new(
            StructArray::try_new(self.bbox_fields.clone(), bbox, None).map_err(io::Error::other)?,
        ));
        let mut leaves = Vec::new();
        for (field, array) in self.schema.fields().iter().zip(&attributes) {
            leaves.extend(compute_leaves(field, array).map_err(parquet_error)?);
        }
        let writers = self
            .columns
            .create_column_writers(self.row_groups)
            .map_err(parquet_error)?;
        let chunks = writers
            .into_par_iter()
            .zip(leaves)
            .map(|(mut writer, leaf)| {
                writer.write(&leaf)?;
                writer.close()
            })
            .collect::<Result<Vec<ArrowColumnChunk>, _>>()
            .map_err(parquet_error)?;
        let mut group = self.writer.next_row_group().map_err(parquet_error)?;
        for chunk in chunks {
            chunk
                .append_to_row_group(&mut group)
                .map_err(parquet_error)?;
        }
        group.close().map_err(parquet_error)?;
        self.row_groups += 1;
        Ok(())
    }

    /// Adds the `geo` metadata, closes the file and gives it its final name.
    pub(crate) fn commit(mut self) -> io::Result<Written> {
        let mut types = Vec::new();
        if self.polygons {
            types.push("Polygon");
        }
        if self.multipolygons {
            types.push("MultiPolygon");
        }
        let mut column = serde_json::json!({
            "encoding": "WKB",
            "geometry_types": types,
            "orientation": "counterclockwise",
            "covering": {"bbox": {
                "xmin": ["bbox", "xmin"],
                "ymin": ["bbox", "ymin"],
                "xmax": ["bbox", "xmax"],
                "ymax": ["bbox", "ymax"],
            }},
        });
        if self.bounds[0].is_finite() {
            column["bbox"] = serde_json::json!(self.bounds);
        }
        let geo = serde_json::json!({
            "version": "1.1.0",
            "primary_column": "geometry",
            "columns": {"geometry": column},
        });
        self.writer
            .append_key_value_metadata(KeyValue::new("geo".into(), geo.to_string()));
        self.writer.into_inner().map_err(parquet_error)?.commit()
    }
}

/// Writes `features` (properties and geometry) as one GeoParquet file with `columns` typed as
/// given (text, unsigned integers, floats or booleans; absent or null values are nulls).
pub(crate) fn write_features(
    path: &Path,
    columns: &[(&str, DataType)],
    features: &[(Map<String, Value>, &MultiPolygon<f64>)],
) -> io::Result<Written> {
    let fields = columns
        .iter()
        .map(|(name, kind)| Field::new(*name, kind.clone(), true))
        .collect();
    let mut file = GeoParquet::create(path, fields, features.len())?;
    for chunk in features.chunks(ROW_GROUP_ROWS) {
        let arrays = columns
            .iter()
            .map(|(name, kind)| {
                let values = chunk.iter().map(|(properties, _)| properties.get(*name));
                let array: ArrayRef = match kind {
                    DataType::UInt64 => Arc::new(
                        values
                            .map(|v| v.and_then(Value::as_u64))
                            .collect::<UInt64Array>(),
                    ),
                    DataType::Float64 => Arc::new(
                        values
                            .map(|v| v.and_then(Value::as_f64))
                            .collect::<Float64Array>(),
                    ),
                    DataType::Boolean => Arc::new(
                        values
                            .map(|v| v.and_then(Value::as_bool))
                            .collect::<BooleanArray>(),
                    ),
                    _ => Arc::new(
                        values
                            .map(|v| v.and_then(Value::as_str))
                            .collect::<StringArray>(),
                    ),
                };
                array
            })
            .collect();
        for (_, geometry) in chunk {
            file.push_geometry(&Shape::new(geometry));
        }
        file.write(arrays)?;
    }
    file.commit()
}

#[cfg(test)]
mod tests {
    use super::*;
    use geo::{LineString, Polygon};
    use parquet::file::metadata::ColumnChunkMetaData;
    use parquet::file::reader::{FileReader, SerializedFileReader};

    /// The codec of every column chunk of a file of `rows` one-column features.
    fn codecs(rows: usize) -> Vec<Compression> {
        let dir = tempfile::tempdir().expect("tempdir");
        let path = dir.path().join("layer.parquet");
        let square = MultiPolygon(vec![Polygon::new(
            LineString::from(vec![(0.0, 0.0), (1.0, 0.0), (1.0, 1.0), (0.0, 0.0)]),
            vec![],
        )]);
        let features: Vec<(Map<String, Value>, &MultiPolygon<f64>)> = (0..rows)
            .map(|i| {
                let mut properties = Map::new();
                properties.insert("n".into(), Value::from(i as u64));
                (properties, &square)
            })
            .collect();
        write_features(&path, &[("n", DataType::UInt64)], &features).expect("written");
        let reader = SerializedFileReader::new(std::fs::File::open(&path).expect("file"))
            .expect("a Parquet file");
        reader
            .metadata()
            .row_groups()
            .iter()
            .flat_map(|group| group.columns().iter().map(ColumnChunkMetaData::compression))
            .collect()
    }

    #[test]
    fn small_files_are_snappy_and_larger_ones_zstd() {
        let small = codecs(ZSTD_MIN_ROWS - 1);
        assert!(!small.is_empty());
        assert!(small.iter().all(|c| *c == Compression::SNAPPY), "{small:?}");
        let large = codecs(ZSTD_MIN_ROWS);
        assert!(
            large.iter().all(|c| matches!(c, Compression::ZSTD(_))),
            "{large:?}"
        );
    }
}
