//! What the node serves of each resource, written once for pods, events and the node: its
//! names (for paths and discovery), its Table columns and cells, the fields a field selector
//! may name, and the v1 `List` of it.

use std::collections::BTreeMap;
use std::time::SystemTime;

use serde::Serialize;
use serde_json::Value;

use crate::table::{Column, RowCondition};

/// A resource as kube-apiserver names and prints it.
pub trait Resource: Serialize {
    /// The names of the resource.
    const NAMES: Names;
    /// The fields a field selector may name.
    const FIELDS: &'static [&'static str];

    /// The Table's columns, wide ones (priority 1) included: kubectl hides those without
    /// `-o wide`.
    fn columns() -> Vec<Column>;
    /// One row's cells at `now`, one per column.
    fn cells(&self, now: SystemTime) -> Vec<Value>;
    /// The row's conditions (a finished pod is `Completed`).
    fn row_conditions(&self) -> Vec<RowCondition> {
        Vec::new()
    }
    /// The object's name.
    fn name(&self) -> &str;
    /// The object's namespace (empty for the node).
    fn namespace(&self) -> &str;
    /// The object's labels.
    fn labels(&self) -> &BTreeMap<String, String>;
    /// The value of `field` (one of [`Resource::FIELDS`]).
    fn field(&self, field: &str) -> String;
}

/// How a resource is named in paths, discovery and errors.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Names {
    /// `pods`: the path segment.
    pub plural: &'static str,
    /// `pod`.
    pub singular: &'static str,
    /// `Pod`.
    pub kind: &'static str,
    /// `po`.
    pub short: &'static str,
    /// Namespaced (pods, events) or cluster-scoped (nodes).
    pub namespaced: bool,
    /// The verbs the node answers (`delete` is answered, and refused, for pods).
    pub verbs: &'static [&'static str],
}

/// The labels of an object that has none (events).
pub static NO_LABELS: BTreeMap<String, String> = BTreeMap::new();

/// `metadata` of a List.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, serde::Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ListMeta {
    /// The version a watch continues from.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub resource_version: Option<String>,
}

/// A v1 `PodList`, `EventList` or `NodeList`.
#[derive(Debug, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct List<'a, R> {
    /// `v1`.
    pub api_version: &'static str,
    /// `PodList`.
    pub kind: String,
    /// The version of the list.
    pub metadata: ListMeta,
    /// The objects.
    pub items: Vec<&'a R>,
}

impl<'a, R: Resource> List<'a, R> {
    /// The list of `items` at `version`.
    pub fn new(items: Vec<&'a R>, version: Option<u64>) -> Self {
        List {
            api_version: "v1",
            kind: format!("{}List", R::NAMES.kind),
            metadata: ListMeta {
                resource_version: version.map(|v| v.to_string()),
            },
            items,
        }
    }
}
