//! An error with its causes as one line of text, for logs and status messages: what the
//! user reads when something fails, from the operation down to the runtime's own words.

/// Full text of an error and its causes, joined with `: `.
pub fn describe(error: &dyn std::error::Error) -> String {
    let mut text = error.to_string();
    let mut source = error.source();
    while let Some(cause) = source {
        text.push_str(": ");
        text.push_str(&cause.to_string());
        source = cause.source();
    }
    text
}

#[cfg(test)]
mod tests {
    use super::*;

    #[derive(Debug, thiserror::Error)]
    #[error("start container web failed")]
    struct Outer(#[source] std::io::Error);

    #[test]
    fn causes_follow_the_error_in_order() {
        let error = Outer(std::io::Error::other("no such image"));
        assert_eq!(
            describe(&error),
            "start container web failed: no such image"
        );
    }
}
