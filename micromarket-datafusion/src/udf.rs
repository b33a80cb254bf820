//! Scalar functions over Arrow arrays that call micromarket's own code: the H3 cell, the zone
//! (city, rest of a region, or outside) and the record key of each consumer.

use arrow::array::{Array, ArrayRef, AsArray, UInt32Array, UInt64Array};
use arrow::datatypes::{DataType, Float64Type, UInt64Type};
use datafusion::common::{Result, ScalarValue, exec_err};
use datafusion::logical_expr::{
    ColumnarValue, ScalarFunctionArgs, ScalarUDF, ScalarUDFImpl, Signature, Volatility,
};
use h3o::Resolution;
use micromarket::boundary::{Boundaries, Locator};
use micromarket::perturb::PrivacyKey;
use micromarket::stats::Zones;
use std::sync::Arc;

/// The `f64` values of a non-null Float64 argument (`what` names it in errors).
fn floats<'a>(array: &'a ArrayRef, function: &str, what: &str) -> Result<&'a [f64]> {
    if array.null_count() > 0 {
        return exec_err!("{function}: {what} holds nulls");
    }
    Ok(array.as_primitive::<Float64Type>().values())
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
        let lat = floats(&arrays[0], "mm_h3_cell", "lat")?;
        let lng = floats(&arrays[1], "mm_h3_cell", "lng")?;
        let cells = micromarket::index::assign_cells(lat, lng, resolution);
        let values: UInt64Array = cells.into_iter().map(u64::from).collect();
        Ok(ColumnarValue::Array(Arc::new(values)))
    }
}

/// `mm_locate(lat, lng)`: each point's zone (UInt32) in a boundary set: its city's index, else
/// the number of cities plus its region's index, else the zone outside every region
/// ([`Zones`]). Points are located by micromarket's `Locator` (exact, boundary inclusive, first
/// feature wins); the set is loaded once and shared by every call.
pub struct Locate {
    signature: Signature,
    locator: Arc<Locator>,
    zones: Zones,
    /// Tells boundary sets apart (DataFusion compares functions): the SHA-256 of their files.
    identity: [u8; 32],
}

impl std::fmt::Debug for Locate {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Locate")
            .field("zones", &self.zones)
            .finish_non_exhaustive()
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
    /// The function over `boundaries`; `identity` tells boundary sets apart (a digest of their
    /// files).
    pub fn udf(boundaries: &Boundaries, identity: [u8; 32]) -> ScalarUDF {
        // Answers are exact at any resolution; the shortcut classifies cells of resolution 6 at
        // the finest, so the points' cells are computed there.
        let locator = Locator::new(boundaries, Resolution::Six);
        ScalarUDF::new_from_impl(Locate {
            signature: Signature::exact(
                vec![DataType::Float64, DataType::Float64],
                Volatility::Immutable,
            ),
            locator: Arc::new(locator),
            zones: Zones::new(boundaries),
            identity,
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
        let arrays = ColumnarValue::values_to_arrays(&args.args)?;
        let lat = floats(&arrays[0], "mm_locate", "lat")?;
        let lng = floats(&arrays[1], "mm_locate", "lng")?;
        let located = self.locator.locate(lat, lng);
        let zones: UInt32Array = located
            .region
            .iter()
            .zip(&located.city)
            .map(|(&region, &city)| self.zones.of(region, city))
            .collect();
        Ok(ColumnarValue::Array(Arc::new(zones)))
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
        if arrays[0].null_count() > 0 {
            return exec_err!("mm_record_key: id_hash holds nulls");
        }
        let keys: UInt32Array = arrays[0]
            .as_primitive::<UInt64Type>()
            .values()
            .iter()
            .map(|&h| self.key.record_key(h))
            .collect();
        Ok(ColumnarValue::Array(Arc::new(keys)))
    }
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
}
