//! Label and field selectors, parsed and matched on the server as kube-apiserver does:
//! `kubectl get pods -l app=web,tier in (a,b),!canary` and `--field-selector
//! status.phase=Running,metadata.name!=x` (with `\` escaping `,`, `=` and `\` in values).

use std::collections::BTreeMap;

/// Why a selector cannot be used.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SelectorError {
    /// A label selector that does not parse.
    #[error("unable to parse requirement: {why} in label selector {selector:?}")]
    Label {
        /// The selector as sent.
        selector: String,
        /// What is wrong, where.
        why: String,
    },
    /// A field selector term that is not `key=value`, `key==value` or `key!=value`.
    #[error("invalid field selector {selector:?}: {term:?} is not key=value or key!=value")]
    Field {
        /// The selector as sent.
        selector: String,
        /// The term that is wrong.
        term: String,
    },
    /// A field that cannot be selected on for this resource.
    #[error("field label not supported: {field}")]
    FieldNotSupported {
        /// The field.
        field: String,
    },
}

/// One requirement of a label selector.
#[derive(Debug, Clone, PartialEq, Eq)]
enum Requirement {
    In(String, Vec<String>),
    NotIn(String, Vec<String>),
    Exists(String),
    DoesNotExist(String),
    GreaterThan(String, i64),
    LessThan(String, i64),
}

/// A label selector: every requirement must hold.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct LabelSelector(Vec<Requirement>);

#[derive(Debug, Clone, PartialEq, Eq)]
enum Token {
    Word(String),
    Equals,
    NotEquals,
    Not,
    Greater,
    Less,
    Open,
    Close,
    Comma,
}

fn tokens(text: &str) -> Result<Vec<Token>, String> {
    let mut out = Vec::new();
    let mut chars = text.chars().peekable();
    while let Some(&c) = chars.peek() {
        match c {
            ' ' | '\t' => {
                chars.next();
            }
            '=' => {
                chars.next();
                if chars.peek() == Some(&'=') {
                    chars.next();
                }
                out.push(Token::Equals);
            }
            '!' => {
                chars.next();
                if chars.peek() == Some(&'=') {
                    chars.next();
                    out.push(Token::NotEquals);
                } else {
                    out.push(Token::Not);
                }
            }
            '>' | '<' | '(' | ')' | ',' => {
                chars.next();
                out.push(match c {
                    '>' => Token::Greater,
                    '<' => Token::Less,
                    '(' => Token::Open,
                    ')' => Token::Close,
                    _ => Token::Comma,
                });
            }
            c if c.is_ascii_alphanumeric() || "-_./".contains(c) => {
                let mut word = String::new();
                while let Some(&c) = chars.peek() {
                    if !(c.is_ascii_alphanumeric() || "-_./".contains(c)) {
                        break;
                    }
                    word.push(c);
                    chars.next();
                }
                out.push(Token::Word(word));
            }
            other => return Err(format!("invalid character {other:?}")),
        }
    }
    Ok(out)
}

impl LabelSelector {
    /// Parses `selector`; empty selects everything.
    pub fn parse(selector: &str) -> Result<Self, SelectorError> {
        let fail = |why: String| SelectorError::Label {
            selector: selector.to_string(),
            why,
        };
        let tokens = tokens(selector).map_err(fail)?;
        let mut rest = tokens.as_slice();
        let mut requirements = Vec::new();
        while !rest.is_empty() {
            let (requirement, after) = requirement(rest).map_err(fail)?;
            requirements.push(requirement);
            rest = match after {
                [] => after,
                [Token::Comma, more @ ..] if !more.is_empty() => more,
                _ => return Err(fail("expected ',' between requirements".into())),
            };
        }
        Ok(LabelSelector(requirements))
    }

    /// Whether `labels` satisfy every requirement.
    pub fn matches(&self, labels: &BTreeMap<String, String>) -> bool {
        self.0.iter().all(|requirement| match requirement {
            Requirement::In(key, values) => labels.get(key).is_some_and(|v| values.contains(v)),
            Requirement::NotIn(key, values) => labels.get(key).is_none_or(|v| !values.contains(v)),
            Requirement::Exists(key) => labels.contains_key(key),
            Requirement::DoesNotExist(key) => !labels.contains_key(key),
            Requirement::GreaterThan(key, n) => number(labels, key).is_some_and(|v| v > *n),
            Requirement::LessThan(key, n) => number(labels, key).is_some_and(|v| v < *n),
        })
    }
}

fn number(labels: &BTreeMap<String, String>, key: &str) -> Option<i64> {
    labels.get(key).and_then(|v| v.parse().ok())
}

/// A value from the front of `tokens` (`key=` selects the empty value), and what follows.
fn value(tokens: &[Token]) -> (String, &[Token]) {
    match tokens {
        [Token::Word(value), after @ ..] => (value.clone(), after),
        _ => (String::new(), tokens),
    }
}

/// An integer from the front of `tokens`, and what follows it.
fn integer(tokens: &[Token]) -> Result<(i64, &[Token]), String> {
    match tokens {
        [Token::Word(value), after @ ..] => {
            value.parse::<i64>().map(|n| (n, after)).map_err(|_| {
                format!("for 'gt', 'lt' operators, the value must be an integer: {value}")
            })
        }
        _ => Err("expected an integer".to_string()),
    }
}

/// One requirement from the front of `tokens`, and what follows it.
fn requirement(tokens: &[Token]) -> Result<(Requirement, &[Token]), String> {
    if let [Token::Not, Token::Word(key), rest @ ..] = tokens {
        return Ok((Requirement::DoesNotExist(key.clone()), rest));
    }
    let [Token::Word(key), rest @ ..] = tokens else {
        return Err("expected a label key".into());
    };
    let key = key.clone();
    match rest {
        [Token::Equals, after @ ..] => {
            let (v, after) = value(after);
            Ok((Requirement::In(key, vec![v]), after))
        }
        [Token::NotEquals, after @ ..] => {
            let (v, after) = value(after);
            Ok((Requirement::NotIn(key, vec![v]), after))
        }
        [Token::Greater, after @ ..] => {
            let (n, after) = integer(after)?;
            Ok((Requirement::GreaterThan(key, n), after))
        }
        [Token::Less, after @ ..] => {
            let (n, after) = integer(after)?;
            Ok((Requirement::LessThan(key, n), after))
        }
        [Token::Word(op), Token::Open, after @ ..] if op == "in" || op == "notin" => {
            let (values, after) = set(after)?;
            let requirement = if op == "in" {
                Requirement::In(key, values)
            } else {
                Requirement::NotIn(key, values)
            };
            Ok((requirement, after))
        }
        _ => Ok((Requirement::Exists(key), rest)),
    }
}

/// The values of `(a, b, c)` after its `(`, and what follows the `)`.
fn set(mut tokens: &[Token]) -> Result<(Vec<String>, &[Token]), String> {
    let mut values = Vec::new();
    loop {
        match tokens {
            [Token::Word(value), rest @ ..] => {
                values.push(value.clone());
                tokens = rest;
            }
            [Token::Close, rest @ ..] => return Ok((values, rest)),
            _ => return Err("expected a value or ')' in a set".into()),
        }
        match tokens {
            [Token::Comma, rest @ ..] => tokens = rest,
            [Token::Close, rest @ ..] => return Ok((values, rest)),
            _ => return Err("expected ',' or ')' in a set".into()),
        }
    }
}

/// One term of a field selector.
#[derive(Debug, Clone, PartialEq, Eq)]
struct FieldTerm {
    field: String,
    equal: bool,
    value: String,
}

/// A field selector: every term must hold.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct FieldSelector(Vec<FieldTerm>);

impl FieldSelector {
    /// Parses `selector`, accepting only the fields in `supported`; empty selects everything.
    pub fn parse(selector: &str, supported: &[&str]) -> Result<Self, SelectorError> {
        let mut terms = Vec::new();
        for term in split_unescaped(selector, ',') {
            if term.trim().is_empty() {
                continue;
            }
            let (field, equal, value) = split_term(&term).ok_or_else(|| SelectorError::Field {
                selector: selector.to_string(),
                term: term.clone(),
            })?;
            let field = field.trim().to_string();
            if !supported.contains(&field.as_str()) {
                return Err(SelectorError::FieldNotSupported { field });
            }
            terms.push(FieldTerm {
                field,
                equal,
                value: unescape(value),
            });
        }
        Ok(FieldSelector(terms))
    }

    /// Whether every term holds, reading fields through `field`.
    pub fn matches(&self, field: impl Fn(&str) -> String) -> bool {
        self.0
            .iter()
            .all(|term| (field(&term.field) == term.value) == term.equal)
    }
}

/// `text` cut at every `separator` not escaped by `\` (escapes are kept).
fn split_unescaped(text: &str, separator: char) -> Vec<String> {
    let mut parts = vec![String::new()];
    let mut escaped = false;
    for c in text.chars() {
        let part = parts.last_mut().expect("there is always a part");
        if escaped {
            part.push(c);
            escaped = false;
        } else if c == '\\' {
            part.push(c);
            escaped = true;
        } else if c == separator {
            parts.push(String::new());
        } else {
            part.push(c);
        }
    }
    parts
}

/// `key!=value`, `key==value` or `key=value` at the first unescaped operator.
fn split_term(term: &str) -> Option<(&str, bool, &str)> {
    let mut escaped = false;
    for (i, c) in term.char_indices() {
        if escaped {
            escaped = false;
            continue;
        }
        match c {
            '\\' => escaped = true,
            '!' if term[i + 1..].starts_with('=') => {
                return Some((&term[..i], false, &term[i + 2..]));
            }
            '=' if term[i + 1..].starts_with('=') => {
                return Some((&term[..i], true, &term[i + 2..]));
            }
            '=' => return Some((&term[..i], true, &term[i + 1..])),
            _ => {}
        }
    }
    None
}

fn unescape(value: &str) -> String {
    let mut out = String::new();
    let mut escaped = false;
    for c in value.chars() {
        if escaped || c != '\\' {
            out.push(c);
            escaped = false;
        } else {
            escaped = true;
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn labels(pairs: &[(&str, &str)]) -> BTreeMap<String, String> {
        pairs
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect()
    }

    #[test]
    fn label_selectors_match_as_the_api_servers() {
        let web = labels(&[("app", "web"), ("tier", "front"), ("replicas", "3")]);
        let cases = [
            ("", true),
            ("app=web", true),
            ("app==web", true),
            ("app!=web", false),
            ("app!=db", true),
            ("missing!=x", true),
            ("app=web,tier=back", false),
            ("tier in (front, back)", true),
            ("tier notin (front)", false),
            ("missing notin (x)", true),
            ("app", true),
            ("!app", false),
            ("!canary", true),
            ("replicas>2", true),
            ("replicas<3", false),
            ("app=", false),
            ("example.com/role=x", false),
        ];
        for (selector, expected) in cases {
            let parsed = LabelSelector::parse(selector).unwrap();
            assert_eq!(parsed.matches(&web), expected, "{selector}");
        }
    }

    #[test]
    fn a_broken_label_selector_is_refused_saying_why() {
        for selector in ["app=web,", "tier in (a", "replicas>x", "app=we$b", ",app"] {
            let error = LabelSelector::parse(selector).unwrap_err();
            assert!(matches!(error, SelectorError::Label { .. }), "{selector}");
        }
        assert_eq!(
            LabelSelector::parse("n>x").unwrap_err().to_string(),
            "unable to parse requirement: for 'gt', 'lt' operators, the value must be an integer: x in label selector \"n>x\""
        );
    }

    #[test]
    fn field_selectors_read_escapes_and_refuse_unknown_fields() {
        let fields = ["metadata.name", "status.phase"];
        let selector =
            FieldSelector::parse(r"metadata.name=a\,b,status.phase!=Failed", &fields).unwrap();
        let field = |phase: &'static str| {
            move |name: &str| match name {
                "metadata.name" => "a,b".to_string(),
                _ => phase.to_string(),
            }
        };
        assert!(selector.matches(field("Running")));
        assert!(!selector.matches(field("Failed")));
        assert!(
            FieldSelector::parse("metadata.name==x", &fields)
                .unwrap()
                .matches(|_| "x".into())
        );
        assert_eq!(
            FieldSelector::parse("spec.foo=x", &fields)
                .unwrap_err()
                .to_string(),
            "field label not supported: spec.foo"
        );
        assert!(matches!(
            FieldSelector::parse("metadata.name", &fields),
            Err(SelectorError::Field { .. })
        ));
    }
}
