//! Inspecting each object a runtime listed, for runtimes whose list answers lack what the
//! agent needs (exit codes, times, IPs): a few inspections at once, in the listed order,
//! leaving out objects removed between the list and their inspection.

use std::future::Future;

use futures_util::{StreamExt, stream};

use crate::call_error::{Call, Classify, ErrorKind};
use crate::runtime::RuntimeResult;

/// How many objects are inspected at once.
const CONCURRENCY: usize = 8;

/// Inspects each of `ids` (objects of `kind`, at `endpoint`) with `inspect`. An object that
/// is gone by then is left out; any other failure fails the whole listing as
/// "inspect `kind` `id`".
pub async fn inspect_each<T, E, F, Fut>(
    endpoint: &str,
    kind: &'static str,
    ids: Vec<String>,
    inspect: F,
) -> RuntimeResult<Vec<T>>
where
    E: Classify,
    F: Fn(String) -> Fut,
    Fut: Future<Output = Result<T, E>>,
{
    let inspected: Vec<_> = stream::iter(ids)
        .map(|id| {
            let result = inspect(id.clone());
            async move { (id, result.await) }
        })
        .buffered(CONCURRENCY)
        .collect()
        .await;
    let mut found = Vec::with_capacity(inspected.len());
    for (id, result) in inspected {
        match result {
            Ok(inspect) => found.push(inspect),
            Err(err) if err.kind() == ErrorKind::NotFound => {
                tracing::debug!(id, "container vanished while listing");
            }
            Err(err) => return Err(Call::<E>::new(endpoint, "inspect", kind, &id).error(err)),
        }
    }
    Ok(found)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::runtime::RuntimeError;

    #[derive(Debug, thiserror::Error)]
    #[error("{0:?}")]
    struct Answer(ErrorKind);

    impl Classify for Answer {
        fn kind(&self) -> ErrorKind {
            self.0
        }
    }

    fn ids(ids: &[&str]) -> Vec<String> {
        ids.iter().map(|id| (*id).to_owned()).collect()
    }

    #[tokio::test]
    async fn keeps_the_order_and_leaves_out_what_vanished() {
        let found = inspect_each(
            "unix:///x.sock",
            "container",
            ids(&["a", "gone", "b"]),
            |id| {
                std::future::ready(match id.as_str() {
                    "gone" => Err(Answer(ErrorKind::NotFound)),
                    _ => Ok(id),
                })
            },
        )
        .await
        .unwrap();
        assert_eq!(found, ["a", "b"]);
    }

    #[tokio::test]
    async fn any_other_failure_fails_the_listing_naming_the_object() {
        let err = inspect_each("unix:///x.sock", "sandbox", ids(&["a", "b"]), |id| {
            std::future::ready(match id.as_str() {
                "b" => Err(Answer(ErrorKind::Failed)),
                _ => Ok(id),
            })
        })
        .await
        .unwrap_err();
        assert!(
            matches!(&err, RuntimeError::Failed { operation, .. } if operation == "inspect sandbox b"),
            "{err:?}"
        );
    }
}
