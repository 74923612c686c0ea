//! Drift detection: the live profile and schema documents against the ones a set of models
//! was generated from.

use std::fmt;

use kiss_schema::{Endpoint, SchemaDiff, SchemaDocument};

use crate::client::Client;
use crate::error::Error;

/// What [`Client::check_surface`] found.
#[derive(Debug, Clone)]
pub struct SurfaceCheck {
    /// `/api/version` now.
    pub live_profile: String,
    /// The profile the models were generated from.
    pub generated_profile: String,
    /// Live schema vs the generated one, per endpoint with a schema endpoint.
    pub diffs: Vec<SchemaDiff>,
}

impl SurfaceCheck {
    /// Whether the generated models match the live API.
    pub fn is_in_step(&self) -> bool {
        self.live_profile == self.generated_profile && self.diffs.iter().all(SchemaDiff::is_empty)
    }
}

impl fmt::Display for SurfaceCheck {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        writeln!(
            f,
            "profile: live {}, generated {}",
            self.live_profile, self.generated_profile
        )?;
        for diff in &self.diffs {
            write!(f, "{diff}")?;
        }
        Ok(())
    }
}

impl Client {
    /// Compares the live profile and schemas with `documents` (`(endpoint, JSON text)`, as
    /// kiss-generated's `SCHEMA_DOCUMENTS`) generated under `profile`. Every endpoint that has a
    /// schema endpoint must be among `documents` and parse: anything else is
    /// [`Error::GeneratedSchema`], never a silent "in step".
    pub async fn check_surface_against(
        &self,
        profile: &str,
        documents: &[(&str, &str)],
    ) -> Result<SurfaceCheck, Error> {
        let live_profile = self.api_version().await?;
        let mut diffs = Vec::new();
        for endpoint in Endpoint::ALL {
            if endpoint.schema_path().is_none() {
                continue;
            }
            let generated = generated_document(endpoint, documents)?;
            let live = self.schema(endpoint).await?;
            diffs.push(SchemaDiff::between(&generated, &live));
        }
        Ok(SurfaceCheck {
            live_profile,
            generated_profile: profile.to_owned(),
            diffs,
        })
    }

    /// Compares the live profile and schemas with the ones kiss-generated was built from.
    #[cfg(feature = "typed")]
    pub async fn check_surface(&self) -> Result<SurfaceCheck, Error> {
        self.check_surface_against(
            kiss_generated::API_PROFILE,
            kiss_generated::SCHEMA_DOCUMENTS,
        )
        .await
    }
}

fn generated_document(
    endpoint: Endpoint,
    documents: &[(&str, &str)],
) -> Result<SchemaDocument, Error> {
    let problem = |problem: String| Error::GeneratedSchema {
        endpoint: endpoint.path().to_owned(),
        problem,
    };
    let (_, text) = documents
        .iter()
        .find(|(path, _)| *path == endpoint.path())
        .ok_or_else(|| problem("is missing".to_owned()))?;
    SchemaDocument::from_json(text).map_err(|e| problem(format!("does not parse ({e})")))
}
