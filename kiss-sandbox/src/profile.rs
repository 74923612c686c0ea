//! The served surface: one schema document per endpoint, served verbatim.

use std::path::{Path, PathBuf};

use bytes::Bytes;
use kiss_schema::{contract, Endpoint, SchemaDocument, SchemaError};
use thiserror::Error;

/// A profile that could not be loaded.
#[derive(Debug, Error)]
pub enum ProfileError {
    /// A file of the profile directory could not be read.
    #[error("cannot read {path}: {source}")]
    Io {
        /// The file.
        path: PathBuf,
        /// Why.
        source: std::io::Error,
    },
    /// A document is not a schema document.
    #[error("{origin} is not a valid schema document: {source}")]
    Schema {
        /// Where the document came from (a path, or the endpoint it was given for).
        origin: String,
        /// What was wrong.
        source: SchemaError,
    },
    /// A document describes another endpoint than the one it was given for.
    #[error("{origin} describes {found}, but was given as the schema of {expected}")]
    WrongEndpoint {
        /// Where the document came from.
        origin: String,
        /// The endpoint it should describe.
        expected: &'static str,
        /// The endpoint it does describe.
        found: String,
    },
}

/// A schema document and the exact bytes served for it.
#[derive(Debug, Clone)]
pub struct ServedSchema {
    /// The parsed document: what the data is generated from.
    pub document: SchemaDocument,
    /// The text served at the schema endpoint.
    pub body: Bytes,
}

impl ServedSchema {
    /// Parses `text` as the schema of `endpoint`; `origin` names it in errors.
    pub fn parse(
        endpoint: Endpoint,
        text: impl Into<Bytes>,
        origin: &str,
    ) -> Result<ServedSchema, ProfileError> {
        let body = text.into();
        let document =
            SchemaDocument::from_slice(&body).map_err(|source| ProfileError::Schema {
                origin: origin.to_owned(),
                source,
            })?;
        if document.endpoint != endpoint.path() {
            return Err(ProfileError::WrongEndpoint {
                origin: origin.to_owned(),
                expected: endpoint.path(),
                found: document.endpoint,
            });
        }
        Ok(ServedSchema { document, body })
    }
}

/// The API surface the sandbox serves: the schemas of `/products`, `/stock` and `/prices`.
///
/// `/prices` has no schema endpoint; its schema only shapes the generated data.
#[derive(Debug, Clone)]
pub struct Profile {
    /// `/products/schema`.
    pub products: ServedSchema,
    /// `/stock/schema`.
    pub stock: ServedSchema,
    /// The schema of `/prices` (not served).
    pub prices: ServedSchema,
}

impl Default for Profile {
    /// The documented `2026-04` surface.
    fn default() -> Profile {
        let parse = |endpoint, text: &'static str| {
            ServedSchema::parse(endpoint, text, "built-in profile")
                .unwrap_or_else(|e| unreachable!("the built-in profile is valid: {e}"))
        };
        Profile {
            products: parse(Endpoint::Products, contract::PRODUCTS_SCHEMA),
            stock: parse(Endpoint::Stock, contract::STOCK_SCHEMA),
            prices: parse(Endpoint::Prices, contract::PRICES_SCHEMA),
        }
    }
}

impl Profile {
    /// Reads `products.schema.json` and `stock.schema.json` (and `prices.schema.json`, if
    /// present; otherwise the built-in one) from `dir`.
    pub fn from_dir(dir: impl AsRef<Path>) -> Result<Profile, ProfileError> {
        let dir = dir.as_ref();
        let read = |name: &str| {
            let path = dir.join(name);
            std::fs::read(&path).map_err(|source| ProfileError::Io { path, source })
        };
        let origin = |name: &str| dir.join(name).display().to_string();
        let prices_path = dir.join("prices.schema.json");
        let prices = if prices_path.exists() {
            let name = "prices.schema.json";
            ServedSchema::parse(Endpoint::Prices, read(name)?, &origin(name))?
        } else {
            Profile::default().prices
        };
        Ok(Profile {
            products: ServedSchema::parse(
                Endpoint::Products,
                read("products.schema.json")?,
                &origin("products.schema.json"),
            )?,
            stock: ServedSchema::parse(
                Endpoint::Stock,
                read("stock.schema.json")?,
                &origin("stock.schema.json"),
            )?,
            prices,
        })
    }

    /// The profile string (`2026-04`), as `/api/version` serves it: the products schema's.
    pub fn api_version(&self) -> &str {
        &self.products.document.api_version
    }

    /// The schema of one data endpoint.
    pub fn schema(&self, endpoint: Endpoint) -> &ServedSchema {
        match endpoint {
            Endpoint::Products => &self.products,
            Endpoint::Stock => &self.stock,
            Endpoint::Prices => &self.prices,
        }
    }

    /// The schema of one data endpoint, to replace.
    pub fn schema_mut(&mut self, endpoint: Endpoint) -> &mut ServedSchema {
        match endpoint {
            Endpoint::Products => &mut self.products,
            Endpoint::Stock => &mut self.stock,
            Endpoint::Prices => &mut self.prices,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn default_profile_is_2026_04() {
        let p = Profile::default();
        assert_eq!(p.api_version(), "2026-04");
        assert_eq!(p.products.document.fields[0].wire_key, "SKU");
    }

    #[test]
    fn from_dir_reads_and_checks_endpoints() {
        let dir = std::env::temp_dir().join(format!("kiss-profile-test-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        std::fs::write(dir.join("products.schema.json"), contract::PRODUCTS_SCHEMA).unwrap();
        let missing = Profile::from_dir(&dir).unwrap_err();
        assert!(
            missing.to_string().contains("stock.schema.json"),
            "{missing}"
        );
        std::fs::write(dir.join("stock.schema.json"), contract::PRODUCTS_SCHEMA).unwrap();
        let wrong = Profile::from_dir(&dir).unwrap_err();
        assert!(
            matches!(wrong, ProfileError::WrongEndpoint { .. }),
            "{wrong}"
        );
        std::fs::write(dir.join("stock.schema.json"), contract::STOCK_SCHEMA).unwrap();
        let profile = Profile::from_dir(&dir).unwrap();
        assert_eq!(profile.stock.body, contract::STOCK_SCHEMA.as_bytes());
        std::fs::remove_dir_all(&dir).unwrap();
    }
}
