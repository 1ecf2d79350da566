//! Turns a manifest file's text into typed pods: one per YAML document, or one per item of a
//! `PodList`. Syntax and type errors carry the file position and the field they hit; fields
//! the model does not know become warnings naming their path, never silence.

use std::path::Path;

use serde::de::DeserializeOwned;

use super::coverage::{self, Coverage};
use super::documents::{self, Document};
use super::locate::{FieldIndex, child_path};
use crate::diagnostic::{Diagnostic, Position, Severity};
use crate::model::{Pod, PodList};

/// A pod read from one document, with what is needed to place findings about it.
#[derive(Debug, Clone)]
pub struct DecodedPod {
    /// The pod as written.
    pub pod: Pod,
    /// Positions of the document's fields.
    pub index: FieldIndex,
    /// Path of the pod inside its document: empty, or `items[2]` in a `PodList`.
    pub prefix: String,
}

/// Everything read from one file.
#[derive(Debug, Clone, Default)]
pub struct Decoded {
    /// The pods, in file order.
    pub pods: Vec<DecodedPod>,
    /// Errors (a document that failed to parse yields no pod) and warnings.
    pub diagnostics: Vec<Diagnostic>,
}

/// Decodes every document of `text`, read from `file`.
pub fn decode(file: &Path, text: &str) -> Decoded {
    let mut decoded = Decoded::default();
    let documents = documents::split(text);
    if documents.is_empty() {
        decoded.diagnostics.push(Diagnostic {
            severity: Severity::Warning,
            file: file.to_path_buf(),
            position: None,
            field: None,
            message: "the file holds no pod".to_string(),
        });
    }
    for document in documents {
        decode_document(file, &document, &mut decoded);
    }
    decoded
}

fn decode_document(file: &Path, document: &Document<'_>, decoded: &mut Decoded) {
    let index = FieldIndex::read(document.text, document.line_offset).unwrap_or_default();
    let finding = |severity, position, field: Option<String>, message: String| Diagnostic {
        severity,
        file: file.to_path_buf(),
        position,
        field,
        message,
    };
    match index.kind.as_deref() {
        Some("PodList") | Some("List") => match typed::<PodList>(document, &index) {
            Ok((list, unknown)) => {
                report_unknown(file, &index, unknown, decoded);
                for (i, pod) in list.items.into_iter().enumerate() {
                    decoded.pods.push(DecodedPod {
                        pod,
                        index: index.clone(),
                        prefix: format!("items[{i}]"),
                    });
                }
            }
            Err(error) => decoded.diagnostics.push(error.into_diagnostic(file)),
        },
        Some("Pod") => match typed::<Pod>(document, &index) {
            Ok((pod, unknown)) => {
                report_unknown(file, &index, unknown, decoded);
                decoded.pods.push(DecodedPod {
                    pod,
                    index,
                    prefix: String::new(),
                });
            }
            Err(error) => decoded.diagnostics.push(error.into_diagnostic(file)),
        },
        other => {
            // Parse anyway so that a syntax error is reported as such, not as a missing kind.
            if let Err(error) = typed::<Pod>(document, &index) {
                decoded.diagnostics.push(error.into_diagnostic(file));
                return;
            }
            let message = match other {
                Some(kind) => {
                    format!("kind {kind:?} is not a Pod or PodList: static pods are Pods")
                }
                None => "kind is missing: a static pod manifest needs `kind: Pod`".to_string(),
            };
            let position = index.position("kind").or(Some(Position {
                line: document.line_offset + 1,
                column: 1,
            }));
            decoded.diagnostics.push(finding(
                Severity::Error,
                position,
                Some("kind".into()),
                message,
            ));
        }
    }
}

/// A document that did not decode.
pub(crate) struct DecodeError {
    position: Option<Position>,
    field: Option<String>,
    message: String,
}

impl DecodeError {
    pub(crate) fn into_diagnostic(self, file: &Path) -> Diagnostic {
        Diagnostic {
            severity: Severity::Error,
            file: file.to_path_buf(),
            position: self.position,
            field: self.field,
            message: self.message,
        }
    }
}

/// Decodes `document` as a `T`; returns it with the paths of the fields `T` does not have.
/// A syntax or type error is placed at its position and the field it hit.
pub(crate) fn typed<T: DeserializeOwned>(
    document: &Document<'_>,
    index: &FieldIndex,
) -> Result<(T, Vec<String>), DecodeError> {
    let mut unknown = Vec::new();
    let result = serde_saphyr::with_deserializer_from_str_with_options(
        document.text,
        super::yaml_options(),
        |deserializer| {
            serde_ignored::deserialize(deserializer, |path| unknown.push(field_path(&path)))
        },
    );
    match result {
        Ok(value) => Ok((value, unknown)),
        Err(error) => {
            let position = error.location().map(|location| Position {
                line: location.line() + document.line_offset,
                column: location.column(),
            });
            let field = position.and_then(|p| index.field_at(p)).map(str::to_string);
            Err(DecodeError {
                position,
                field,
                message: error_message(
                    &error,
                    document.text,
                    position.map(|p| Position {
                        line: p.line - document.line_offset,
                        column: p.column,
                    }),
                ),
            })
        }
    }
}

/// The error's own words, without the position serde-saphyr appends (we print our own).
/// Terse messages such as `invalid i32` get the offending text quoted after them.
fn error_message(error: &serde_saphyr::Error, text: &str, at: Option<Position>) -> String {
    let full = error.to_string();
    let first_line = full.lines().next().unwrap_or_default();
    let message = match first_line.rfind(" at line ") {
        Some(cut) => &first_line[..cut],
        None => first_line,
    };
    let found = at.and_then(|at| {
        let line = documents::lines(text)
            .nth(usize::try_from(at.line).ok()?.checked_sub(1)?)?
            .trim_end_matches(['\n', '\r']);
        // The parser counts columns in characters.
        let column = usize::try_from(at.column).ok()?.checked_sub(1)?;
        let rest: String = line.chars().skip(column).collect();
        let token = rest.split(" #").next()?.trim();
        (!token.is_empty()).then(|| token.to_string())
    });
    match found {
        Some(token) if message.split_whitespace().count() <= 3 => {
            format!("{message}, found {token}")
        }
        _ => message.to_string(),
    }
}

/// Reports the fields the model does not parse: a field of the API that staticpod refuses
/// is an error saying why; one it accepts without acting on it is warned of by validation;
/// anything else is not a field of the API at all, probably a typo.
fn report_unknown(file: &Path, index: &FieldIndex, unknown: Vec<String>, decoded: &mut Decoded) {
    for path in unknown {
        let coverage = coverage::field_at(&path).and_then(|(o, field)| o.coverage(field));
        let (severity, message) = match coverage {
            Some(Coverage::NotActed(_)) => continue,
            Some(Coverage::Refused(why)) => (Severity::Error, format!("refused: {why}")),
            Some(Coverage::Acted) | None => (
                Severity::Warning,
                "unknown field, ignored (is it misspelled?)".to_string(),
            ),
        };
        decoded.diagnostics.push(Diagnostic {
            severity,
            file: file.to_path_buf(),
            position: index.position(&path),
            message,
            field: Some(path),
        });
    }
}

/// Formats a `serde_ignored` path as Kubernetes does: `spec.containers[0].workdir`.
fn field_path(path: &serde_ignored::Path<'_>) -> String {
    use serde_ignored::Path;
    match path {
        Path::Root => String::new(),
        Path::Seq { parent, index } => format!("{}[{index}]", field_path(parent)),
        Path::Map { parent, key } => child_path(&field_path(parent), key),
        Path::Some { parent }
        | Path::NewtypeStruct { parent }
        | Path::NewtypeVariant { parent } => field_path(parent),
    }
}
