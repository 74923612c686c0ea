//! The API's data endpoints: the one list that the client, the sandbox and the CLI share.

use std::fmt;
use std::str::FromStr;

use thiserror::Error;

/// A data endpoint: one JSON array of records, the whole set in one response.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Endpoint {
    /// `/products`: the catalogue (schema at `/products/schema`).
    Products,
    /// `/stock`: availability per warehouse (schema at `/stock/schema`).
    Stock,
    /// `/prices`: the customer's price list. The API has no schema endpoint for it; its
    /// schema is ours ([`crate::contract::PRICES_SCHEMA`]).
    Prices,
}

/// A name that is not one of the data endpoints.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
#[error("no data endpoint is called {0:?}: use products, stock or prices")]
pub struct UnknownEndpoint(pub String);

impl Endpoint {
    /// Every data endpoint, in the documentation's order.
    pub const ALL: [Endpoint; 3] = [Endpoint::Products, Endpoint::Stock, Endpoint::Prices];

    /// The path (`/products`).
    pub fn path(self) -> &'static str {
        match self {
            Endpoint::Products => "/products",
            Endpoint::Stock => "/stock",
            Endpoint::Prices => "/prices",
        }
    }

    /// The name used on command lines and in file names (`products`).
    pub fn name(self) -> &'static str {
        &self.path()[1..]
    }

    /// The path of the endpoint's schema document, where the API serves one (`/prices` has
    /// none).
    pub fn schema_path(self) -> Option<&'static str> {
        match self {
            Endpoint::Products => Some("/products/schema"),
            Endpoint::Stock => Some("/stock/schema"),
            Endpoint::Prices => None,
        }
    }

    /// The endpoint a path names (`/products`), if any.
    pub fn from_path(path: &str) -> Option<Endpoint> {
        Endpoint::ALL.into_iter().find(|e| e.path() == path)
    }
}

impl fmt::Display for Endpoint {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.path())
    }
}

impl FromStr for Endpoint {
    type Err = UnknownEndpoint;

    /// `products`, `stock` or `prices`, with or without the leading `/`.
    fn from_str(text: &str) -> Result<Endpoint, UnknownEndpoint> {
        let name = text.strip_prefix('/').unwrap_or(text);
        Endpoint::ALL
            .into_iter()
            .find(|e| e.name() == name)
            .ok_or_else(|| UnknownEndpoint(text.to_owned()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_paths_and_parsing_agree() {
        for endpoint in Endpoint::ALL {
            assert_eq!(endpoint.name().parse::<Endpoint>(), Ok(endpoint));
            assert_eq!(endpoint.path().parse::<Endpoint>(), Ok(endpoint));
            assert_eq!(Endpoint::from_path(endpoint.path()), Some(endpoint));
            assert_eq!(endpoint.default_schema().endpoint, endpoint.path());
        }
        assert_eq!(
            "orders".parse::<Endpoint>(),
            Err(UnknownEndpoint("orders".into()))
        );
        assert_eq!(Endpoint::Prices.schema_path(), None);
    }
}
