//! What shape the client asked for: its `Accept` header (a `meta.k8s.io/v1` Table, aggregated
//! discovery, or plain JSON) and the query parameters of a list or watch (`watch`,
//! `resourceVersion`, `timeoutSeconds`, `labelSelector`, `fieldSelector`, `includeObject`).

use std::time::Duration;

use crate::error::ApiError;

/// The `Content-Type` of aggregated discovery: kubectl reads the answer as aggregated only
/// when it is exactly this, and as legacy discovery otherwise.
pub const AGGREGATED_DISCOVERY: &str =
    "application/json;g=apidiscovery.k8s.io;v=v2;as=APIGroupDiscoveryList";

/// One media range of an `Accept` header: `application/json;as=Table;v=v1;g=meta.k8s.io`.
struct MediaRange<'a> {
    essence: &'a str,
    parameters: Vec<(&'a str, &'a str)>,
}

impl MediaRange<'_> {
    fn is(&self, group: &str, version: &str, kind: &str) -> bool {
        let has = |key: &str, value: &str| {
            self.parameters
                .iter()
                .any(|(k, v)| k.eq_ignore_ascii_case(key) && *v == value)
        };
        matches!(self.essence, "application/json" | "*/*")
            && has("g", group)
            && has("v", version)
            && has("as", kind)
    }
}

fn ranges(accept: &str) -> impl Iterator<Item = MediaRange<'_>> {
    accept.split(',').map(|range| {
        let mut parts = range.split(';').map(str::trim);
        let essence = parts.next().unwrap_or_default();
        MediaRange {
            essence,
            parameters: parts.filter_map(|p| p.split_once('=')).collect(),
        }
    })
}

/// The client takes a `meta.k8s.io/v1` Table (kubectl's human-readable output).
pub fn wants_table(accept: &str) -> bool {
    ranges(accept).any(|r| r.is("meta.k8s.io", "v1", "Table"))
}

/// The client takes aggregated discovery (`apidiscovery.k8s.io/v2`); kubectl 1.26 and later
/// ask for it, older clients (Debian's kubectl 1.20) do not.
pub fn wants_aggregated_discovery(accept: &str) -> bool {
    ranges(accept).any(|r| r.is("apidiscovery.k8s.io", "v2", "APIGroupDiscoveryList"))
}

/// What a Table row carries besides its cells (`includeObject`).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub enum IncludeObject {
    /// Nothing.
    None,
    /// The object's metadata, as `PartialObjectMetadata` (the default): enough for `-A`,
    /// `--show-labels`.
    #[default]
    Metadata,
    /// The whole object (kubectl asks for it to `--sort-by`).
    Object,
}

/// How an answer is shaped.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Format {
    /// The v1 objects.
    Json,
    /// A Table of them.
    Table(IncludeObject),
}

/// Where a watch starts.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Since {
    /// `resourceVersion` unset or `0`: every current object as `ADDED`, then the changes.
    Now,
    /// After this version: only what changed since (kubectl's `get -w` after its list).
    Version(u64),
}

/// The query parameters of a request for a resource.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Query {
    /// `watch=true` (or `1`).
    pub watch: bool,
    /// `resourceVersion`.
    pub resource_version: Option<String>,
    /// `timeoutSeconds`.
    pub timeout: Option<Duration>,
    /// `labelSelector`.
    pub label_selector: String,
    /// `fieldSelector`.
    pub field_selector: String,
    /// `includeObject`.
    pub include_object: IncludeObject,
}

impl Query {
    /// Reads a query string (`a=b&c=d`, percent-encoded); unknown parameters (`limit`,
    /// `timeout`, ...) are ignored, as lists are answered whole.
    pub fn parse(query: &str) -> Result<Query, ApiError> {
        let mut out = Query::default();
        for (key, value) in form_urlencoded::parse(query.as_bytes()) {
            match &*key {
                "watch" => out.watch = matches!(&*value, "true" | "1"),
                "resourceVersion" => out.resource_version = Some(value.into_owned()),
                "timeoutSeconds" => {
                    let seconds = value.parse::<u64>().map_err(|_| ApiError::BadParameter {
                        parameter: "timeoutSeconds",
                        value: value.to_string(),
                        expected: "a whole number of seconds",
                    })?;
                    out.timeout = Some(Duration::from_secs(seconds));
                }
                "labelSelector" => out.label_selector = value.into_owned(),
                "fieldSelector" => out.field_selector = value.into_owned(),
                "includeObject" => {
                    out.include_object = match &*value {
                        "None" => IncludeObject::None,
                        "Metadata" => IncludeObject::Metadata,
                        "Object" => IncludeObject::Object,
                        other => {
                            return Err(ApiError::BadParameter {
                                parameter: "includeObject",
                                value: other.to_string(),
                                expected: "None, Metadata or Object",
                            });
                        }
                    }
                }
                _ => {}
            }
        }
        Ok(out)
    }

    /// Where a watch starts.
    pub fn since(&self) -> Result<Since, ApiError> {
        match self.resource_version.as_deref() {
            None | Some("" | "0") => Ok(Since::Now),
            Some(version) => {
                version
                    .parse()
                    .map(Since::Version)
                    .map_err(|_| ApiError::BadParameter {
                        parameter: "resourceVersion",
                        value: version.to_string(),
                        expected: "a resource version this node gave",
                    })
            }
        }
    }

    /// The shape of the answer, given the `Accept` header.
    pub fn format(&self, accept: &str) -> Format {
        if wants_table(accept) {
            Format::Table(self.include_object)
        } else {
            Format::Json
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// What kubectl v1.32.4 sends (recorded with `-v=8`).
    const KUBECTL_GET: &str = "application/json;as=Table;v=v1;g=meta.k8s.io,application/json;as=Table;v=v1beta1;g=meta.k8s.io,application/json";
    const KUBECTL_DISCOVERY: &str = "application/json;g=apidiscovery.k8s.io;v=v2;as=APIGroupDiscoveryList,application/json;g=apidiscovery.k8s.io;v=v2beta1;as=APIGroupDiscoveryList,application/json";

    #[test]
    fn kubectls_accept_headers_are_read() {
        assert!(wants_table(KUBECTL_GET));
        assert!(!wants_table("application/json"));
        assert!(!wants_table(
            "application/json;as=Table;v=v1beta1;g=meta.k8s.io"
        ));
        assert!(wants_aggregated_discovery(KUBECTL_DISCOVERY));
        assert!(!wants_aggregated_discovery(KUBECTL_GET));
        assert!(!wants_aggregated_discovery("application/json, */*"));
    }

    #[test]
    fn a_watch_query_is_read() {
        let query = Query::parse(
            "watch=true&resourceVersion=12&timeoutSeconds=30&labelSelector=app%3Dweb&fieldSelector=metadata.name%3Dx&includeObject=Object&limit=500",
        )
        .unwrap();
        assert!(query.watch);
        assert_eq!(query.since(), Ok(Since::Version(12)));
        assert_eq!(query.timeout, Some(Duration::from_secs(30)));
        assert_eq!(query.label_selector, "app=web");
        assert_eq!(query.field_selector, "metadata.name=x");
        assert_eq!(
            query.format(KUBECTL_GET),
            Format::Table(IncludeObject::Object)
        );
        assert_eq!(
            Query::parse("resourceVersion=0").unwrap().since(),
            Ok(Since::Now)
        );
        assert!(Query::parse("timeoutSeconds=soon").is_err());
        assert!(
            Query::parse("resourceVersion=abc")
                .unwrap()
                .since()
                .is_err()
        );
    }
}
