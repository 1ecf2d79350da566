//! Inspecting each object a runtime listed, for runtimes whose list answers lack what the
//! agent needs (exit codes, times, IPs): a few inspections at once, in the listed order,
//! leaving out objects removed between the list and their inspection.

use std::collections::HashMap;
use std::future::Future;
use std::sync::Mutex;

use futures_util::{StreamExt, stream};

use crate::RuntimeResult;
use crate::call_error::{Call, Classify, ErrorKind};

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

/// Inspections kept from one listing to the next: an object is inspected again only when
/// the state its listing reports has changed, so a relist of a steady node costs one list
/// call instead of one inspection per object. Listings take turns: one that comes while
/// another inspects waits for it and reuses what it found (a pod's start looking for its
/// sandbox's IP while the agent relists would otherwise inspect every changed object twice).
#[derive(Debug)]
pub struct InspectCache<T> {
    entries: Mutex<HashMap<String, (String, T)>>,
    turn: tokio::sync::Mutex<()>,
}

impl<T> Default for InspectCache<T> {
    fn default() -> Self {
        InspectCache {
            entries: Mutex::new(HashMap::new()),
            turn: tokio::sync::Mutex::new(()),
        }
    }
}

impl<T: Clone> InspectCache<T> {
    /// Like [`inspect_each`] over `listed` (id and listed state, in order), reusing the
    /// inspection of every object whose listed state is the one it was inspected in. An
    /// empty state is never reused (for states whose details change without the state
    /// changing). Only the listed objects are kept.
    pub async fn inspect_changed<E, F, Fut>(
        &self,
        endpoint: &str,
        kind: &'static str,
        listed: Vec<(String, String)>,
        inspect: F,
    ) -> RuntimeResult<Vec<T>>
    where
        E: Classify,
        F: Fn(String) -> Fut,
        Fut: Future<Output = Result<T, E>>,
    {
        let _turn = self.turn.lock().await;
        let mut known: HashMap<String, (String, T)> = {
            let entries = self.entries.lock().expect("inspect cache lock");
            listed
                .iter()
                .filter_map(|(id, state)| {
                    let (seen_state, value) = entries.get(id)?;
                    (!state.is_empty() && seen_state == state)
                        .then(|| (id.clone(), (state.clone(), value.clone())))
                })
                .collect()
        };
        let stale: Vec<String> = listed
            .iter()
            .filter(|(id, _)| !known.contains_key(id))
            .map(|(id, _)| id.clone())
            .collect();
        let fresh = inspect_each(endpoint, kind, stale, |id| {
            let result = inspect(id.clone());
            async move { result.await.map(|value| (id, value)) }
        })
        .await?;
        let states: HashMap<&str, &str> = listed
            .iter()
            .map(|(id, state)| (id.as_str(), state.as_str()))
            .collect();
        for (id, value) in fresh {
            let state = states
                .get(id.as_str())
                .copied()
                .unwrap_or_default()
                .to_string();
            known.insert(id, (state, value));
        }
        let found = listed
            .iter()
            .filter_map(|(id, _)| known.get(id).map(|(_, value)| value.clone()))
            .collect();
        *self.entries.lock().expect("inspect cache lock") = known;
        Ok(found)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::RuntimeError;

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

    #[tokio::test]
    async fn the_cache_inspects_only_new_objects_and_changed_states() {
        let cache = InspectCache::<String>::default();
        let calls = std::sync::Mutex::new(Vec::new());
        let list = async |pairs: &[(&str, &str)]| {
            let listed = pairs
                .iter()
                .map(|(i, s)| (i.to_string(), s.to_string()))
                .collect();
            let inspect = |id: String| {
                calls.lock().unwrap().push(id.clone());
                async move { Ok::<_, Answer>(format!("inspected {id}")) }
            };
            cache
                .inspect_changed("e", "container", listed, inspect)
                .await
                .unwrap()
        };
        assert_eq!(
            list(&[("a", "running"), ("b", "running"), ("c", "")]).await,
            ["inspected a", "inspected b", "inspected c"]
        );
        assert_eq!(
            list(&[("a", "running"), ("b", "exited"), ("c", "")]).await,
            ["inspected a", "inspected b", "inspected c"]
        );
        list(&[("b", "exited"), ("d", "created")]).await;
        assert_eq!(
            *calls.lock().unwrap(),
            ["a", "b", "c", "b", "c", "d"],
            "a steady object is inspected once; a changed or stateless one again"
        );
    }

    #[tokio::test]
    async fn listings_at_the_same_time_inspect_each_object_once() {
        let cache = InspectCache::<String>::default();
        let calls = std::sync::Mutex::new(Vec::new());
        let list = async || {
            let listed = vec![("a".to_string(), "running".to_string())];
            let inspect = |id: String| {
                calls.lock().unwrap().push(id.clone());
                async move {
                    tokio::task::yield_now().await;
                    Ok::<_, Answer>(format!("inspected {id}"))
                }
            };
            cache
                .inspect_changed("e", "sandbox", listed, inspect)
                .await
                .unwrap()
        };
        let (first, second) = tokio::join!(list(), list());
        assert_eq!(
            (first, second),
            (
                vec!["inspected a".to_string()],
                vec!["inspected a".to_string()]
            )
        );
        assert_eq!(
            *calls.lock().unwrap(),
            ["a"],
            "the second waited and reused the first's"
        );
    }
}
