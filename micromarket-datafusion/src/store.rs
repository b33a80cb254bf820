//! Consumers in object storage: `--consumers` given as a URL (`s3://bucket/prefix/`,
//! `gs://...`, `az://...`, `https://...`, `file:///...`) is read through the `object_store`
//! crate (DataFusion's), on whichever process reads a part.
//!
//! Each process builds its stores from the URL and its own environment (`AWS_*`, `GOOGLE_*`,
//! `AZURE_*` variables, as `object_store` names them; `AWS_ENDPOINT` and `AWS_ALLOW_HTTP` for an
//! S3-compatible service), so credentials never travel in the plan. A part is fetched into memory
//! and read by micromarket's own reader; a run of row groups of a large Parquet file fetches only
//! its footer and its row groups' byte ranges.

use crate::scan::Part;
use micromarket::Error;
use micromarket::consumer::{IngestError, Source};
use object_store::path::Path as StorePath;
use object_store::{GetOptions, ObjectStore, ObjectStoreExt};
use parquet::file::metadata::{ParquetMetaData, ParquetMetaDataReader};
use std::collections::HashMap;
use std::ops::Range;
use std::path::Path;
use std::sync::{Arc, LazyLock, Mutex};
use url::Url;

/// Bytes fetched from the end of a Parquet object in the hope that they hold its footer.
const FOOTER_GUESS: u64 = 64 << 10;

/// The URL `location` names, if it is one (`scheme://...`) rather than a local path.
pub fn url_of(location: &Path) -> Option<Url> {
    let text = location.to_str()?;
    let (scheme, _) = text.split_once("://")?;
    // One letter before "://" is a Windows drive, not a scheme.
    if scheme.len() < 2 {
        return None;
    }
    Url::parse(text).ok()
}

/// An object of a listing.
#[derive(Debug, Clone)]
pub struct Object {
    /// Its URL.
    pub url: Url,
    /// Its size in bytes.
    pub size: u64,
    /// The store's tag of its content (an S3 ETag), when the store gives one.
    pub e_tag: Option<String>,
}

/// The consumers files under `url`: the object itself, or every `.csv`, `.csv.gz`, `.gz` and
/// `.parquet` object under it as a prefix, in key order.
///
/// # Errors
///
/// [`Error::Ingest`] (an I/O error naming the URL) when the store cannot be reached or listed;
/// [`Error::Parts`] when nothing under the prefix is a consumers file.
pub async fn list(url: &Url) -> Result<Vec<Object>, Error> {
    let (store, path) = store(url).map_err(|e| io(url, e))?;
    let object = |meta: object_store::ObjectMeta| Object {
        url: file_url(url.clone(), &meta.location),
        size: meta.size,
        e_tag: meta.e_tag,
    };
    if !url.path().ends_with('/') {
        match store.head(&path).await {
            Ok(meta) => return Ok(vec![object(meta)]),
            Err(object_store::Error::NotFound { .. }) => {}
            Err(e) => return Err(io(url, e)),
        }
    }
    let listed: Vec<_> = futures::TryStreamExt::try_collect(store.list(Some(&path)))
        .await
        .map_err(|e| io(url, e))?;
    let mut objects: Vec<Object> = listed
        .into_iter()
        .filter(|m| crate::count::is_consumers_file(m.location.as_ref()))
        .map(object)
        .collect();
    objects.sort_by(|a, b| a.url.as_str().cmp(b.url.as_str()));
    if objects.is_empty() {
        return Err(Error::Parts {
            path: url.to_string(),
            problem: "no .csv, .csv.gz or .parquet object is there or under it".into(),
        });
    }
    Ok(objects)
}

/// `url` with the path of `location` (a store's paths have no leading slash and, for a local
/// file system, are absolute).
fn file_url(mut url: Url, location: &StorePath) -> Url {
    url.set_path(&format!("/{location}"));
    url
}

/// The rows of each row group of a Parquet object, from its footer alone (`None` for other
/// files).
///
/// # Errors
///
/// As [`list`]; an object whose footer is not Parquet's, as an ingest error naming it.
pub async fn parquet_row_groups(object: &Object) -> Result<Option<Vec<u64>>, Error> {
    if !object.url.path().to_lowercase().ends_with(".parquet") {
        return Ok(None);
    }
    let (store, path) = store(&object.url).map_err(|e| io(&object.url, e))?;
    let (metadata, _) = footer(store.as_ref(), &path, object.size)
        .await
        .map_err(|e| e.naming(&object.url))?;
    Ok(Some(
        metadata
            .row_groups()
            .iter()
            .map(|g| g.num_rows() as u64)
            .collect(),
    ))
}

/// Fetches `part` (an object of a store) for micromarket's reader: the whole object, or for a
/// run of row groups the footer and those row groups' bytes in an object-sized buffer whose other
/// bytes are zeros (pages never touched take no memory). Blocks on the current Tokio runtime:
/// call it off the runtime's workers.
///
/// # Errors
///
/// An I/O error naming the URL when the object cannot be fetched.
pub fn fetch(url: &Url, part: &Part) -> Result<Source, IngestError> {
    let runtime = tokio::runtime::Handle::current();
    let data = runtime.block_on(async {
        let (store, path) = store(url).map_err(Failure::Store)?;
        match &part.row_groups {
            None => {
                let options = GetOptions {
                    if_match: part.e_tag.clone(),
                    ..GetOptions::default()
                };
                let bytes = store
                    .get_opts(&path, options)
                    .await
                    .map_err(Failure::Store)?;
                bytes.bytes().await.map_err(Failure::Store)
            }
            Some(groups) => row_groups(store.as_ref(), &path, groups.clone(), part).await,
        }
    });
    let data = data.map_err(|e| e.naming(url))?;
    Ok(Source::Bytes {
        name: url.to_string(),
        data,
    })
}

/// The footer and row groups `groups` of the Parquet object at `path`, in place in a buffer of
/// the object's size, if the object still has `part`'s tag.
async fn row_groups(
    store: &dyn ObjectStore,
    path: &StorePath,
    groups: Range<usize>,
    part: &Part,
) -> Result<bytes::Bytes, Failure> {
    let meta = store.head(path).await.map_err(Failure::Store)?;
    if let Some(listed) = &part.e_tag
        && meta.e_tag.as_ref() != Some(listed)
    {
        return Err(Failure::Changed);
    }
    let size = meta.size;
    let (metadata, tail) = footer(store, path, size).await?;
    // The magic bytes at the start (how the reader knows Parquet), then the row groups' columns.
    let ranges: Vec<Range<u64>> = std::iter::once(0..4)
        .chain(
            metadata.row_groups()[groups]
                .iter()
                .flat_map(parquet::file::metadata::RowGroupMetaData::columns)
                .map(|c| {
                    let (start, length) = c.byte_range();
                    start..start + length
                }),
        )
        .collect();
    let fetched = store
        .get_ranges(path, &ranges)
        .await
        .map_err(Failure::Store)?;
    let size = usize::try_from(size).map_err(|_| Failure::Parquet("too large".into()))?;
    // Zeroed memory the system maps lazily: only the pages written below take room.
    let mut data = bytes::BytesMut::zeroed(size);
    let mut put = |start: u64, bytes: &[u8]| {
        let start = start as usize;
        data[start..start + bytes.len()].copy_from_slice(bytes);
    };
    put((size - tail.len()) as u64, &tail);
    for (range, bytes) in ranges.iter().zip(&fetched) {
        put(range.start, bytes);
    }
    Ok(data.freeze())
}

/// The metadata of the Parquet object at `path` of `size` bytes, and the object's tail that
/// holds it.
async fn footer(
    store: &dyn ObjectStore,
    path: &StorePath,
    size: u64,
) -> Result<(ParquetMetaData, bytes::Bytes), Failure> {
    if size < 8 {
        return Err(Failure::Parquet("shorter than a Parquet footer".into()));
    }
    let fetch = |length: u64| store.get_range(path, size - length..size);
    let mut tail = fetch(FOOTER_GUESS.min(size))
        .await
        .map_err(Failure::Store)?;
    // The file ends with the metadata's length (4 bytes, little-endian) and "PAR1".
    let end = &tail[tail.len() - 8..];
    if &end[4..] != b"PAR1" {
        return Err(Failure::Parquet(
            "it does not end as a Parquet file does".into(),
        ));
    }
    let length = u32::from_le_bytes(end[..4].try_into().expect("4 bytes"));
    let needed = u64::from(length) + 8;
    if needed > size {
        return Err(Failure::Parquet(
            "its footer is longer than the file".into(),
        ));
    }
    if needed > tail.len() as u64 {
        tail = fetch(needed).await.map_err(Failure::Store)?;
    }
    let metadata = &tail[tail.len() - needed as usize..tail.len() - 8];
    let metadata =
        ParquetMetaDataReader::decode_metadata(metadata).map_err(|e| Failure::Parquet(e.into()))?;
    Ok((metadata, tail))
}

/// Why an object could not be fetched.
enum Failure {
    Store(object_store::Error),
    Parquet(Box<dyn std::error::Error + Send + Sync>),
    /// The object's tag is no longer the one listed.
    Changed,
}

impl Failure {
    fn naming(self, url: &Url) -> IngestError {
        match self {
            Failure::Changed | Failure::Store(object_store::Error::Precondition { .. }) => {
                IngestError::Io {
                    file: url.to_string(),
                    source: std::io::Error::other(
                        "the object changed while the run read it (its ETag is no longer the one listed): run again once it stays put",
                    ),
                }
            }
            Failure::Store(e) => io_error(url, e),
            Failure::Parquet(e) => IngestError::Io {
                file: url.to_string(),
                source: std::io::Error::new(
                    std::io::ErrorKind::InvalidData,
                    format!("not a readable Parquet file: {e}"),
                ),
            },
        }
    }
}

fn io_error(url: &Url, error: object_store::Error) -> IngestError {
    let kind = match error {
        object_store::Error::NotFound { .. } => std::io::ErrorKind::NotFound,
        object_store::Error::PermissionDenied { .. }
        | object_store::Error::Unauthenticated { .. } => std::io::ErrorKind::PermissionDenied,
        _ => std::io::ErrorKind::Other,
    };
    IngestError::Io {
        file: url.to_string(),
        source: std::io::Error::new(kind, error),
    }
}

fn io(url: &Url, error: object_store::Error) -> Error {
    Error::Ingest(io_error(url, error))
}

/// The store of `url` (built once per process for each scheme and bucket, from the
/// environment) and the object's path in it.
fn store(url: &Url) -> Result<(Arc<dyn ObjectStore>, StorePath), object_store::Error> {
    static STORES: LazyLock<Mutex<HashMap<String, Arc<dyn ObjectStore>>>> =
        LazyLock::new(Mutex::default);
    let root = url[..url::Position::BeforePath].to_string();
    let (_, path) = object_store::ObjectStoreScheme::parse(url)?;
    let mut stores = STORES
        .lock()
        .unwrap_or_else(std::sync::PoisonError::into_inner);
    if let Some(store) = stores.get(&root) {
        return Ok((Arc::clone(store), path));
    }
    let (built, _) = object_store::parse_url_opts(url, std::env::vars())?;
    let store: Arc<dyn ObjectStore> = Arc::from(built);
    stores.insert(root, Arc::clone(&store));
    Ok((store, path))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_object_that_changed_since_it_was_listed_is_refused() {
        let dir = tempfile::tempdir().expect("tmp");
        let file = dir.path().join("consumers.csv");
        std::fs::write(&file, "id,lat,lon\nc1,47.0,8.0\n").expect("write");
        let url = Url::from_file_path(&file).expect("url");
        let runtime = tokio::runtime::Runtime::new().expect("runtime");
        let objects = runtime.block_on(list(&url)).expect("listed");
        let part = Part {
            file: url.as_str().into(),
            row_groups: None,
            e_tag: objects[0].e_tag.clone(),
        };
        assert!(part.e_tag.is_some(), "a local file has a tag");
        let _entered = runtime.enter();
        assert!(fetch(&url, &part).is_ok());
        std::fs::write(&file, "id,lat,lon\nc1,47.0,8.0\nc2,47.1,8.1\n").expect("write");
        let error = fetch(&url, &part).expect_err("changed").to_string();
        assert!(error.contains("consumers.csv"), "{error}");
        assert!(error.contains("changed while the run read it"), "{error}");
    }

    #[test]
    fn row_groups_of_an_object_that_changed_are_refused() {
        use arrow::array::{ArrayRef, Float64Array, RecordBatch};
        let dir = tempfile::tempdir().expect("tmp");
        let file = dir.path().join("consumers.parquet");
        let write = |rows: usize| {
            let values = Arc::new(Float64Array::from(vec![1.0; rows])) as ArrayRef;
            let batch = RecordBatch::try_from_iter([("lat", values)]).expect("batch");
            let properties = parquet::file::properties::WriterProperties::builder()
                .set_max_row_group_row_count(Some(3))
                .build();
            let out = std::fs::File::create(&file).expect("create");
            let mut writer =
                parquet::arrow::ArrowWriter::try_new(out, batch.schema(), Some(properties))
                    .expect("writer");
            writer.write(&batch).expect("write");
            writer.close().expect("close");
        };
        write(10);
        let url = Url::from_file_path(&file).expect("url");
        let runtime = tokio::runtime::Runtime::new().expect("runtime");
        let objects = runtime.block_on(list(&url)).expect("listed");
        let part = Part {
            file: url.as_str().into(),
            row_groups: Some(1..2),
            e_tag: objects[0].e_tag.clone(),
        };
        let _entered = runtime.enter();
        assert!(fetch(&url, &part).is_ok());
        write(12);
        let error = fetch(&url, &part).expect_err("changed").to_string();
        assert!(error.contains("changed while the run read it"), "{error}");
    }
}
