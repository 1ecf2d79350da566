//! `meta.k8s.io/v1` Tables, the server-side printing kubectl asks for: columns, one row of
//! cells per object carrying the object's metadata (or the whole object), and the text
//! rendering `staticpod get pods` prints, laid out as kubectl lays it out.

use std::time::SystemTime;

use serde::{Deserialize, Serialize};
use serde_json::Value;

use crate::negotiate::IncludeObject;
use crate::resource::{ListMeta, Resource};

/// A column of a Table.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Column {
    /// `Name`, `Ready`, ... (kubectl upper-cases it).
    pub name: String,
    /// `string` or `integer`.
    #[serde(rename = "type")]
    pub type_: String,
    /// `name` for the object's name column.
    #[serde(default)]
    pub format: String,
    /// What it shows.
    #[serde(default)]
    pub description: String,
    /// 0 for the default columns, 1 for those `-o wide` adds.
    #[serde(default)]
    pub priority: u32,
}

impl Column {
    /// A string column.
    pub fn new(name: &str, priority: u32, description: &str) -> Self {
        Column {
            name: name.to_string(),
            type_: "string".to_string(),
            format: String::new(),
            description: description.to_string(),
            priority,
        }
    }

    /// The column of the objects' names.
    pub fn name(priority: u32) -> Self {
        Column {
            format: "name".to_string(),
            ..Column::new("Name", priority, "The object's name.")
        }
    }
}

/// A row's condition: `Completed` for a pod that has finished.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct RowCondition {
    /// `Completed`.
    #[serde(rename = "type")]
    pub type_: String,
    /// `True`.
    pub status: String,
    /// `Succeeded` or `Failed`.
    pub reason: String,
    /// In words.
    pub message: String,
}

/// A row of a Table.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Row {
    /// One cell per column.
    pub cells: Vec<Value>,
    /// Its conditions.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub conditions: Vec<RowCondition>,
    /// The object's metadata or the object, as `includeObject` asked.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub object: Option<Value>,
}

/// A `meta.k8s.io/v1` Table.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Table {
    /// `meta.k8s.io/v1`.
    pub api_version: String,
    /// `Table`.
    pub kind: String,
    /// The version of what it shows.
    #[serde(default)]
    pub metadata: ListMeta,
    /// The columns; left out after the first event of a watch, as kube-apiserver does.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub column_definitions: Vec<Column>,
    /// The rows.
    #[serde(default)]
    pub rows: Vec<Row>,
}

impl Table {
    /// The Table of `items` at `version`, with the columns unless `columns` is false.
    pub fn of<R: Resource>(
        items: &[&R],
        version: Option<u64>,
        include: IncludeObject,
        columns: bool,
        now: SystemTime,
    ) -> Table {
        Table {
            api_version: "meta.k8s.io/v1".to_string(),
            kind: "Table".to_string(),
            metadata: ListMeta {
                resource_version: version.map(|v| v.to_string()),
            },
            column_definitions: if columns { R::columns() } else { Vec::new() },
            rows: items.iter().map(|item| row(*item, include, now)).collect(),
        }
    }

    /// The Table as kubectl prints it: upper-case headers, columns three spaces apart,
    /// the wide columns only when `wide`.
    pub fn render(&self, wide: bool) -> String {
        let shown: Vec<usize> = (0..self.column_definitions.len())
            .filter(|&i| wide || self.column_definitions[i].priority == 0)
            .collect();
        let header: Vec<String> = shown
            .iter()
            .map(|&i| self.column_definitions[i].name.to_uppercase())
            .collect();
        let rows: Vec<Vec<String>> = self
            .rows
            .iter()
            .map(|row| {
                shown
                    .iter()
                    .map(|&i| row.cells.get(i).map(cell_text).unwrap_or_default())
                    .collect()
            })
            .collect();
        let mut widths: Vec<usize> = header.iter().map(String::len).collect();
        for row in &rows {
            for (width, cell) in widths.iter_mut().zip(row) {
                *width = (*width).max(cell.chars().count());
            }
        }
        let mut out = String::new();
        for line in std::iter::once(&header).chain(&rows) {
            let cells: Vec<String> = line
                .iter()
                .zip(&widths)
                .map(|(cell, width)| format!("{cell:<width$}"))
                .collect();
            out.push_str(cells.join("   ").trim_end());
            out.push('\n');
        }
        out
    }
}

/// How kubectl prints a cell: strings as they are, numbers in decimal.
fn cell_text(cell: &Value) -> String {
    match cell {
        Value::String(text) => text.clone(),
        Value::Null => String::new(),
        other => other.to_string(),
    }
}

fn row<R: Resource>(item: &R, include: IncludeObject, now: SystemTime) -> Row {
    let object = match include {
        IncludeObject::None => None,
        IncludeObject::Metadata => Some(serde_json::json!({
            "kind": "PartialObjectMetadata",
            "apiVersion": "meta.k8s.io/v1",
            "metadata": to_value(item).get("metadata").cloned().unwrap_or_default(),
        })),
        IncludeObject::Object => Some(to_value(item)),
    };
    Row {
        cells: item.cells(now),
        conditions: item.row_conditions(),
        object,
    }
}

/// An object as JSON; the agent's types always serialize.
pub(crate) fn to_value(item: &impl Serialize) -> Value {
    serde_json::to_value(item).expect("the API's objects serialize to JSON")
}
