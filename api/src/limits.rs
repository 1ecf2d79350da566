//! The bounds of the read-only port, so that no client can make the agent hold unbounded
//! memory, connections or tasks. Each is a constant on purpose: the port is on loopback by
//! default and serves one node, so these fit every use, and the README lists them.

use std::time::Duration;

/// Open connections at once; one more is answered `429 TooManyRequests` and closed.
pub const MAX_CONNECTIONS: usize = 64;

/// Open watches at once (`?watch=true`); one more is answered `429 TooManyRequests`.
pub const MAX_WATCHES: usize = 16;

/// The longest a watch stays open (`timeoutSeconds` may ask for less), as kube-apiserver's
/// default `--min-request-timeout` of 30 minutes; the client then watches again.
pub const MAX_WATCH_DURATION: Duration = Duration::from_secs(30 * 60);

/// Pod changes kept for watches that start from a version; older starts are `410 Expired`.
pub const MAX_WATCH_HISTORY: usize = 256;

/// The largest request body read (a `DELETE`'s `DeleteOptions`); a larger one is `413`.
pub const MAX_BODY_BYTES: usize = 64 * 1024;

/// The largest request line and headers, in bytes (hyper's read buffer).
pub const MAX_HEADER_BYTES: usize = 16 * 1024;

/// How long a client may take to send a request's headers.
pub const HEADER_TIMEOUT: Duration = Duration::from_secs(10);

/// How long a request that reads pods waits for the agent's first complete listing after
/// a start (a pass normally takes well under a second; a runtime that is down must not
/// hold `kubectl` for long).
pub const FIRST_LISTING_WAIT: Duration = Duration::from_secs(3);
