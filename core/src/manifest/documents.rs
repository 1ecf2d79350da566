//! Splits a YAML stream into its documents, keeping each one's first line, so that every
//! document can be parsed on its own and its positions mapped back into the file.

/// One document of a multi-document YAML file.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Document<'a> {
    /// The document's text.
    pub text: &'a str,
    /// Lines in the file before this document (add to a document line to get a file line).
    pub line_offset: u64,
}

/// Splits at `---` document markers in column 0. Inside a block scalar such a line would be
/// indented, so a marker in column 0 always starts a new document. Documents holding only
/// blanks and comments are dropped.
pub fn split(text: &str) -> Vec<Document<'_>> {
    let mut documents = Vec::new();
    let mut start = 0;
    let mut start_line = 0u64;
    let mut offset = 0;
    for (line_number, line) in (0u64..).zip(lines(text)) {
        let content = line.trim_end_matches(['\n', '\r']);
        let is_marker =
            content == "---" || content.starts_with("--- ") || content.starts_with("---\t");
        if is_marker {
            push_document(&mut documents, &text[start..offset], start_line);
            // The document keeps its marker, which the parser reads as its start: content
            // after it (`--- {a: 1}`) keeps its columns.
            start = offset;
            start_line = line_number;
        }
        offset += line.len();
    }
    push_document(&mut documents, &text[start..], start_line);
    documents
}

/// The lines of `text` as YAML breaks them, each with its break: a line ends after `\n`,
/// `\r\n` or a lone `\r` (YAML's three line breaks). The parser counts lines so, and so must
/// every position we compute: a lone `\r` counted as no break put later findings lines off.
pub fn lines(text: &str) -> impl Iterator<Item = &str> {
    let mut rest = text;
    std::iter::from_fn(move || {
        if rest.is_empty() {
            return None;
        }
        let end = match rest.find(['\n', '\r']) {
            Some(at) if rest[at..].starts_with("\r\n") => at + 2,
            Some(at) => at + 1,
            None => rest.len(),
        };
        let (line, tail) = rest.split_at(end);
        rest = tail;
        Some(line)
    })
}

fn push_document<'a>(documents: &mut Vec<Document<'a>>, text: &'a str, line_offset: u64) {
    let after_marker = text.strip_prefix("---").unwrap_or(text);
    let has_content = lines(after_marker).any(|line| {
        let line = line.trim();
        !line.is_empty() && !line.starts_with('#') && line != "..."
    });
    if has_content {
        documents.push(Document { text, line_offset });
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn splits_at_markers_and_keeps_line_offsets() {
        let text = "a: 1\n---\nb: 2\n--- # second\n# only a comment\n---\nc: |\n  ---\n  x\n";
        let docs = split(text);
        assert_eq!(docs.len(), 3);
        assert_eq!(
            docs[0],
            Document {
                text: "a: 1\n",
                line_offset: 0
            }
        );
        assert_eq!(docs[1].text, "---\nb: 2\n");
        assert_eq!(docs[1].line_offset, 1);
        assert_eq!(docs[2].text, "---\nc: |\n  ---\n  x\n");
        assert_eq!(docs[2].line_offset, 5);
    }

    #[test]
    fn a_lone_carriage_return_ends_a_line_as_yaml_says() {
        let lines: Vec<&str> = lines("a\rb\r\nc\nd").collect();
        assert_eq!(lines, ["a\r", "b\r\n", "c\n", "d"]);
        let docs = split("a: 1\r---\rb: 2\r");
        assert_eq!(docs.len(), 2);
        assert_eq!(docs[1].text, "---\rb: 2\r");
        assert_eq!(docs[1].line_offset, 1);
    }

    #[test]
    fn a_single_json_document_is_one_document() {
        let docs = split("{\"kind\": \"Pod\"}\n");
        assert_eq!(docs.len(), 1);
        assert_eq!(docs[0].line_offset, 0);
    }
}
