//! The URL source (`--manifest-url`): a GET every `--http-check-frequency`, read as a
//! directory's file is (one Pod, a PodList, or a multi-document YAML stream). As the kubelet
//! does, an answer that is not a complete 200 keeps the pods as they are; better than the
//! kubelet, the last good answer's `ETag` and `Last-Modified` are sent back, so an unchanged
//! manifest costs the server a `304 Not Modified` and no body.

use std::time::Duration;

use reqwest::StatusCode;
use reqwest::header::{self, HeaderMap, HeaderName, HeaderValue};
use tokio::sync::mpsc;

use super::{
    HttpAnswer, MAX_MANIFEST_BYTES, ReadError, Reading, Scan, ScannedFile, Snapshot, SourceKind,
    manifest_text,
};

/// How long one poll may take, body included.
pub const REQUEST_TIMEOUT: Duration = Duration::from_secs(10);

/// A manifest URL and how to ask it.
#[derive(Clone)]
pub struct UrlSource {
    /// The URL (`http://` or `https://`).
    pub url: String,
    /// Headers sent with every request, in order; a name may repeat. Their values may be
    /// secrets: they are marked sensitive and never logged.
    pub headers: Vec<(String, String)>,
    /// How long one poll may take, body included ([`REQUEST_TIMEOUT`], as the kubelet's).
    pub timeout: Duration,
}

impl std::fmt::Debug for UrlSource {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let names: Vec<&str> = self.headers.iter().map(|(name, _)| name.as_str()).collect();
        f.debug_struct("UrlSource")
            .field("url", &self.url)
            .field("header_names", &names)
            .field("timeout", &self.timeout)
            .finish()
    }
}

/// A header given to `--manifest-url-header` that HTTP cannot carry.
#[derive(Debug, thiserror::Error)]
#[error("invalid --manifest-url-header `{name}`: {reason}")]
pub struct BadHeader {
    /// The header's name (its value is never shown: it may be a secret).
    pub name: String,
    /// What is wrong with it.
    pub reason: &'static str,
}

/// The validators of the last good answer.
#[derive(Debug, Clone, Default)]
struct Validators {
    etag: Option<HeaderValue>,
    last_modified: Option<HeaderValue>,
}

/// Polls one URL.
#[derive(Debug)]
pub struct Poller {
    source: UrlSource,
    client: reqwest::Client,
    headers: HeaderMap,
    last_good: Validators,
}

impl Poller {
    /// A poller for `source`; fails when a header cannot be sent.
    pub fn new(source: UrlSource) -> Result<Self, BadHeader> {
        let mut headers = HeaderMap::new();
        for (name, value) in &source.headers {
            let bad = |reason| BadHeader {
                name: name.clone(),
                reason,
            };
            let name = HeaderName::try_from(name.as_str()).map_err(|_| bad("not a header name"))?;
            let mut value =
                HeaderValue::try_from(value.as_str()).map_err(|_| bad("not a header value"))?;
            value.set_sensitive(true);
            headers.append(name, value);
        }
        let client = reqwest::Client::builder()
            .timeout(source.timeout)
            .user_agent(concat!("staticpod/", env!("CARGO_PKG_VERSION")))
            .build()
            .expect("a client with a timeout and a user agent builds");
        Ok(Poller {
            source,
            client,
            headers,
            last_good: Validators::default(),
        })
    }

    /// One GET of the URL, conditional on the last good answer.
    pub async fn poll(&mut self) -> Snapshot {
        let (reading, answer) = match self.get().await {
            Ok(outcome) => outcome,
            Err(error) => (Reading::Failed(error), None),
        };
        Snapshot {
            kind: SourceKind::Http,
            location: self.source.url.clone(),
            reading,
            answer,
        }
    }

    async fn get(&mut self) -> Result<(Reading, Option<HttpAnswer>), ReadError> {
        let mut request = self
            .client
            .get(&self.source.url)
            .headers(self.headers.clone());
        if let Some(etag) = &self.last_good.etag {
            request = request.header(header::IF_NONE_MATCH, etag.clone());
        }
        if let Some(modified) = &self.last_good.last_modified {
            request = request.header(header::IF_MODIFIED_SINCE, modified.clone());
        }
        let mut response = request.send().await.map_err(ReadError::Request)?;
        let status = response.status();
        let validators = Validators {
            etag: response.headers().get(header::ETAG).cloned(),
            last_modified: response.headers().get(header::LAST_MODIFIED).cloned(),
        };
        let answer = |validators: &Validators| HttpAnswer {
            status: status.as_u16(),
            etag: text_of(validators.etag.as_ref()),
            last_modified: text_of(validators.last_modified.as_ref()),
        };
        if status == StatusCode::NOT_MODIFIED && self.has_validators() {
            return Ok((Reading::Unchanged, Some(answer(&self.last_good))));
        }
        if status != StatusCode::OK {
            return Err(ReadError::Status { status });
        }
        if response
            .content_length()
            .is_some_and(|length| length > MAX_MANIFEST_BYTES)
        {
            return Err(ReadError::TooLarge {
                limit: MAX_MANIFEST_BYTES,
            });
        }
        let mut body = Vec::new();
        while let Some(chunk) = response.chunk().await.map_err(ReadError::Request)? {
            if body.len() + chunk.len() > MAX_MANIFEST_BYTES as usize {
                return Err(ReadError::TooLarge {
                    limit: MAX_MANIFEST_BYTES,
                });
            }
            body.extend_from_slice(&chunk);
        }
        if body.is_empty() {
            tracing::warn!(url = %self.source.url, "the manifest URL answered an empty body: it declares no pods");
        }
        let answer = answer(&validators);
        self.last_good = validators;
        Ok((
            Reading::Complete(body_scan(&self.source.url, body)),
            Some(answer),
        ))
    }

    fn has_validators(&self) -> bool {
        self.last_good.etag.is_some() || self.last_good.last_modified.is_some()
    }
}

/// The complete reading of `url` when it answers `body` (a whole 200): one manifest file
/// named by the URL, its text read as a directory's file is read. Public so that the body's
/// reading can be driven without a server (the `url_body` fuzz target).
pub fn body_scan(url: &str, body: Vec<u8>) -> Scan {
    Scan {
        files: vec![ScannedFile {
            path: url.into(),
            content: manifest_text(body),
        }],
        skipped: Vec::new(),
        unlinked: Vec::new(),
    }
}

fn text_of(value: Option<&HeaderValue>) -> Option<String> {
    value.and_then(|v| v.to_str().ok()).map(str::to_owned)
}

/// Polls `poller` at once and then every `check_frequency`, sending each snapshot. Runs
/// until the receiver is dropped.
pub fn watch(mut poller: Poller, check_frequency: Duration) -> mpsc::Receiver<Snapshot> {
    let (snapshots, receiver) = mpsc::channel(1);
    tokio::spawn(async move {
        let mut ticks = tokio::time::interval(check_frequency);
        ticks.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        loop {
            tokio::select! {
                _ = ticks.tick() => {}
                _ = snapshots.closed() => return,
            }
            let snapshot = poller.poll().await;
            if snapshots.send(snapshot).await.is_err() {
                return;
            }
        }
    });
    receiver
}

/// Parses `--manifest-url-header` values as the kubelet does (component-base's
/// `ColonSeparatedMultimapStringString`): each is `name:value` pairs separated by commas
/// (`a:hello,b:again`), split at the first colon, both sides trimmed, empty pairs skipped;
/// the flag may be given several times, and a name given several times sends each value, in
/// order. A value cannot hold a comma (the configuration file's `staticPodURLHeader` can).
pub fn parse_headers<'a>(
    flags: impl IntoIterator<Item = &'a str>,
) -> Result<Vec<(String, String)>, BadHeader> {
    let mut headers = Vec::new();
    for flag in flags {
        for pair in flag.split(',').filter(|pair| !pair.is_empty()) {
            let Some((name, value)) = pair.split_once(':') else {
                return Err(BadHeader {
                    name: pair.trim().to_string(),
                    reason: "malformed pair, expect name:value",
                });
            };
            headers.push((name.trim().to_string(), value.trim().to_string()));
        }
    }
    Ok(headers)
}

#[cfg(test)]
mod tests {
    use std::sync::{Arc, Mutex};

    use super::*;

    #[test]
    fn headers_parse_as_the_kubelets_flag_does() {
        let headers = parse_headers([
            "a:hello,b:again",
            " b : beautiful ,,Authorization:Bearer x:y",
        ])
        .unwrap();
        let pairs: Vec<(&str, &str)> = headers
            .iter()
            .map(|(n, v)| (n.as_str(), v.as_str()))
            .collect();
        assert_eq!(
            pairs,
            [
                ("a", "hello"),
                ("b", "again"),
                ("b", "beautiful"),
                ("Authorization", "Bearer x:y")
            ]
        );
        let error = parse_headers(["a:1,secret"]).unwrap_err();
        assert_eq!(
            error.to_string(),
            "invalid --manifest-url-header `secret`: malformed pair, expect name:value"
        );
    }

    #[test]
    fn a_header_that_http_cannot_carry_is_refused_by_name() {
        let source = UrlSource {
            url: "http://127.0.0.1:1/".into(),
            headers: vec![("x-token".into(), "line\nbreak".into())],
            timeout: REQUEST_TIMEOUT,
        };
        let error = Poller::new(source).unwrap_err();
        assert_eq!(
            error.to_string(),
            "invalid --manifest-url-header `x-token`: not a header value"
        );
    }

    #[test]
    fn header_values_are_not_shown_in_debug_output() {
        let source = UrlSource {
            url: "http://127.0.0.1:1/".into(),
            headers: vec![("Authorization".into(), "Bearer s3cret".into())],
            timeout: REQUEST_TIMEOUT,
        };
        let poller = Poller::new(source).unwrap();
        let shown = format!("{poller:?}");
        assert!(!shown.contains("s3cret"), "{shown}");
        assert!(shown.contains("Authorization"), "{shown}");
    }

    /// A server on 127.0.0.1 answering each connection with the next of `answers` (raw
    /// bytes; `None` never answers), recording each request's head.
    async fn serve(answers: Vec<Option<Vec<u8>>>) -> (String, Arc<Mutex<Vec<String>>>) {
        use tokio::io::{AsyncReadExt, AsyncWriteExt};
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let url = format!("http://{}/pods.yaml", listener.local_addr().unwrap());
        let requests = Arc::new(Mutex::new(Vec::new()));
        let seen = requests.clone();
        tokio::spawn(async move {
            for answer in answers {
                let (mut stream, _) = listener.accept().await.unwrap();
                let mut head = vec![0u8; 8192];
                let read = stream.read(&mut head).await.unwrap();
                seen.lock()
                    .unwrap()
                    .push(String::from_utf8_lossy(&head[..read]).into_owned());
                match answer {
                    Some(bytes) => {
                        let _ = stream.write_all(&bytes).await;
                        let _ = stream.shutdown().await;
                    }
                    None => tokio::time::sleep(Duration::from_secs(3600)).await,
                }
            }
        });
        (url, requests)
    }

    fn ok(headers: &str, body: &[u8]) -> Option<Vec<u8>> {
        let mut bytes = format!(
            "HTTP/1.1 200 OK\r\nContent-Length: {}\r\nConnection: close\r\n{headers}\r\n",
            body.len()
        )
        .into_bytes();
        bytes.extend_from_slice(body);
        Some(bytes)
    }

    fn answer(text: &str) -> Option<Vec<u8>> {
        Some(text.as_bytes().to_vec())
    }

    fn poller(url: &str) -> Poller {
        Poller::new(UrlSource {
            url: url.to_string(),
            headers: vec![("X-Node".into(), "node0".into())],
            timeout: Duration::from_millis(500),
        })
        .unwrap()
    }

    const POD: &str = "kind: Pod\nmetadata: {name: web}\n";

    fn body(snapshot: &Snapshot) -> &str {
        match &snapshot.reading {
            Reading::Complete(scan) => scan.files[0].content.as_deref().unwrap(),
            other => panic!("not a complete reading: {other:?}"),
        }
    }

    fn error(snapshot: &Snapshot) -> String {
        match &snapshot.reading {
            Reading::Failed(error) => crate::error_chain::describe(error),
            other => panic!("not a failed reading: {other:?}"),
        }
    }

    #[tokio::test]
    async fn an_unchanged_manifest_costs_a_304_and_the_headers_reach_the_server() {
        let (url, requests) = serve(vec![
            ok(
                "ETag: \"v1\"\r\nLast-Modified: Tue, 01 Dec 2026 08:00:00 GMT\r\n",
                POD.as_bytes(),
            ),
            answer("HTTP/1.1 304 Not Modified\r\nETag: \"v1\"\r\nConnection: close\r\n\r\n"),
        ])
        .await;
        let mut poller = poller(&url);
        let first = poller.poll().await;
        assert_eq!(body(&first), POD);
        assert_eq!(first.kind, SourceKind::Http);
        assert_eq!(
            first.answer.as_ref().unwrap().etag.as_deref(),
            Some("\"v1\"")
        );
        let second = poller.poll().await;
        assert!(matches!(second.reading, Reading::Unchanged), "{second:?}");
        let requests = requests.lock().unwrap();
        let conditional = requests[1].to_ascii_lowercase();
        assert!(requests[0].to_ascii_lowercase().contains("x-node: node0"));
        assert!(
            conditional.contains("if-none-match: \"v1\""),
            "{conditional}"
        );
        assert!(
            conditional.contains("if-modified-since: tue, 01 dec 2026 08:00:00 gmt"),
            "{conditional}"
        );
    }

    #[tokio::test]
    async fn an_error_status_a_hang_and_a_body_cut_short_are_failed_readings() {
        let (url, _) = serve(vec![
            answer("HTTP/1.1 500 Internal Server Error\r\nContent-Length: 0\r\n\r\n"),
            None,
            answer("HTTP/1.1 200 OK\r\nContent-Length: 100\r\n\r\nkind: Pod\n"),
        ])
        .await;
        let mut poller = poller(&url);
        assert_eq!(
            error(&poller.poll().await),
            "the server answered 500 Internal Server Error"
        );
        let hang = error(&poller.poll().await);
        assert!(hang.starts_with("the request failed"), "{hang}");
        let cut = error(&poller.poll().await);
        assert!(cut.starts_with("the request failed"), "{cut}");
    }

    #[tokio::test]
    async fn a_body_over_the_limit_is_refused_whether_its_length_is_announced_or_not() {
        let big = vec![b'#'; MAX_MANIFEST_BYTES as usize + 1];
        let mut chunked = b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n".to_vec();
        chunked.extend_from_slice(format!("{:x}\r\n", big.len()).as_bytes());
        chunked.extend_from_slice(&big);
        chunked.extend_from_slice(b"\r\n0\r\n\r\n");
        let (url, _) = serve(vec![ok("", &big), Some(chunked)]).await;
        let mut poller = poller(&url);
        let limit = format!("the body is over the limit of {MAX_MANIFEST_BYTES} bytes");
        assert_eq!(error(&poller.poll().await), limit);
        assert_eq!(error(&poller.poll().await), limit);
    }

    #[tokio::test]
    async fn garbage_is_a_complete_reading_of_an_invalid_file_and_a_redirect_is_followed() {
        let (url, _) = serve(vec![ok("", &[0xff, 0xfe, 0x00])]).await;
        let garbage = poller(&url).poll().await;
        let Reading::Complete(scan) = &garbage.reading else {
            panic!("{garbage:?}")
        };
        assert_eq!(
            scan.files[0].content,
            Err(crate::source::FileProblem::NotText)
        );

        let (target, _) = serve(vec![ok("", POD.as_bytes())]).await;
        let (url, _) = serve(vec![answer(&format!(
            "HTTP/1.1 302 Found\r\nLocation: {target}\r\nContent-Length: 0\r\n\r\n"
        ))])
        .await;
        assert_eq!(body(&poller(&url).poll().await), POD);
    }
}
