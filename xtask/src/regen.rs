//! `cargo xtask regen`: schema documents in, `generated/` out, drift reported.

use std::collections::{BTreeSet, HashSet};
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::time::Instant;

use kiss_codegen::GeneratedFile;
use kiss_schema::{Endpoint, SchemaDiff, SchemaDocument};
use thiserror::Error;

use crate::fetch::{self, SAMPLE};

#[derive(Debug, clap::Args)]
pub struct RegenArgs {
    /// Read saved schema documents from DIR (products.schema.json, stock.schema.json and
    /// optionally prices.schema.json) instead of fetching them.
    #[arg(long, value_name = "DIR", conflicts_with = "base_url")]
    from: Option<PathBuf>,
    /// Fetch from this deployment (credentials from KISS_CUSTOMER_CODE and KISS_API_KEY).
    #[arg(long, env = "KISS_BASE_URL", value_name = "URL")]
    base_url: Option<String>,
    /// Change nothing; exit 1 with the differences when generated/ is stale. Without
    /// --base-url or --from, checks against the saved documents in generated/schemas.
    #[arg(long)]
    check: bool,
    /// The generated crate's directory.
    #[arg(long, value_name = "DIR", default_value_os_t = default_out())]
    out: PathBuf,
}

fn default_out() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../generated")
}

#[derive(Debug, Error)]
pub enum RegenError {
    #[error("cannot read {path}: {source}")]
    Read {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("cannot write {path}: {source}")]
    Write {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("{origin}: {source}")]
    Schema {
        origin: String,
        source: kiss_schema::SchemaError,
    },
    #[error("{0}")]
    Fetch(#[from] kiss_client::Error),
    #[error("{0}")]
    Codegen(#[from] kiss_codegen::CodegenError),
    #[error(
        "a deployment (--base-url or KISS_BASE_URL) needs {0}: export it, or give no URL to use the in-process sandbox"
    )]
    MissingCredential(&'static str),
    #[error("cannot start the in-process sandbox: {0}")]
    Sandbox(String),
}

/// Where the documents came from, and the data a deployment served with them.
struct Source {
    description: String,
    documents: Vec<SchemaDocument>,
    profile: Option<String>,
    samples: Vec<(&'static str, Vec<kiss_dynamic::Record>)>,
}

pub fn run(args: RegenArgs) -> Result<ExitCode, RegenError> {
    let started = Instant::now();
    let source = load(&args)?;
    println!("source: {}", source.description);
    let documents = &source.documents;
    let profile = &documents[0].api_version;
    if let Some(served) = &source.profile {
        if served != profile {
            println!("warning: /api/version says {served}, the products schema says {profile}");
        }
    }
    for (endpoint, sample) in &source.samples {
        if let Some(document) = documents.iter().find(|d| d.endpoint == *endpoint) {
            for warning in check_wire_keys(document, sample) {
                println!("warning: {warning}");
            }
        }
    }

    let files = kiss_codegen::generate_crate(documents)?;
    let old_documents = saved_documents(&args.out.join("schemas"))?;
    println!("profile: {profile}");
    for document in documents {
        match old_documents
            .iter()
            .find(|d| d.endpoint == document.endpoint)
        {
            Some(old) => print!("{}", SchemaDiff::between(old, document)),
            None => println!("{}: new endpoint", document.endpoint),
        }
    }
    let stale = stale_files(&args.out, &files)?;
    if args.check {
        if stale.is_empty() {
            println!("generated/ is up to date ({} files checked)", files.len());
            return Ok(ExitCode::SUCCESS);
        }
        println!("generated/ is stale: {}", stale.join(", "));
        println!("run `cargo xtask regen` (with the same source) and commit the result");
        return Ok(ExitCode::FAILURE);
    }
    for file in &files {
        let path = args.out.join(&file.path);
        if let Some(parent) = path.parent() {
            std::fs::create_dir_all(parent).map_err(|source| RegenError::Write {
                path: parent.to_owned(),
                source,
            })?;
        }
        std::fs::write(&path, &file.contents).map_err(|source| RegenError::Write {
            path: path.clone(),
            source,
        })?;
    }
    println!(
        "wrote {} files ({} changed) in {} ms",
        files.len(),
        stale.len(),
        started.elapsed().as_millis()
    );
    Ok(ExitCode::SUCCESS)
}

fn load(args: &RegenArgs) -> Result<Source, RegenError> {
    if let Some(dir) = &args.from {
        return Ok(Source {
            description: format!("saved documents in {}", dir.display()),
            documents: read_documents(dir)?,
            profile: None,
            samples: Vec::new(),
        });
    }
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .map_err(|e| RegenError::Sandbox(e.to_string()))?;
    if let Some(base_url) = &args.base_url {
        let client = kiss_client::Client::builder()
            .base_url(base_url.clone())
            .customer_code(
                std::env::var("KISS_CUSTOMER_CODE")
                    .map_err(|_| RegenError::MissingCredential("KISS_CUSTOMER_CODE"))?,
            )
            .api_key(
                std::env::var("KISS_API_KEY")
                    .map_err(|_| RegenError::MissingCredential("KISS_API_KEY"))?,
            )
            .build()?;
        let fetched = runtime.block_on(fetch::fetch(&client))?;
        return from_fetched(format!("deployment {base_url}"), fetched);
    }
    if args.check {
        let dir = args.out.join("schemas");
        return Ok(Source {
            description: format!("saved documents in {}", dir.display()),
            documents: read_documents(&dir)?,
            profile: None,
            samples: Vec::new(),
        });
    }
    let fetched = runtime.block_on(async {
        let sandbox = kiss_sandbox::Sandbox::start(kiss_sandbox::SandboxConfig::default())
            .await
            .map_err(|e| RegenError::Sandbox(e.to_string()))?;
        let client = kiss_client::Client::builder()
            .base_url(sandbox.base_url())
            .customer_code(kiss_sandbox::DEFAULT_CUSTOMER_CODE)
            .api_key(kiss_sandbox::DEFAULT_API_KEY)
            .build()?;
        let fetched = fetch::fetch(&client).await;
        sandbox.shutdown().await;
        Ok::<_, RegenError>(fetched?)
    })?;
    from_fetched(
        "in-process sandbox (no --base-url, KISS_BASE_URL or --from given)".to_owned(),
        fetched,
    )
}

fn from_fetched(description: String, fetched: fetch::Fetched) -> Result<Source, RegenError> {
    Ok(Source {
        description,
        documents: vec![
            fetched.products_schema,
            fetched.stock_schema,
            Endpoint::Prices.default_schema(),
        ],
        profile: Some(fetched.profile),
        samples: fetched.samples,
    })
}

/// products, stock, and prices (the directory's own, or the checked-in hand-written one).
fn read_documents(dir: &Path) -> Result<Vec<SchemaDocument>, RegenError> {
    let read = |name: &str| -> Result<SchemaDocument, RegenError> {
        let path = dir.join(name);
        let bytes = std::fs::read(&path).map_err(|source| RegenError::Read {
            path: path.clone(),
            source,
        })?;
        SchemaDocument::from_slice(&bytes).map_err(|source| RegenError::Schema {
            origin: path.display().to_string(),
            source,
        })
    };
    let prices = if dir.join("prices.schema.json").exists() {
        read("prices.schema.json")?
    } else {
        Endpoint::Prices.default_schema()
    };
    Ok(vec![
        read("products.schema.json")?,
        read("stock.schema.json")?,
        prices,
    ])
}

/// The documents currently checked in, or none when there are none yet.
fn saved_documents(dir: &Path) -> Result<Vec<SchemaDocument>, RegenError> {
    if !dir.join("products.schema.json").exists() {
        return Ok(Vec::new());
    }
    read_documents(dir)
}

/// Paths whose contents on disk differ from what was generated (missing files included).
fn stale_files(out: &Path, files: &[GeneratedFile]) -> Result<Vec<String>, RegenError> {
    let mut stale = Vec::new();
    for file in files {
        let path = out.join(&file.path);
        match std::fs::read_to_string(&path) {
            Ok(existing) if existing == file.contents => {}
            Ok(_) => stale.push(file.path.clone()),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => stale.push(file.path.clone()),
            Err(source) => return Err(RegenError::Read { path, source }),
        }
    }
    Ok(stale)
}

/// Checks the schema's mapped wire keys against the data's literal keys, which win: schema
/// names that map to no key in a sample, keys spelled as the schema name, keys the schema
/// lacks.
pub fn check_wire_keys(document: &SchemaDocument, sample: &[kiss_dynamic::Record]) -> Vec<String> {
    let endpoint = &document.endpoint;
    let sample = &sample[..sample.len().min(SAMPLE)];
    let mut seen: HashSet<String> = HashSet::new();
    let mut unknown: BTreeSet<String> = BTreeSet::new();
    for record in sample {
        for (key, value) in record.iter() {
            seen.insert(key.to_owned());
            if let kiss_dynamic::Value::Array(elements) = value {
                for element in elements.iter() {
                    for (nested, _) in element.iter() {
                        seen.insert(format!("{key}[].{nested}"));
                    }
                    for (nested, _) in element.unknown_fields() {
                        unknown.insert(format!("{key}[].{nested}"));
                    }
                }
            }
        }
        for (key, _) in record.unknown_fields() {
            unknown.insert(key.to_owned());
        }
    }
    let mut warnings = Vec::new();
    if sample.is_empty() {
        return warnings;
    }
    let mut check = |name: &str, wire_key: &str, prefix: &str| {
        let (spelled_key, spelled_name) =
            (format!("{prefix}{wire_key}"), format!("{prefix}{name}"));
        if seen.contains(&spelled_key) {
            return;
        }
        if seen.contains(&spelled_name) {
            warnings.push(format!(
                "{endpoint}: the data spells {spelled_key} as the schema name {spelled_name:?} \
                 (the API may have fixed its casing: decoding accepts both)"
            ));
        } else {
            warnings.push(format!(
                "{endpoint}: schema name {name:?} maps to the wire key {spelled_key:?}, which no \
                 record of a sample of {} has",
                sample.len()
            ));
        }
    };
    for field in &document.fields {
        check(&field.name, &field.wire_key, "");
    }
    for array in &document.arrays {
        check(&array.name, &array.wire_key, "");
        let array_has_elements = sample
            .iter()
            .any(|r| r.get_array(&array.wire_key).is_ok_and(|a| !a.is_empty()));
        if array_has_elements {
            for field in &array.fields {
                check(
                    &field.name,
                    &field.wire_key,
                    &format!("{}[].", array.wire_key),
                );
            }
        }
    }
    if !unknown.is_empty() {
        let keys: Vec<String> = unknown.into_iter().collect();
        warnings.push(format!(
            "{endpoint}: the data has keys the schema lacks: {} (kept as unknown fields)",
            keys.join(", ")
        ));
    }
    warnings
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sample(document: &SchemaDocument, body: &[u8]) -> Vec<kiss_dynamic::Record> {
        kiss_dynamic::Decoder::new(document)
            .decode_array(body)
            .unwrap()
    }

    fn stock() -> SchemaDocument {
        SchemaDocument::from_json(kiss_schema::contract::STOCK_SCHEMA).unwrap()
    }

    #[test]
    fn data_that_matches_the_schema_gives_no_warning() {
        let body = kiss_schema::contract::STOCK_EXAMPLE.as_bytes();
        assert!(check_wire_keys(&stock(), &sample(&stock(), body)).is_empty());
    }

    #[test]
    fn schema_names_mapping_to_no_key_and_extra_keys_are_reported() {
        let body =
            br#"[{"SKU":"A","stockLocation":"UK01","AvailableQty":1,"NextAvailableETA":null}]"#;
        let warnings = check_wire_keys(&stock(), &sample(&stock(), body));
        assert_eq!(warnings.len(), 3, "{warnings:#?}");
        assert!(warnings[0].contains("spells StockLocation as the schema name \"stockLocation\""));
        assert!(warnings[1].contains("\"availableQTY\" maps to the wire key \"AvailableQTY\""));
        assert!(warnings[2].contains("lacks: AvailableQty"));
    }

    #[test]
    fn nested_keys_are_checked_too() {
        let products = SchemaDocument::from_json(kiss_schema::contract::PRODUCTS_SCHEMA).unwrap();
        let body = br#"[{"SKU":"A","ProductImages":[{"ImageId":"x"}]}]"#;
        let warnings = check_wire_keys(&products, &sample(&products, body));
        assert!(
            warnings
                .iter()
                .any(|w| w.contains("\"ProductImages[].ImageID\"")),
            "{warnings:#?}"
        );
        assert!(
            warnings
                .iter()
                .any(|w| w.contains("ProductImages[].ImageId")),
            "{warnings:#?}"
        );
    }
}
