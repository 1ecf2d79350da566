//! `test/e2e/common/node/downwardapi.go`, translated: the pod's fields (`fieldRef`) and its
//! container's resources (`resourceFieldRef`) as environment variables. Each pod runs `env`
//! and succeeds; its log is read as `NAME=value` lines, and each value is held to what the
//! kubelet's test matches it against (`TestContainerOutputRegexp`), checked in code: the
//! offline suite has no regular expressions.

use std::collections::BTreeMap;
use std::net::IpAddr;

use super::{OnePod, POD_START_TIMEOUT};

/// A `fieldRef` variable (`env` list item).
fn field(name: &str, path: &str) -> String {
    format!(
        "    - {{name: {name}, valueFrom: {{fieldRef: {{apiVersion: v1, fieldPath: {path}}}}}}}\n"
    )
}

/// A `resourceFieldRef` variable (`env` list item).
fn resource(name: &str, resource: &str) -> String {
    format!("    - {{name: {name}, valueFrom: {{resourceFieldRef: {{resource: {resource}}}}}}}\n")
}

/// The pod `downward-api` (label `name`), its container `dapi-container` running
/// `command` with `env` and `resources` (a flow mapping, or empty); `spec` is more lines
/// of the spec.
fn dapi_pod(command: &str, env: &str, resources: &str, spec: &str) -> String {
    let resources = if resources.is_empty() {
        String::new()
    } else {
        format!("    resources: {resources}\n")
    };
    format!(
        "kind: Pod\nmetadata: {{name: downward-api, labels: {{name: downward-api}}}}\nspec:\n  restartPolicy: Never\n{spec}  containers:\n  - name: dapi-container\n    image: busybox:1.36\n    command: {command}\n{resources}    env:\n{env}"
    )
}

/// `testDownwardAPI`'s pod: `env`, with requests of 250m CPU and 32Mi, limits of 1250m and
/// 64Mi.
fn test_pod(env: &str) -> String {
    dapi_pod(
        "[sh, -c, env]",
        env,
        "{requests: {cpu: 250m, memory: 32Mi}, limits: {cpu: 1250m, memory: 64Mi}}",
        "",
    )
}

/// Runs `manifest` on a node of case `case` until it succeeds: the node and its
/// `dapi-container`'s log.
fn run(case: &str, manifest: &str) -> (OnePod, String) {
    let run = OnePod::start(case, "downward-api", manifest);
    run.client().wait_success(POD_START_TIMEOUT);
    let log = run.client().logs("dapi-container");
    (run, log)
}

/// The `NAME=value` lines of an `env` log.
fn variables(log: &str) -> BTreeMap<String, String> {
    log.lines()
        .filter_map(|l| l.split_once('='))
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect()
}

/// A variable's name and the check of its value (the kubelet's regular expression).
type Expected<'a> = (&'a str, &'a dyn Fn(&str) -> bool);

/// Runs `manifest`, then holds each variable of `expected` to its check.
fn expect(case: &str, manifest: &str, expected: &[Expected<'_>]) -> OnePod {
    let (run, log) = run(case, manifest);
    let vars = variables(&log);
    for (name, check) in expected {
        match vars.get(*name) {
            Some(value) if check(value) => {}
            other => panic!("{name}: unexpected {other:?} in\n{log}"),
        }
    }
    run
}

/// `e2enetwork.RegexIPv4|RegexIPv6`.
fn is_ip(value: &str) -> bool {
    value.parse::<IpAddr>().is_ok()
}

/// `[1-9]` somewhere after `=`: a value with a nonzero digit first.
fn starts_nonzero(value: &str) -> bool {
    value.starts_with(|c: char| ('1'..='9').contains(&c))
}

/// "should provide pod name, namespace and IP address as env vars" (the name is the
/// mirror pod's: the agent adds the node's name, as the kubelet does).
#[test]
#[ignore = "needs the runtime: run through cargo xtask test"]
fn pod_name_namespace_and_ip_as_env_vars() {
    let env = [
        field("POD_NAME", "metadata.name"),
        field("POD_NAMESPACE", "metadata.namespace"),
        field("POD_IP", "status.podIP"),
    ]
    .concat();
    let (run, log) = run("e2e-dapi-name", &test_pod(&env));
    let vars = variables(&log);
    let full = run.client().full_name();
    assert_eq!(vars.get("POD_NAME"), Some(&full), "{log}");
    assert_eq!(
        vars.get("POD_NAMESPACE").map(String::as_str),
        Some("default"),
        "{log}"
    );
    assert!(vars.get("POD_IP").is_some_and(|v| is_ip(v)), "{log}");
}

/// "should provide host IP as an env var".
#[test]
#[ignore = "needs the runtime: run through cargo xtask test"]
fn host_ip_as_an_env_var() {
    expect(
        "e2e-dapi-host-ip",
        &test_pod(&field("HOST_IP", "status.hostIP")),
        &[("HOST_IP", &is_ip)],
    );
}

/// "should provide hostIPs as an env var" (whose variable reads `status.hostIP` in the
/// kubelet's test, as here).
#[test]
#[ignore = "needs the runtime: run through cargo xtask test"]
fn host_ips_as_an_env_var() {
    expect(
        "e2e-dapi-host-ips",
        &test_pod(&field("HOST_IP", "status.hostIP")),
        &[("HOST_IP", &is_ip)],
    );
}

/// "should provide host IP and pod IP as an env var if pod uses host network".
#[test]
#[ignore = "needs the runtime: run through cargo xtask test"]
fn host_and_pod_ip_are_equal_in_a_host_network_pod() {
    let env = [
        field("HOST_IP", "status.hostIP"),
        field("POD_IP", "status.podIP"),
    ]
    .concat();
    let command = r#"[sh, -c, "[[ \"${HOST_IP:?}\" == \"${POD_IP:?}\" ]] && echo 'OK' || echo \"HOST_IP: '${HOST_IP}' != POD_IP: '${POD_IP}'\""]"#;
    let (_, log) = run(
        "e2e-dapi-hostnet",
        &dapi_pod(command, &env, "", "  hostNetwork: true\n"),
    );
    assert!(log.contains("OK"), "{log}");
}

/// "should provide container's limits.cpu/memory and requests.cpu/memory as env vars".
#[test]
#[ignore = "needs the runtime: run through cargo xtask test"]
fn container_limits_and_requests_as_env_vars() {
    let env = [
        resource("CPU_LIMIT", "limits.cpu"),
        resource("MEMORY_LIMIT", "limits.memory"),
        resource("CPU_REQUEST", "requests.cpu"),
        resource("MEMORY_REQUEST", "requests.memory"),
    ]
    .concat();
    expect(
        "e2e-dapi-resources",
        &test_pod(&env),
        &[
            ("CPU_LIMIT", &|v| v == "2"),
            ("MEMORY_LIMIT", &|v| v == "67108864"),
            ("CPU_REQUEST", &|v| v == "1"),
            ("MEMORY_REQUEST", &|v| v == "33554432"),
        ],
    );
}

/// "should provide default limits.cpu/memory from node allocatable".
#[test]
#[ignore = "needs the runtime: run through cargo xtask test"]
fn default_limits_come_from_node_allocatable() {
    let env = [
        resource("CPU_LIMIT", "limits.cpu"),
        resource("MEMORY_LIMIT", "limits.memory"),
    ]
    .concat();
    expect(
        "e2e-dapi-allocatable",
        &dapi_pod("[sh, -c, env]", &env, "", ""),
        &[
            ("CPU_LIMIT", &starts_nonzero),
            ("MEMORY_LIMIT", &starts_nonzero),
        ],
    );
}

/// "should provide pod UID as env vars". The kubelet's test matches an API server's UID
/// (`[a-z0-9]{8}-[a-z0-9]{4}-...`); a static pod's UID is the kubelet's hash of its
/// manifest, 32 hexadecimal digits, so the variable is held to the UID `/pods` shows.
#[test]
#[ignore = "needs the runtime: run through cargo xtask test"]
fn pod_uid_as_an_env_var() {
    let (run, log) = run("e2e-dapi-uid", &test_pod(&field("POD_UID", "metadata.uid")));
    let full = run.client().full_name();
    let pods = run.node.pods();
    let uid = &pods
        .items
        .iter()
        .find(|p| p.metadata.name == full)
        .expect("the pod at /pods")
        .metadata
        .uid;
    assert!(!uid.is_empty());
    assert_eq!(variables(&log).get("POD_UID"), Some(uid), "{log}");
}

/// "Downward API tests for hugepages": "should provide container's
/// limits.hugepages-<pagesize> and requests.hugepages-<pagesize> as env vars" (none asked
/// for: 0).
#[test]
#[ignore = "needs the runtime: run through cargo xtask test"]
fn hugepages_limits_and_requests_as_env_vars() {
    let env = [
        resource("HUGEPAGES_LIMIT", "limits.hugepages-2Mi"),
        resource("HUGEPAGES_REQUEST", "requests.hugepages-2Mi"),
    ]
    .concat();
    expect(
        "e2e-dapi-hugepages",
        &dapi_pod(
            "[sh, -c, env]",
            &env,
            "{requests: {cpu: 10m, hugepages-2Mi: 0Mi}, limits: {hugepages-2Mi: 0Mi}}",
            "",
        ),
        &[
            ("HUGEPAGES_LIMIT", &|v| v == "0"),
            ("HUGEPAGES_REQUEST", &|v| v == "0"),
        ],
    );
}

/// "should provide default limits.hugepages-<pagesize> from node allocatable" (0 where the
/// node has none).
#[test]
#[ignore = "needs the runtime: run through cargo xtask test"]
fn default_hugepages_limit_comes_from_node_allocatable() {
    expect(
        "e2e-dapi-hugepages-allocatable",
        &dapi_pod(
            "[sh, -c, env]",
            &resource("HUGEPAGES_LIMIT", "limits.hugepages-2Mi"),
            "",
            "",
        ),
        &[("HUGEPAGES_LIMIT", &|v| {
            v == "0" || (starts_nonzero(v) && v.bytes().all(|b| b.is_ascii_digit()))
        })],
    );
}
