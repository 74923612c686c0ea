//! What regen reads from a deployment, through kiss-client: the profile, the schema documents
//! and a sample of each endpoint's records.

use futures_util::{StreamExt, TryStreamExt};
use kiss_client::{Client, Endpoint, Error};
use kiss_dynamic::{Record, SchemaDocument};

/// How many records of each endpoint the wire-key check reads.
pub const SAMPLE: usize = 500;

/// What regen reads from a deployment.
pub struct Fetched {
    pub profile: String,
    pub products_schema: SchemaDocument,
    pub stock_schema: SchemaDocument,
    /// `(endpoint, first records)` of each data endpoint, for the wire-key check.
    pub samples: Vec<(&'static str, Vec<Record>)>,
}

pub async fn fetch(client: &Client) -> Result<Fetched, Error> {
    let profile = client.api_version().await?;
    let products_schema = client.schema(Endpoint::Products).await?;
    let stock_schema = client.schema(Endpoint::Stock).await?;
    let mut samples = Vec::new();
    for endpoint in Endpoint::ALL {
        let (_, records) = client.records_stream(endpoint).await?;
        let sample: Vec<Record> = records.take(SAMPLE).try_collect().await?;
        samples.push((endpoint.path(), sample));
    }
    Ok(Fetched {
        profile,
        products_schema,
        stock_schema,
        samples,
    })
}
