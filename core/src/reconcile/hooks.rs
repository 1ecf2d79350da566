//! Lifecycle hooks as the kubelet runs them: `postStart` right after a container starts
//! (its failure kills the container, then the restart policy applies), `preStop` before
//! every stop the agent makes, within the grace period. A hook is resolved when its
//! container is created (a named port becomes a number) and the `preStop` one is stored on
//! the container, as the kubelet's `io.kubernetes.container.preStopHandler` annotation, so a
//! pod whose manifest is gone is still stopped with its hook.

use std::time::Duration;

use serde::{Deserialize, Serialize};
use staticpod_runtime::ContainerRuntime;

use crate::error_chain::describe;
use crate::handler::{self, HttpTarget};
use crate::model::{Container, HttpHeader, LifecycleHandler};

/// The kubelet's shortest stop: a `preStop` hook never leaves a container less than this
/// between SIGTERM and SIGKILL (`minimumGracePeriodInSeconds`).
pub const MINIMUM_GRACE: Duration = Duration::from_secs(2);

/// A hook, ready to run.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub enum Hook {
    /// A command run in the container.
    Exec {
        /// The command, not run in a shell.
        command: Vec<String>,
    },
    /// An HTTP GET from the node.
    HttpGet {
        /// Over TLS (the certificate is not verified).
        https: bool,
        /// The host; the pod's address when none.
        host: Option<String>,
        /// The port.
        port: u16,
        /// The path.
        path: String,
        /// Extra headers, in order.
        headers: Vec<(String, String)>,
    },
    /// A pause (`sleep.seconds`).
    Sleep {
        /// How long.
        seconds: u64,
    },
}

impl Hook {
    /// The hook `handler` of `container`, its named port resolved; `Err` says why it cannot
    /// run (a `tcpSocket` hook, which the kubelet does not run either, or a port that does
    /// not exist).
    pub fn of(container: &Container, handler: &LifecycleHandler) -> Result<Hook, String> {
        if let Some(exec) = &handler.exec {
            return Ok(Hook::Exec {
                command: exec.command.clone(),
            });
        }
        if let Some(http) = &handler.http_get {
            return Ok(Hook::HttpGet {
                https: http
                    .scheme
                    .as_deref()
                    .is_some_and(|s| s.eq_ignore_ascii_case("HTTPS")),
                host: http.host.clone().filter(|h| !h.is_empty()),
                port: container.port_number(&http.port)?,
                path: http.path.clone().unwrap_or_else(|| "/".to_string()),
                headers: http
                    .http_headers
                    .iter()
                    .map(|h| (h.name.clone(), h.value.clone()))
                    .collect(),
            });
        }
        if let Some(sleep) = &handler.sleep {
            return Ok(Hook::Sleep {
                seconds: sleep.seconds.max(0).unsigned_abs(),
            });
        }
        Err("a tcpSocket lifecycle hook is not run (the kubelet does not run it either)".into())
    }

    /// Runs the hook of container `container_id` (named `name`), whose pod is at `address`,
    /// for at most `limit`. `Err` is the kubelet's message for a failed hook.
    pub async fn run(
        &self,
        runtime: &dyn ContainerRuntime,
        http: &reqwest::Client,
        target: HookTarget<'_>,
        limit: Duration,
    ) -> Result<(), String> {
        let name = target.name;
        match self {
            Hook::Exec { command } => {
                let failure = |error: String| {
                    format!(
                        "Exec lifecycle hook ({command:?}) for Container {name:?} in Pod {:?} failed - error: {error}",
                        target.pod
                    )
                };
                match runtime.exec_sync(target.container_id, command, limit).await {
                    Ok(result) if result.exit_code == 0 => Ok(()),
                    Ok(result) => Err(failure(format!(
                        "command {:?} exited with {}, message: {:?}",
                        command.join(" "),
                        result.exit_code,
                        result.output.trim()
                    ))),
                    Err(error) => Err(failure(describe(&error))),
                }
            }
            Hook::HttpGet {
                https,
                host,
                port,
                path,
                headers,
            } => {
                let headers: Vec<HttpHeader> = headers
                    .iter()
                    .map(|(name, value)| HttpHeader {
                        name: name.clone(),
                        value: value.clone(),
                    })
                    .collect();
                let request = HttpTarget {
                    https: *https,
                    host: host.as_deref().unwrap_or(target.address),
                    port: *port,
                    path,
                    headers: &headers,
                };
                // Any answer will do, whatever its status, as the kubelet's
                // `runHTTPHandler`: only no answer fails the hook.
                match handler::get(http, &request, limit).await {
                    Ok(_) => Ok(()),
                    Err(error) => Err(format!(
                        "HTTP lifecycle hook ({path}) for Container {name:?} in Pod {:?} failed - error: {error}",
                        target.pod
                    )),
                }
            }
            Hook::Sleep { seconds } => {
                tokio::time::sleep(Duration::from_secs(*seconds).min(limit)).await;
                Ok(())
            }
        }
    }
}

/// What a hook runs against.
#[derive(Debug, Clone, Copy)]
pub struct HookTarget<'a> {
    /// The container's runtime id (for `exec`).
    pub container_id: &'a str,
    /// Its name, for messages.
    pub name: &'a str,
    /// Its pod's full name, for messages.
    pub pod: &'a str,
    /// The pod's address (for `httpGet` without a host).
    pub address: &'a str,
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;

    use staticpod_testkit::fake::FakeRuntime;

    use super::*;

    fn container(yaml: &str) -> Container {
        serde_saphyr::from_str(yaml).unwrap()
    }

    #[test]
    fn a_named_port_is_resolved_and_a_tcp_hook_is_refused() {
        let web = container(
            "name: web\nimage: x\nports: [{name: http, containerPort: 8080}]\nlifecycle:\n  preStop: {httpGet: {path: /drain, port: http}}\n  postStart: {tcpSocket: {port: 80}}\n",
        );
        let lifecycle = web.lifecycle.clone().unwrap();
        let pre_stop = Hook::of(&web, lifecycle.pre_stop.as_ref().unwrap()).unwrap();
        assert!(matches!(pre_stop, Hook::HttpGet { port: 8080, ref path, .. } if path == "/drain"));
        assert!(Hook::of(&web, lifecycle.post_start.as_ref().unwrap()).is_err());
    }

    #[tokio::test]
    async fn a_failed_exec_hook_says_what_the_kubelet_says() {
        let runtime = Arc::new(FakeRuntime::default());
        runtime.set_exec_exit_code(1);
        let hook = Hook::Exec {
            command: vec!["sh".into(), "-c".into(), "exit 1".into()],
        };
        let target = HookTarget {
            container_id: "c1",
            name: "web",
            pod: "web-node0",
            address: "127.0.0.1",
        };
        let error = hook
            .run(
                &*runtime,
                &handler::client(),
                target,
                Duration::from_secs(5),
            )
            .await
            .unwrap_err();
        assert_eq!(
            error,
            "Exec lifecycle hook ([\"sh\", \"-c\", \"exit 1\"]) for Container \"web\" in Pod \"web-node0\" failed - error: command \"sh -c exit 1\" exited with 1, message: \"exit 1\""
        );
    }

    #[tokio::test]
    async fn an_http_hook_passes_on_any_answer_and_fails_on_none() {
        let runtime = FakeRuntime::default();
        let server = staticpod_testkit::servers::HttpsServer::start(0).await;
        server.answer(500);
        let hook = |port| Hook::HttpGet {
            https: true,
            host: None,
            port,
            path: "/drain".into(),
            headers: Vec::new(),
        };
        let target = HookTarget {
            container_id: "c1",
            name: "web",
            pod: "web-node0",
            address: "127.0.0.1",
        };
        let limit = Duration::from_secs(5);
        let client = handler::client();
        assert_eq!(
            hook(server.port)
                .run(&runtime, &client, target, limit)
                .await,
            Ok(()),
            "a 500 is an answer: the kubelet's runHTTPHandler looks at no status"
        );
        let closed = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let port = closed.local_addr().unwrap().port();
        drop(closed);
        let error = hook(port)
            .run(&runtime, &client, target, limit)
            .await
            .unwrap_err();
        assert!(
            error.starts_with(
                "HTTP lifecycle hook (/drain) for Container \"web\" in Pod \"web-node0\" failed - error: Get \"https://127.0.0.1:"
            ),
            "{error}"
        );
    }

    #[tokio::test(start_paused = true)]
    async fn a_sleep_hook_sleeps_no_longer_than_its_limit() {
        let runtime = FakeRuntime::default();
        let hook = Hook::Sleep { seconds: 60 };
        let target = HookTarget {
            container_id: "c1",
            name: "web",
            pod: "web-node0",
            address: "127.0.0.1",
        };
        let started = tokio::time::Instant::now();
        let limit = Duration::from_secs(5);
        hook.run(&runtime, &handler::client(), target, limit)
            .await
            .unwrap();
        assert_eq!(started.elapsed(), limit);
    }
}
