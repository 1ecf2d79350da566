//! The node's Kubernetes API, read-only, so that the real `kubectl` works against a
//! staticpod node: discovery, pods, events and the node as v1 objects and `meta.k8s.io/v1`
//! Tables, selectors decided on the server, watches, and a v1 `Status` for every refusal.
//! Everything but `server` (the hyper layer) and `watch` (the streams) is a pure function of
//! the agent's status and events.

pub mod age;
pub mod discovery;
pub mod error;
pub mod events;
pub mod filter;
pub mod limits;
pub mod logs;
pub mod negotiate;
pub mod nodes;
pub mod pods;
pub mod resource;
pub mod respond;
pub mod route;
pub mod selector;
pub mod server;
pub mod table;
pub mod versions;
pub mod watch;

pub use respond::NodeApi;
