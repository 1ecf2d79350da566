//! Where each field of a document is: a map from field paths (`spec.containers[0].image`) to
//! line and column, read with serde-saphyr's spans. Validation uses it to put a position on
//! every finding, and a type error's position is turned back into the field it hit.

use std::collections::BTreeMap;
use std::fmt;

use serde::de::{self, Deserialize, Deserializer, MapAccess, SeqAccess, Visitor};
use serde_saphyr::Spanned;

use crate::diagnostic::Position;

/// Field paths of one document and where they are in the file.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct FieldIndex {
    positions: BTreeMap<String, Position>,
    /// The top-level `kind`, when it is a string.
    pub kind: Option<String>,
}

impl FieldIndex {
    /// Reads the positions of every field in `text`, a single document whose first line is
    /// line `line_offset + 1` of the file. `None` when the text is not valid YAML (the typed
    /// parse reports that error).
    pub fn read(text: &str, line_offset: u64) -> Option<FieldIndex> {
        let root: Spanned<Node> =
            serde_saphyr::from_str_with_options(text, super::yaml_options()).ok()?;
        let mut index = FieldIndex::default();
        if let Node::Map(entries) = &root.value {
            index.kind = entries
                .iter()
                .find(|(key, _)| key.value == "kind")
                .and_then(|(_, value)| match &value.value {
                    Node::Scalar(kind) => Some(kind.clone()),
                    _ => None,
                });
        }
        index.insert_node(String::new(), &root.value, line_offset);
        Some(index)
    }

    /// Every field path in the document with its position, in path order.
    pub fn paths(&self) -> impl Iterator<Item = (&str, Position)> {
        self.positions.iter().map(|(path, at)| (path.as_str(), *at))
    }

    /// Position of a field path, or of its nearest ancestor that is in the file.
    pub fn position(&self, path: &str) -> Option<Position> {
        let mut path = path;
        loop {
            if let Some(position) = self.positions.get(path) {
                return Some(*position);
            }
            let cut = path.rfind(['.', '['])?;
            path = &path[..cut];
        }
    }

    /// The field at or just before a position: where a type error points inside a value,
    /// the nearest key before it is the field the error is about.
    pub fn field_at(&self, at: Position) -> Option<&str> {
        self.positions
            .iter()
            .filter(|(_, position)| **position <= at)
            .max_by_key(|(_, position)| **position)
            .map(|(path, _)| path.as_str())
    }

    fn insert_node(&mut self, path: String, node: &Node, line_offset: u64) {
        match node {
            Node::Map(entries) => {
                for (key, value) in entries {
                    let child = child_path(&path, &key.value);
                    self.positions
                        .insert(child.clone(), shift(&key.referenced, line_offset));
                    self.insert_node(child, &value.value, line_offset);
                }
            }
            Node::Seq(items) => {
                for (i, item) in items.iter().enumerate() {
                    let child = format!("{path}[{i}]");
                    self.positions
                        .insert(child.clone(), shift(&item.referenced, line_offset));
                    self.insert_node(child, &item.value, line_offset);
                }
            }
            Node::Scalar(_) => {}
        }
    }
}

/// The path of field `key` of the object at `parent` (`spec`, `containers`:
/// `spec.containers`), without a dot at the root. An empty key (YAML allows `"": 1`, and `?`
/// alone is a key that is null) is written `""`, so that a finding about it names a field.
pub fn child_path(parent: &str, key: &str) -> String {
    let key = if key.is_empty() { "\"\"" } else { key };
    if parent.is_empty() {
        key.to_string()
    } else {
        format!("{parent}.{key}")
    }
}

/// `a.b[3].c` as `a.b[].c`: the shape of a field path, whatever the list items.
pub fn without_indexes(path: &str) -> String {
    let mut out = String::with_capacity(path.len());
    let mut in_index = false;
    for c in path.chars() {
        match c {
            '[' => {
                in_index = true;
                out.push_str("[]");
            }
            ']' => in_index = false,
            _ if in_index => {}
            _ => out.push(c),
        }
    }
    out
}

fn shift(location: &serde_saphyr::Location, line_offset: u64) -> Position {
    Position {
        line: location.line() + line_offset,
        column: location.column(),
    }
}

/// A YAML node with the position of every key and sequence item.
enum Node {
    Map(Vec<(Spanned<String>, Spanned<Node>)>),
    Seq(Vec<Spanned<Node>>),
    Scalar(String),
}

impl<'de> Deserialize<'de> for Node {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        deserializer.deserialize_any(NodeVisitor)
    }
}

struct NodeVisitor;

impl<'de> Visitor<'de> for NodeVisitor {
    type Value = Node;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("any YAML value")
    }

    fn visit_bool<E: de::Error>(self, v: bool) -> Result<Node, E> {
        Ok(Node::Scalar(v.to_string()))
    }
    fn visit_i64<E: de::Error>(self, v: i64) -> Result<Node, E> {
        Ok(Node::Scalar(v.to_string()))
    }
    fn visit_u64<E: de::Error>(self, v: u64) -> Result<Node, E> {
        Ok(Node::Scalar(v.to_string()))
    }
    fn visit_f64<E: de::Error>(self, v: f64) -> Result<Node, E> {
        Ok(Node::Scalar(v.to_string()))
    }
    fn visit_str<E: de::Error>(self, v: &str) -> Result<Node, E> {
        Ok(Node::Scalar(v.to_string()))
    }
    fn visit_unit<E: de::Error>(self) -> Result<Node, E> {
        Ok(Node::Scalar(String::new()))
    }
    fn visit_none<E: de::Error>(self) -> Result<Node, E> {
        Ok(Node::Scalar(String::new()))
    }
    fn visit_some<D: Deserializer<'de>>(self, deserializer: D) -> Result<Node, D::Error> {
        Node::deserialize(deserializer)
    }
    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Node, A::Error> {
        let mut items = Vec::new();
        while let Some(item) = seq.next_element()? {
            items.push(item);
        }
        Ok(Node::Seq(items))
    }
    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Node, A::Error> {
        let mut entries = Vec::new();
        while let Some(key) = map.next_key::<Spanned<KeyText>>()? {
            let value = map.next_value()?;
            let key = Spanned {
                value: key.value.0,
                referenced: key.referenced,
                defined: key.defined,
            };
            entries.push((key, value));
        }
        Ok(Node::Map(entries))
    }
}

/// A map key of any scalar type, as text.
struct KeyText(String);

impl<'de> Deserialize<'de> for KeyText {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        match Node::deserialize(deserializer)? {
            Node::Scalar(text) => Ok(KeyText(text)),
            _ => Err(de::Error::custom("a map key must be a scalar")),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn indexes_keys_and_items_with_file_lines() {
        let text = "kind: Pod\nspec:\n  containers:\n  - name: web\n    image: nginx\n";
        let index = FieldIndex::read(text, 10).unwrap();
        assert_eq!(index.kind.as_deref(), Some("Pod"));
        let at = |line, column| Some(Position { line, column });
        assert_eq!(index.position("spec"), at(12, 1));
        assert_eq!(index.position("spec.containers[0].image"), at(15, 5));
        assert_eq!(
            index.position("spec.containers[0].ports[3].name"),
            at(14, 5)
        );
        assert_eq!(
            index.field_at(Position {
                line: 15,
                column: 12
            }),
            Some("spec.containers[0].image")
        );
    }

    #[test]
    fn reads_json_too() {
        let text =
            "{\n  \"kind\": \"Pod\",\n  \"spec\": {\"containers\": [{\"name\": \"a\"}]}\n}\n";
        let index = FieldIndex::read(text, 0).unwrap();
        assert_eq!(index.kind.as_deref(), Some("Pod"));
        assert_eq!(
            index.position("spec.containers[0].name").map(|p| p.line),
            Some(3)
        );
    }
}
