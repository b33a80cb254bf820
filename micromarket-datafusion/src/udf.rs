//! Scalar functions over Arrow arrays that call micromarket's own code: the H3 cell, the zone
//! (city, rest of a region, or outside) and the record key of each consumer.

use arrow::array::{Array, ArrayRef, AsArray, UInt32Array, UInt64Array};
use arrow::buffer::NullBuffer;
use arrow::datatypes::{DataType, Float64Type, UInt64Type};
use datafusion::common::{DataFusionError, Result, ScalarValue, exec_err};
use datafusion::logical_expr::{
    ColumnarValue, ScalarFunctionArgs, ScalarUDF, ScalarUDFImpl, Signature, Volatility,
};
use h3o::Resolution;
use micromarket::AnalyzeConfig;
use micromarket::boundary::{Boundaries, BoundaryError, BoundaryOptions, BoundaryText, Locator};
use micromarket::perturb::PrivacyKey;
use micromarket::stats::Zones;
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};
use std::collections::HashMap;
use std::sync::{Arc, Mutex, OnceLock, Weak};

/// The values of a Float64 argument (a null reads as 0; the result is null there).
fn floats(array: &ArrayRef) -> &[f64] {
    array.as_primitive::<Float64Type>().values()
}

/// Where any of `arrays` is null.
fn nulls(arrays: &[ArrayRef]) -> Option<NullBuffer> {
    arrays.iter().fold(None, |acc, a| {
        NullBuffer::union(acc.as_ref(), a.logical_nulls().as_ref())
    })
}

/// `mm_h3_cell(lat, lng, resolution)`: each point's H3 cell as a UInt64, computed by
/// micromarket's cell assignment (equal to h3o's `LatLng::to_cell` for every point).
#[derive(Debug, PartialEq, Eq, Hash)]
pub struct H3Cell {
    signature: Signature,
}

impl H3Cell {
    /// The function, ready to register.
    pub fn udf() -> ScalarUDF {
        ScalarUDF::new_from_impl(H3Cell {
            signature: Signature::exact(
                vec![DataType::Float64, DataType::Float64, DataType::Int64],
                Volatility::Immutable,
            ),
        })
    }
}

impl ScalarUDFImpl for H3Cell {
    fn name(&self) -> &'static str {
        "mm_h3_cell"
    }

    fn signature(&self) -> &Signature {
        &self.signature
    }

    fn return_type(&self, _args: &[DataType]) -> Result<DataType> {
        Ok(DataType::UInt64)
    }

    fn invoke_with_args(&self, args: ScalarFunctionArgs) -> Result<ColumnarValue> {
        let resolution = match &args.args[2] {
            ColumnarValue::Scalar(ScalarValue::Int64(Some(r))) => u8::try_from(*r)
                .ok()
                .and_then(|r| Resolution::try_from(r).ok()),
            _ => None,
        };
        let Some(resolution) = resolution else {
            return exec_err!("mm_h3_cell: the resolution is a constant from 0 to 15");
        };
        let arrays = ColumnarValue::values_to_arrays(&args.args[..2])?;
        let cells =
            micromarket::index::assign_cells(floats(&arrays[0]), floats(&arrays[1]), resolution);
        let values = cells.into_iter().map(u64::from).collect();
        Ok(ColumnarValue::Array(Arc::new(UInt64Array::new(
            values,
            nulls(&arrays),
        ))))
    }
}

/// A boundary file as it travels to executors: its name (for messages) and its GeoJSON text.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct BoundaryFile {
    /// Name used in messages.
    pub file: String,
    /// GeoJSON text.
    pub text: String,
}

/// A boundary set as it travels to executors: the files themselves and the property names, so
/// each executor builds the very `Locator` a local run builds.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct BoundarySet {
    /// The regions file.
    pub regions: Option<BoundaryFile>,
    /// The cities file.
    pub cities: Option<BoundaryFile>,
    /// Property names read from features.
    pub options: BoundaryOptions,
}

impl BoundarySet {
    /// The boundary set of a run.
    pub fn of(config: &AnalyzeConfig) -> Self {
        let file = |input: &Option<micromarket::analyze::TextInput>| {
            input.as_ref().map(|i| BoundaryFile {
                file: i.name.clone(),
                text: i.text.clone(),
            })
        };
        BoundarySet {
            regions: file(&config.regions),
            cities: file(&config.cities),
            options: config.boundary.clone(),
        }
    }

    /// Parses the files as a local run does.
    fn load(&self) -> Result<Boundaries, BoundaryError> {
        fn text(f: &BoundaryFile) -> BoundaryText<'_> {
            BoundaryText {
                file: &f.file,
                text: &f.text,
            }
        }
        Boundaries::load(
            self.regions.as_ref().map(text),
            self.cities.as_ref().map(text),
            &self.options,
        )
    }
}

/// A located boundary set, built once per process and shared by every call and task.
struct Loaded {
    locator: Locator,
    zones: Zones,
}

impl Loaded {
    fn new(boundaries: &Boundaries) -> Self {
        // Answers are exact at any resolution; the shortcut classifies cells of resolution 6 at
        // the finest, so the points' cells are computed there.
        Loaded {
            locator: Locator::new(boundaries, Resolution::Six),
            zones: Zones::new(boundaries),
        }
    }
}

/// A boundary set's `Loaded`, once built (or the reason it could not be).
type LoadedCell = OnceLock<std::result::Result<Loaded, String>>;

/// The cell of the boundary set with this identity, shared by every function of the process
/// that holds it: an executor decodes a plan per task, and builds each set's locator once.
fn shared_cell(identity: [u8; 32]) -> Arc<LoadedCell> {
    static CELLS: OnceLock<Mutex<HashMap<[u8; 32], Weak<LoadedCell>>>> = OnceLock::new();
    let mut cells = CELLS.get_or_init(Default::default).lock().expect("cells");
    cells.retain(|_, cell| cell.strong_count() > 0);
    if let Some(cell) = cells.get(&identity).and_then(Weak::upgrade) {
        return cell;
    }
    let cell = Arc::new(LoadedCell::new());
    cells.insert(identity, Arc::downgrade(&cell));
    cell
}

/// `mm_locate(lat, lng)`: each point's zone (UInt32) in a boundary set: its city's index, else
/// the number of cities plus its region's index, else the zone outside every region
/// ([`Zones`]). Points are located by micromarket's `Locator` (exact, boundary inclusive, first
/// feature wins). The set travels with the function (serialised once per plan); a process
/// builds its locator at the first call and shares it.
pub struct Locate {
    signature: Signature,
    set: Arc<BoundarySet>,
    /// Tells boundary sets apart (DataFusion compares functions): the SHA-256 of the set.
    identity: [u8; 32],
    loaded: Arc<LoadedCell>,
}

impl std::fmt::Debug for Locate {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Locate").finish_non_exhaustive()
    }
}

impl PartialEq for Locate {
    fn eq(&self, other: &Self) -> bool {
        self.identity == other.identity
    }
}

impl Eq for Locate {}

impl std::hash::Hash for Locate {
    fn hash<H: std::hash::Hasher>(&self, state: &mut H) {
        self.identity.hash(state);
    }
}

impl Locate {
    /// The function over `set`; `boundaries`, when this process already parsed the set, spares
    /// parsing it again.
    pub fn udf(set: BoundarySet, boundaries: Option<&Boundaries>) -> ScalarUDF {
        let wire = serde_json::to_vec(&set).expect("a boundary set serializes");
        let identity: [u8; 32] = Sha256::digest(&wire).into();
        let loaded = shared_cell(identity);
        if let Some(b) = boundaries {
            loaded.get_or_init(|| Ok(Loaded::new(b)));
        }
        ScalarUDF::new_from_impl(Locate {
            signature: Signature::exact(
                vec![DataType::Float64, DataType::Float64],
                Volatility::Immutable,
            ),
            set: Arc::new(set),
            identity,
            loaded,
        })
    }
}

impl ScalarUDFImpl for Locate {
    fn name(&self) -> &'static str {
        "mm_locate"
    }

    fn signature(&self) -> &Signature {
        &self.signature
    }

    fn return_type(&self, _args: &[DataType]) -> Result<DataType> {
        Ok(DataType::UInt32)
    }

    fn invoke_with_args(&self, args: ScalarFunctionArgs) -> Result<ColumnarValue> {
        let loaded = self.loaded.get_or_init(|| {
            self.set
                .load()
                .map(|b| Loaded::new(&b))
                .map_err(|e| e.to_string())
        });
        let loaded = match loaded {
            Ok(loaded) => loaded,
            Err(message) => return exec_err!("mm_locate: {message}"),
        };
        let arrays = ColumnarValue::values_to_arrays(&args.args)?;
        let (region, city) = loaded
            .locator
            .locate_points(floats(&arrays[0]), floats(&arrays[1]));
        let zones = region
            .iter()
            .zip(&city)
            .map(|(&region, &city)| loaded.zones.of(region, city))
            .collect();
        Ok(ColumnarValue::Array(Arc::new(UInt32Array::new(
            zones,
            nulls(&arrays),
        ))))
    }
}

/// `mm_record_key(id_hash)`: each consumer's record key (UInt32) under a privacy key, as
/// micromarket's perturbation derives it from the hash of the consumer's id.
#[derive(Debug)]
pub struct RecordKey {
    signature: Signature,
    key: PrivacyKey,
    /// Tells keys apart without holding the secret twice: the keys of two fixed ids.
    identity: (u32, u32),
}

impl PartialEq for RecordKey {
    fn eq(&self, other: &Self) -> bool {
        self.identity == other.identity
    }
}

impl Eq for RecordKey {}

impl std::hash::Hash for RecordKey {
    fn hash<H: std::hash::Hasher>(&self, state: &mut H) {
        self.identity.hash(state);
    }
}

impl RecordKey {
    /// The function under `key`.
    pub fn udf(key: PrivacyKey) -> ScalarUDF {
        let identity = (key.record_key(0), key.record_key(u64::MAX));
        ScalarUDF::new_from_impl(RecordKey {
            signature: Signature::exact(vec![DataType::UInt64], Volatility::Immutable),
            key,
            identity,
        })
    }
}

impl ScalarUDFImpl for RecordKey {
    fn name(&self) -> &'static str {
        "mm_record_key"
    }

    fn signature(&self) -> &Signature {
        &self.signature
    }

    fn return_type(&self, _args: &[DataType]) -> Result<DataType> {
        Ok(DataType::UInt32)
    }

    fn invoke_with_args(&self, args: ScalarFunctionArgs) -> Result<ColumnarValue> {
        let arrays = ColumnarValue::values_to_arrays(&args.args)?;
        let keys = arrays[0]
            .as_primitive::<UInt64Type>()
            .values()
            .iter()
            .map(|&h| self.key.record_key(h))
            .collect();
        Ok(ColumnarValue::Array(Arc::new(UInt32Array::new(
            keys,
            nulls(&arrays),
        ))))
    }
}

/// Writes `udf`'s wire form into `buf` when it is one of micromarket's functions (the boundary
/// set of `mm_locate`, the key of `mm_record_key`), and says whether it was.
///
/// # Errors
///
/// Never in practice (the wire forms always serialize).
pub fn encode_udf(udf: &ScalarUDF, buf: &mut Vec<u8>) -> Result<bool> {
    let inner = udf.inner();
    let wire = if let Some(locate) = inner.downcast_ref::<Locate>() {
        serde_json::to_vec(locate.set.as_ref())
    } else if let Some(key) = inner.downcast_ref::<RecordKey>() {
        serde_json::to_vec(&key.key)
    } else if inner.downcast_ref::<H3Cell>().is_some() {
        Ok(b"{}".to_vec())
    } else {
        return Ok(false);
    };
    buf.extend(wire.map_err(|e| DataFusionError::External(Box::new(e)))?);
    Ok(true)
}

/// The micromarket function `name` from its wire form, or `None` for another function.
pub fn decode_udf(name: &str, buf: &[u8]) -> Option<Result<Arc<ScalarUDF>>> {
    let wire = |e: serde_json::Error| DataFusionError::Internal(format!("{name}: {e}"));
    let udf = match name {
        "mm_h3_cell" => Ok(H3Cell::udf()),
        "mm_locate" => serde_json::from_slice(buf)
            .map(|set| Locate::udf(set, None))
            .map_err(wire),
        "mm_record_key" => serde_json::from_slice(buf)
            .map(RecordKey::udf)
            .map_err(wire),
        _ => return None,
    };
    Some(udf.map(Arc::new))
}

#[cfg(test)]
mod tests {
    use super::*;
    use datafusion::arrow::array::Float64Array;
    use datafusion::arrow::datatypes::Field;
    use datafusion::config::ConfigOptions;

    fn call(udf: &ScalarUDF, args: Vec<ColumnarValue>, rows: usize, out: DataType) -> ArrayRef {
        let arg_fields = args
            .iter()
            .map(|a| Arc::new(Field::new("x", a.data_type(), false)))
            .collect();
        let result = udf
            .invoke_with_args(ScalarFunctionArgs {
                args,
                arg_fields,
                number_rows: rows,
                return_field: Arc::new(Field::new("out", out, false)),
                config_options: Arc::new(ConfigOptions::default()),
            })
            .expect("invoke");
        result.into_array(rows).expect("array")
    }

    #[test]
    fn cells_equal_h3o() {
        let lat = [47.3769, -33.8688, 0.0, 89.99, -89.99, 64.2];
        let lng = [8.5417, 151.2093, 0.0, 179.999, -179.999, -149.5];
        let out = call(
            &H3Cell::udf(),
            vec![
                ColumnarValue::Array(Arc::new(Float64Array::from(lat.to_vec()))),
                ColumnarValue::Array(Arc::new(Float64Array::from(lng.to_vec()))),
                ColumnarValue::Scalar(ScalarValue::Int64(Some(9))),
            ],
            lat.len(),
            DataType::UInt64,
        );
        let out = out.as_primitive::<UInt64Type>();
        for (i, (&a, &o)) in lat.iter().zip(&lng).enumerate() {
            let expected = h3o::LatLng::new(a, o)
                .expect("valid")
                .to_cell(Resolution::Nine);
            assert_eq!(out.value(i), u64::from(expected), "point {i}");
        }
    }

    #[test]
    fn record_keys_are_the_perturbations_own() {
        let key = PrivacyKey::from_secret(b"0123456789abcdef").expect("long enough");
        let hashes = vec![1u64, 2, 3, u64::MAX];
        let expected = key.record_keys(&hashes);
        let out = call(
            &RecordKey::udf(key),
            vec![ColumnarValue::Array(Arc::new(UInt64Array::from(hashes)))],
            4,
            DataType::UInt32,
        );
        assert_eq!(
            out.as_primitive::<arrow::datatypes::UInt32Type>().values(),
            expected.as_slice()
        );
    }

    #[test]
    fn a_null_point_has_a_null_cell() {
        let lat = Float64Array::from(vec![Some(47.3769), None]);
        let lng = Float64Array::from(vec![Some(8.5417), None]);
        let out = call(
            &H3Cell::udf(),
            vec![
                ColumnarValue::Array(Arc::new(lat)),
                ColumnarValue::Array(Arc::new(lng)),
                ColumnarValue::Scalar(ScalarValue::Int64(Some(9))),
            ],
            2,
            DataType::UInt64,
        );
        assert!(out.is_valid(0));
        assert!(out.is_null(1));
    }

    #[test]
    fn functions_travel_by_their_wire_forms() {
        let key = PrivacyKey::from_secret(b"0123456789abcdef").expect("long enough");
        let set = BoundarySet {
            regions: Some(BoundaryFile {
                file: "regions.geojson".into(),
                text: r#"{"type":"FeatureCollection","features":[]}"#.into(),
            }),
            cities: None,
            options: BoundaryOptions::default(),
        };
        for udf in [H3Cell::udf(), RecordKey::udf(key), Locate::udf(set, None)] {
            let mut wire = Vec::new();
            assert!(encode_udf(&udf, &mut wire).expect("encodes"));
            let back = decode_udf(udf.name(), &wire)
                .expect("one of ours")
                .expect("decodes");
            assert_eq!(back.as_ref(), &udf, "{}", udf.name());
        }
        assert!(decode_udf("abs", &[]).is_none());
    }
}
