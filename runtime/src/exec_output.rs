//! What every backend's `exec_sync` shares: the output kept from a command (bounded, as the
//! kubelet keeps for a probe) and the time limit on the whole exec.

use std::future::Future;
use std::time::Duration;

use crate::{RuntimeError, RuntimeResult};

/// The most output kept from a command.
pub const MAX_OUTPUT: usize = 10 * 1024;

/// Appends `chunk` to `output` while it holds less than [`MAX_OUTPUT`] bytes.
pub fn append(output: &mut String, chunk: &[u8]) {
    if output.len() < MAX_OUTPUT {
        output.push_str(&String::from_utf8_lossy(chunk));
        if output.len() > MAX_OUTPUT {
            let mut cut = MAX_OUTPUT;
            while !output.is_char_boundary(cut) {
                cut -= 1;
            }
            output.truncate(cut);
        }
    }
}

/// Runs `exec` (starting `command` in `container_id` and reading its output) for at most
/// `timeout`; a command that outlives it is a [`RuntimeError::Failed`] saying so.
pub async fn within<T>(
    timeout: Duration,
    command: &[String],
    container_id: &str,
    exec: impl Future<Output = RuntimeResult<T>>,
) -> RuntimeResult<T> {
    tokio::time::timeout(timeout, exec)
        .await
        .map_err(|_| RuntimeError::Failed {
            operation: format!("exec {command:?} in container {container_id}"),
            source: format!("command timed out after {}s", timeout.as_secs_f32()).into(),
        })?
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn output_is_bounded_on_a_character_boundary() {
        let mut output = String::new();
        append(&mut output, "é".repeat(MAX_OUTPUT).as_bytes());
        assert!(output.len() <= MAX_OUTPUT && output.len() > MAX_OUTPUT - 2);
        append(&mut output, b"more");
        assert!(!output.ends_with("more"));
    }

    #[tokio::test]
    async fn a_command_that_outlives_the_timeout_fails_naming_it() {
        let slow = async {
            tokio::time::sleep(Duration::from_secs(5)).await;
            Ok(())
        };
        let error = within(Duration::from_millis(10), &["sleep".into()], "c1", slow)
            .await
            .unwrap_err();
        assert_eq!(error.to_string(), "exec [\"sleep\"] in container c1 failed");
    }
}
