//! What one run needs: its inputs, options and parameters.

use crate::boundary::{BoundaryOptions, BoundaryText};
use crate::consumer::{ColumnNames, Source};
use crate::export::{Formats, MapOptions};
use crate::params::AnalysisParams;
use crate::perturb::PrivacyKey;
use std::path::{Path, PathBuf};

/// A text input (boundaries, segments) with the name used in messages.
#[derive(Debug, Clone)]
pub struct TextInput {
    /// Path or description.
    pub name: String,
    /// Content.
    pub text: String,
}

impl TextInput {
    /// Reads a file.
    ///
    /// # Errors
    ///
    /// The I/O error, for the caller to wrap with the file name.
    pub fn read(path: &Path) -> std::io::Result<Self> {
        Ok(TextInput {
            name: path.display().to_string(),
            text: std::fs::read_to_string(path)?,
        })
    }

    /// This input as a boundary file.
    pub fn as_boundary(&self) -> BoundaryText<'_> {
        BoundaryText {
            file: &self.name,
            text: &self.text,
        }
    }
}

/// Everything one run needs.
#[derive(Debug, Clone)]
pub struct AnalyzeConfig {
    /// Consumers file or bytes.
    pub consumers: Source,
    /// Regions GeoJSON.
    pub regions: Option<TextInput>,
    /// Cities GeoJSON.
    pub cities: Option<TextInput>,
    /// Segments TOML.
    pub segments: TextInput,
    /// Required column names.
    pub columns: ColumnNames,
    /// Boundary property names.
    pub boundary: BoundaryOptions,
    /// Analysis parameters, checked.
    pub params: AnalysisParams,
    /// Maps (`map.html` per scope, `index.html` at the root); `None` writes none.
    pub maps: Option<MapOptions>,
    /// Cell layer formats.
    pub formats: Formats,
    /// Output folder.
    pub out: PathBuf,
    /// The secret of the record keys; `None` derives one from the inputs (with a warning).
    pub privacy_key: Option<PrivacyKey>,
    /// Where rejected consumer rows go, outside the output folder; `None`:
    /// [`default_rejects_path`](crate::export::default_rejects_path).
    pub rejects: Option<PathBuf>,
    /// Check each micro-market's stability across resolutions (the detector again at r − 1 and
    /// r + 1; `analyze` only).
    pub stability: bool,
}

impl AnalyzeConfig {
    /// Loads and checks the regions and cities.
    ///
    /// # Errors
    ///
    /// [`BoundaryError`](crate::boundary::BoundaryError) naming every invalid feature.
    pub fn load_boundaries(
        &self,
    ) -> Result<crate::boundary::Boundaries, crate::boundary::BoundaryError> {
        crate::boundary::Boundaries::load(
            self.regions.as_ref().map(TextInput::as_boundary),
            self.cities.as_ref().map(TextInput::as_boundary),
            &self.boundary,
        )
    }

    /// A configuration with the default parameters (see [`AnalysisParams::default`]).
    pub fn new(consumers: Source, segments: TextInput, out: PathBuf) -> Self {
        AnalyzeConfig {
            consumers,
            regions: None,
            cities: None,
            segments,
            columns: ColumnNames::default(),
            boundary: BoundaryOptions::default(),
            params: AnalysisParams::default(),
            maps: Some(MapOptions::default()),
            formats: Formats::DEFAULT,
            out,
            privacy_key: None,
            rejects: None,
            stability: false,
        }
    }

    /// Where rejected consumer rows go.
    pub fn rejects_path(&self) -> PathBuf {
        self.rejects
            .clone()
            .unwrap_or_else(|| crate::export::default_rejects_path(&self.out))
    }
}
