//! The layer formats a run writes, chosen with `--formats`.

use std::fmt;
use std::str::FromStr;

/// A file format of the cell layers (micro-markets and campaigns are GeoJSON always, Parquet
/// with `parquet`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum Format {
    /// `cells.geojson`: RFC 7946, lean properties.
    Geojson,
    /// `cells.geojsons`: RFC 8142 GeoJSON text sequence, one feature per record, lean.
    Geojsonseq,
    /// `cells.parquet`: GeoParquet 1.1 with every figure, typed; also `micromarkets.parquet`
    /// and `campaign.parquet`.
    Parquet,
    /// `cells.csv`: a row per cell × segment with every figure.
    Csv,
    /// `cells.fgb`: FlatGeobuf with its spatial index and every figure, typed.
    Fgb,
}

impl Format {
    /// Every format, in the order `--formats` lists them.
    pub const ALL: [Format; 5] = [
        Format::Geojson,
        Format::Geojsonseq,
        Format::Parquet,
        Format::Csv,
        Format::Fgb,
    ];

    /// The name `--formats` takes.
    pub fn name(self) -> &'static str {
        match self {
            Format::Geojson => "geojson",
            Format::Geojsonseq => "geojsonseq",
            Format::Parquet => "parquet",
            Format::Csv => "csv",
            Format::Fgb => "fgb",
        }
    }

    fn bit(self) -> u8 {
        1 << (self as u8)
    }
}

impl fmt::Display for Format {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

impl FromStr for Format {
    type Err = String;

    fn from_str(text: &str) -> Result<Self, String> {
        Format::ALL
            .into_iter()
            .find(|f| f.name() == text.trim().to_ascii_lowercase())
            .ok_or_else(|| {
                let names: Vec<&str> = Format::ALL.iter().map(|f| f.name()).collect();
                format!("unknown format '{text}': one of {}", names.join(", "))
            })
    }
}

/// A set of formats.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Formats(u8);

impl Formats {
    /// The formats written unless `--formats` says otherwise: lean GeoJSON (opens anywhere)
    /// and GeoParquet (complete and typed, a tenth of the size); CSV and GeoJSONSeq on request.
    pub const DEFAULT: Formats =
        Formats((1 << Format::Geojson as u8) | (1 << Format::Parquet as u8));

    /// The set of `formats`.
    pub fn of(formats: &[Format]) -> Self {
        Formats(formats.iter().fold(0, |bits, f| bits | f.bit()))
    }

    /// Whether `format` is in the set.
    pub fn contains(self, format: Format) -> bool {
        self.0 & format.bit() != 0
    }

    /// Whether the set is empty.
    pub fn is_empty(self) -> bool {
        self.0 == 0
    }

    /// Whether a format of the set draws the cells' shapes (every one but CSV).
    pub fn draws_cells(self) -> bool {
        self.iter().any(|f| f != Format::Csv)
    }

    /// The formats in the set, in [`Format::ALL`] order.
    pub fn iter(self) -> impl Iterator<Item = Format> {
        Format::ALL.into_iter().filter(move |&f| self.contains(f))
    }
}

impl Default for Formats {
    fn default() -> Self {
        Formats::DEFAULT
    }
}

impl fmt::Display for Formats {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let names: Vec<&str> = self.iter().map(Format::name).collect();
        f.write_str(&names.join(","))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_round_trip_and_sets_hold_what_they_were_given() {
        for format in Format::ALL {
            assert_eq!(format.name().parse::<Format>(), Ok(format));
        }
        assert!(
            "shapefile"
                .parse::<Format>()
                .unwrap_err()
                .contains("geojson")
        );
        let set = Formats::of(&[Format::Csv, Format::Geojson]);
        assert_eq!(set.to_string(), "geojson,csv");
        assert!(!set.contains(Format::Parquet));
        assert_eq!(Formats::DEFAULT.to_string(), "geojson,parquet");
        assert!(Formats::of(&[]).is_empty());
    }
}
