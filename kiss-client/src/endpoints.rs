//! The API's endpoints as methods: data (typed and dynamic), schemas, version and health.

use futures_util::stream::Stream;
#[cfg(feature = "typed")]
use futures_util::TryStreamExt;
use kiss_dynamic::{Decoder, Record};
use kiss_schema::{contract, Endpoint, SchemaDocument};
use serde::Deserialize;

use crate::client::Client;
use crate::error::Error;
use crate::response::{error_message, failure, read_document, unexpected};
use crate::retry::Auth;

impl Client {
    /// A GET that must answer `200`: the response, or what its status means. A small
    /// `document` gets the total deadline; a data array only the read timeout.
    pub(crate) async fn get(&self, path: &str, document: bool) -> Result<reqwest::Response, Error> {
        let auth = match path {
            "/api/version" | "/health" => Auth::None,
            _ => Auth::Bearer,
        };
        let deadline = self.inner.document_timeout;
        let answer = self
            .send(path, auth, |http, url, token| {
                let mut request = http.get(url);
                if document {
                    request = request.timeout(deadline);
                }
                match token {
                    Some(token) => request.bearer_auth(token),
                    None => request,
                }
            })
            .await?;
        match answer.status {
            200 => Ok(answer.response),
            401 => Err(Error::InvalidToken),
            404 => {
                let body = answer.response.bytes().await.unwrap_or_default();
                Err(if error_message(&body) == "Customer not found." {
                    Error::CustomerNotFound
                } else {
                    unexpected(404, path, &body)
                })
            }
            _ => Err(self.scrubbed(failure(path, answer).await)),
        }
    }

    async fn get_bytes(&self, path: &str) -> Result<Vec<u8>, Error> {
        let response = self.get(path, true).await?;
        let inner = &self.inner;
        read_document(
            path,
            response,
            inner.max_document_bytes,
            inner.document_timeout,
        )
        .await
    }

    /// The live schema document of an endpoint (`/prices` has none: the one in
    /// [`kiss_schema::contract`]).
    pub async fn schema(&self, endpoint: Endpoint) -> Result<SchemaDocument, Error> {
        let Some(path) = endpoint.schema_path() else {
            return Ok(contract::default_schema(endpoint));
        };
        let body = self.get_bytes(path).await?;
        SchemaDocument::from_slice(&body).map_err(|e| Error::InvalidBody {
            path: path.to_owned(),
            detail: e.to_string(),
        })
    }

    /// Any data endpoint as dynamic records, typed by its live schema and streamed. Also
    /// returns that schema (for table headers, say).
    pub async fn records_stream(
        &self,
        endpoint: Endpoint,
    ) -> Result<(SchemaDocument, impl Stream<Item = Result<Record, Error>>), Error> {
        let schema = self.schema(endpoint).await?;
        let records = self.stream_with(endpoint, Decoder::new(&schema)).await?;
        Ok((schema, records))
    }

    /// `/api/version`: the live profile.
    pub async fn api_version(&self) -> Result<String, Error> {
        let body = self.get_bytes("/api/version").await?;
        #[derive(Deserialize)]
        struct Version {
            #[serde(rename = "apiVersion")]
            api_version: String,
        }
        serde_json::from_slice::<Version>(&body)
            .map(|v| v.api_version)
            .map_err(|e| Error::InvalidBody {
                path: "/api/version".into(),
                detail: e.to_string(),
            })
    }

    /// `/health`: `Ok(true)` for `200 Healthy`, `Ok(false)` for `503`.
    pub async fn health(&self) -> Result<bool, Error> {
        match self.get("/health", true).await {
            Ok(_) => Ok(true),
            Err(Error::Server { status: 503, .. }) => Ok(false),
            Err(e) => Err(e),
        }
    }
}

/// The typed endpoints: kiss-generated's structs (the `typed` feature, on by default).
#[cfg(feature = "typed")]
impl Client {
    /// `/products` as typed records, streamed.
    pub async fn products_stream(
        &self,
    ) -> Result<impl Stream<Item = Result<kiss_generated::Product, Error>>, Error> {
        self.stream_with(
            Endpoint::Products,
            kiss_dynamic::model::ModelDecoder::default(),
        )
        .await
    }

    /// `/stock` as typed records, streamed.
    pub async fn stock_stream(
        &self,
    ) -> Result<impl Stream<Item = Result<kiss_generated::StockEntry, Error>>, Error> {
        self.stream_with(
            Endpoint::Stock,
            kiss_dynamic::model::ModelDecoder::default(),
        )
        .await
    }

    /// `/prices` as typed records, streamed.
    pub async fn prices_stream(
        &self,
    ) -> Result<impl Stream<Item = Result<kiss_generated::ProductPrice, Error>>, Error> {
        self.stream_with(
            Endpoint::Prices,
            kiss_dynamic::model::ModelDecoder::default(),
        )
        .await
    }

    /// All of `/products`.
    pub async fn products(&self) -> Result<Vec<kiss_generated::Product>, Error> {
        self.products_stream().await?.try_collect().await
    }

    /// All of `/stock`.
    pub async fn stock(&self) -> Result<Vec<kiss_generated::StockEntry>, Error> {
        self.stock_stream().await?.try_collect().await
    }

    /// All of `/prices`.
    pub async fn prices(&self) -> Result<Vec<kiss_generated::ProductPrice>, Error> {
        self.prices_stream().await?.try_collect().await
    }
}
