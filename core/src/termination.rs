//! A container's termination message as the kubelet reads it: the file at its
//! `terminationMessagePath` (read by the agent, `reconcile::volumes`), or, with
//! `terminationMessagePolicy: FallbackToLogsOnError`, when that file is empty and the
//! container failed, the tail of its log: the last 80 lines, at most their last 2048 bytes
//! (the kubelet's `MaxContainerTerminationMessageLogLines` and `...LogLength`).

use futures_util::StreamExt;
use staticpod_runtime::ContainerRuntime;
use staticpod_runtime::logs::LogOptions;

use crate::model::Container;

/// The policy that falls back to the log.
pub const FALLBACK_TO_LOGS: &str = "FallbackToLogsOnError";
/// How many of the log's last lines the fallback reads.
pub const LOG_LINES: u64 = 80;
/// How many of their last bytes it keeps.
pub const LOG_BYTES: usize = 2048;

/// Whether `container`, exited with `exit_code`, takes its message from its log when its
/// file says nothing.
pub fn falls_back_to_logs(container: &Container, exit_code: i32) -> bool {
    exit_code != 0 && container.termination_message_policy.as_deref() == Some(FALLBACK_TO_LOGS)
}

/// The tail of container `id`'s log, as the fallback message; `None` when it cannot be read
/// (the reason is logged) or is empty.
pub async fn from_log(runtime: &dyn ContainerRuntime, id: &str) -> Option<String> {
    let options = LogOptions {
        tail_lines: Some(LOG_LINES),
        ..LogOptions::default()
    };
    let mut stream = match runtime.logs(id, &options).await {
        Ok(stream) => stream,
        Err(error) => {
            let error = crate::error_chain::describe(&error);
            tracing::warn!(container = %id, %error, "cannot read the log for the termination message");
            return None;
        }
    };
    let mut tail = Vec::new();
    while let Some(chunk) = stream.next().await {
        match chunk {
            Ok(bytes) => {
                tail.extend_from_slice(&bytes);
                let over = tail.len().saturating_sub(LOG_BYTES);
                tail.drain(..over);
            }
            Err(error) => {
                let error = crate::error_chain::describe(&error);
                tracing::warn!(container = %id, %error, "reading the log for the termination message failed");
                break;
            }
        }
    }
    let text = String::from_utf8_lossy(&tail).into_owned();
    (!text.is_empty()).then_some(text)
}

#[cfg(test)]
mod tests {
    use staticpod_runtime::logs::StreamType;
    use staticpod_testkit::fake::FakeRuntime;

    use super::*;

    #[test]
    fn only_a_failed_container_with_the_policy_falls_back() {
        let with = |policy: &str| Container {
            termination_message_policy: Some(policy.to_string()),
            ..Container::default()
        };
        assert!(falls_back_to_logs(&with(FALLBACK_TO_LOGS), 1));
        assert!(!falls_back_to_logs(&with(FALLBACK_TO_LOGS), 0));
        assert!(!falls_back_to_logs(&with("File"), 1));
    }

    #[tokio::test]
    async fn the_message_is_the_last_bytes_of_the_last_lines() {
        let fake = FakeRuntime::default();
        let id = fake.run_container().await;
        let lines: String = (0..100)
            .map(|i| format!("line {i:03} {}\n", "x".repeat(40)))
            .collect();
        fake.write_log(&id, StreamType::Stderr, &lines);
        let message = from_log(&fake, &id).await.unwrap();
        assert_eq!(message.len(), LOG_BYTES);
        assert!(message.ends_with(&format!("line 099 {}\n", "x".repeat(40))));
        // 50-byte lines: 2048 bytes reach back into the 41st line from the end, within 80.
        assert!(message.contains("line 060"), "{message}");
        assert_eq!(from_log(&fake, "gone").await, None);
    }
}
