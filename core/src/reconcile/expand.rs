//! `$(VAR)` references in env values, command and args, expanded as Kubernetes does:
//! a defined variable is replaced, an undefined one is left as written, `$$` is a literal `$`.

use std::collections::HashMap;

/// Expands `$(NAME)` references in `text` from `vars`.
pub fn expand(text: &str, vars: &HashMap<&str, &str>) -> String {
    expand_with(text, |name| vars.get(name).map(|v| v.to_string()))
}

/// Expands `text` as a `subPathExpr` (`ExpandContainerVolumeMounts`): every reference must
/// name a variable with a value; the names that do not are the error, sorted.
pub fn expand_strict(text: &str, vars: &HashMap<&str, &str>) -> Result<String, Vec<String>> {
    let mut missing = std::collections::BTreeSet::new();
    let expanded = expand_with(text, |name| match vars.get(name) {
        Some(value) if !value.is_empty() => Some(value.to_string()),
        _ => {
            missing.insert(name.to_string());
            Some(String::new())
        }
    });
    match missing.is_empty() {
        true => Ok(expanded),
        false => Err(missing.into_iter().collect()),
    }
}

/// Expands `$(NAME)` references in `text` by `lookup`; a name it has no value for is left as
/// written.
fn expand_with(text: &str, mut lookup: impl FnMut(&str) -> Option<String>) -> String {
    let mut out = String::with_capacity(text.len());
    let mut rest = text;
    while let Some(dollar) = rest.find('$') {
        out.push_str(&rest[..dollar]);
        let after = &rest[dollar + 1..];
        if let Some(tail) = after.strip_prefix('$') {
            out.push('$');
            rest = tail;
        } else if let Some(inner) = after.strip_prefix('(') {
            match inner.find(')') {
                Some(close) => {
                    let name = &inner[..close];
                    match lookup(name) {
                        Some(value) => out.push_str(&value),
                        None => {
                            out.push_str("$(");
                            out.push_str(name);
                            out.push(')');
                        }
                    }
                    rest = &inner[close + 1..];
                }
                None => {
                    out.push_str("$(");
                    rest = inner;
                }
            }
        } else {
            out.push('$');
            rest = after;
        }
    }
    out.push_str(rest);
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn expands_like_kubernetes() {
        let vars = HashMap::from([("A", "1"), ("B", "two")]);
        assert_eq!(expand("x$(A)y$(B)", &vars), "x1ytwo");
        assert_eq!(expand("$(MISSING) stays", &vars), "$(MISSING) stays");
        assert_eq!(
            expand("$$(A) is escaped, $5 is not a ref", &vars),
            "$(A) is escaped, $5 is not a ref"
        );
        assert_eq!(expand("unclosed $(A", &vars), "unclosed $(A");
    }

    #[test]
    fn a_sub_path_expr_needs_a_value_for_every_reference() {
        let vars = HashMap::from([("POD", "web-0"), ("EMPTY", "")]);
        assert_eq!(expand_strict("logs/$(POD)", &vars), Ok("logs/web-0".into()));
        assert_eq!(
            expand_strict("$(NONE)/$(EMPTY)/$(POD)", &vars),
            Err(vec!["EMPTY".to_string(), "NONE".to_string()])
        );
        assert_eq!(expand_strict("$$(POD)", &vars), Ok("$(POD)".into()));
    }
}
