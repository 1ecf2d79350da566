//! Where a container runtime listens, as the kubelet's `--container-runtime-endpoint` names
//! it: parsed once, by the same rules for every backend, then handed to its `connect`.

use std::fmt;
use std::path::{Path, PathBuf};
use std::str::FromStr;

/// A container runtime's endpoint.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum Endpoint {
    /// A unix socket: `unix:///run/containerd/containerd.sock`, or the bare absolute path.
    Unix(PathBuf),
    /// A TCP address, `host:port`, from `tcp://host:port` or `http://host:port`; only Docker
    /// serves its API there.
    Tcp(String),
}

/// An endpoint that is none of the forms [`Endpoint`] takes.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum EndpointError {
    /// A scheme other than `unix`, `tcp` and `http`.
    #[error(
        "unsupported endpoint {endpoint:?}: use unix:///path, an absolute socket path, or tcp://host:port"
    )]
    Scheme {
        /// The endpoint as given.
        endpoint: String,
    },
    /// A unix socket path that is not absolute (or is missing).
    #[error("endpoint {endpoint:?} does not name an absolute socket path (unix:///path)")]
    NotAbsolute {
        /// The endpoint as given.
        endpoint: String,
    },
    /// A TCP address that is not `host:port`.
    #[error("endpoint {endpoint:?} does not name a host and port (tcp://host:port)")]
    Address {
        /// The endpoint as given.
        endpoint: String,
    },
    /// A TCP endpoint for a runtime that serves its API on a unix socket only.
    #[error(
        "endpoint {endpoint} is a TCP address: {runtime} is reached only on a unix socket (unix:///path)"
    )]
    NotUnix {
        /// The endpoint.
        endpoint: String,
        /// The runtime: "CRI", "Podman".
        runtime: &'static str,
    },
}

impl Endpoint {
    /// The socket path, for `runtime`, whose API is served on a unix socket only: a TCP
    /// endpoint is [`EndpointError::NotUnix`].
    pub fn unix_socket(&self, runtime: &'static str) -> Result<&Path, EndpointError> {
        match self {
            Endpoint::Unix(path) => Ok(path),
            Endpoint::Tcp(_) => Err(EndpointError::NotUnix {
                endpoint: self.to_string(),
                runtime,
            }),
        }
    }
}

impl FromStr for Endpoint {
    type Err = EndpointError;

    fn from_str(text: &str) -> Result<Self, Self::Err> {
        let endpoint = || text.to_owned();
        let path = match text.split_once("://") {
            Some(("unix", path)) => path,
            Some(("tcp" | "http", address)) => {
                let valid = address.rsplit_once(':').is_some_and(|(host, port)| {
                    !host.is_empty() && !host.contains('/') && port.parse::<u16>().is_ok()
                });
                return if valid {
                    Ok(Endpoint::Tcp(address.to_owned()))
                } else {
                    Err(EndpointError::Address {
                        endpoint: endpoint(),
                    })
                };
            }
            Some(_) => {
                return Err(EndpointError::Scheme {
                    endpoint: endpoint(),
                });
            }
            None => text,
        };
        if !Path::new(path).is_absolute() {
            return Err(EndpointError::NotAbsolute {
                endpoint: endpoint(),
            });
        }
        Ok(Endpoint::Unix(PathBuf::from(path)))
    }
}

impl fmt::Display for Endpoint {
    /// The URL form: `unix:///path` or `tcp://host:port`.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Endpoint::Unix(path) => write!(f, "unix://{}", path.display()),
            Endpoint::Tcp(address) => write!(f, "tcp://{address}"),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(text: &str) -> Result<Endpoint, EndpointError> {
        text.parse()
    }

    #[test]
    fn unix_urls_and_bare_absolute_paths_name_a_socket() {
        let socket = Endpoint::Unix(PathBuf::from("/run/containerd/containerd.sock"));
        assert_eq!(
            parse("unix:///run/containerd/containerd.sock"),
            Ok(socket.clone())
        );
        assert_eq!(parse("/run/containerd/containerd.sock"), Ok(socket.clone()));
        assert_eq!(socket.to_string(), "unix:///run/containerd/containerd.sock");
    }

    #[test]
    fn tcp_and_http_urls_name_a_host_and_port() {
        let docker = Endpoint::Tcp("127.0.0.1:2375".to_owned());
        assert_eq!(parse("tcp://127.0.0.1:2375"), Ok(docker.clone()));
        assert_eq!(parse("http://127.0.0.1:2375"), Ok(docker.clone()));
        assert_eq!(docker.to_string(), "tcp://127.0.0.1:2375");
        assert_eq!(
            parse("tcp://[::1]:2375"),
            Ok(Endpoint::Tcp("[::1]:2375".to_owned()))
        );
    }

    #[test]
    fn a_runtime_on_a_unix_socket_only_refuses_tcp() {
        let socket = parse("unix:///run/podman/podman.sock").unwrap();
        assert_eq!(
            socket.unix_socket("Podman"),
            Ok(Path::new("/run/podman/podman.sock"))
        );
        let tcp = parse("tcp://127.0.0.1:8080").unwrap();
        assert_eq!(
            tcp.unix_socket("Podman").unwrap_err().to_string(),
            "endpoint tcp://127.0.0.1:8080 is a TCP address: Podman is reached only on a unix \
             socket (unix:///path)"
        );
    }

    #[test]
    fn every_form_displays_as_it_parses() {
        for text in ["unix:///var/run/docker.sock", "tcp://docker.example:2376"] {
            assert_eq!(parse(text).unwrap().to_string(), text);
        }
    }

    #[test]
    fn other_forms_are_refused_naming_the_endpoint() {
        let refusal = |text| parse(text).unwrap_err().to_string();
        assert_eq!(
            refusal("npipe:////./pipe/docker_engine"),
            "unsupported endpoint \"npipe:////./pipe/docker_engine\": use unix:///path, an \
             absolute socket path, or tcp://host:port"
        );
        for relative in ["unix://", "unix://run/c.sock", "run/c.sock", ""] {
            assert_eq!(
                parse(relative),
                Err(EndpointError::NotAbsolute {
                    endpoint: relative.to_owned()
                })
            );
        }
        assert_eq!(
            refusal("containerd.sock"),
            "endpoint \"containerd.sock\" does not name an absolute socket path (unix:///path)"
        );
        for address in [
            "tcp://",
            "tcp://host",
            "tcp://:2375",
            "http://host:2375/",
            "tcp://h:port",
        ] {
            assert_eq!(
                parse(address),
                Err(EndpointError::Address {
                    endpoint: address.to_owned()
                })
            );
        }
    }
}
