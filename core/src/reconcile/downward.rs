//! The downward API: a pod's fields and its containers' resources, as the kubelet gives
//! them to environment variables (`podFieldSelectorRuntimeValue`,
//! `ExtractContainerResourceValue`) and to the files of `downwardAPI` volumes and
//! projections (`pkg/volume/downwardapi`). Pure.

use std::collections::BTreeMap;

use super::security::NodePolicy;
use crate::manifest::defaults::StaticPod;
use crate::model::{Container, DownwardApiVolumeFile, ResourceFieldSelector};

/// The mode of a downward API file that names none (the API's `DownwardAPIVolumeSourceDefaultMode`).
pub const DEFAULT_MODE: u32 = 0o644;

/// The addresses a field of the pod's status may name.
#[derive(Debug, Clone, Copy)]
pub struct Addresses<'a> {
    /// `status.podIP`.
    pub pod_ip: &'a str,
    /// `status.hostIP`.
    pub host_ip: &'a str,
}

/// The value of `fieldRef.fieldPath` for `pod`; `None` for a path it has no value for
/// (validation refuses those).
pub fn field_value(pod: &StaticPod, path: &str, addresses: Addresses<'_>) -> Option<String> {
    let metadata = &pod.pod.metadata;
    if let Some((map, key)) = subscript(path) {
        let map = match map {
            "metadata.labels" => &metadata.labels,
            "metadata.annotations" => &metadata.annotations,
            _ => return None,
        };
        return Some(map.get(key).cloned().unwrap_or_default());
    }
    Some(match path {
        "metadata.name" => pod.full_name().to_string(),
        "metadata.namespace" => pod.namespace().to_string(),
        "metadata.uid" => pod.uid().to_string(),
        "metadata.labels" => format_map(&metadata.labels),
        "metadata.annotations" => format_map(&metadata.annotations),
        "spec.nodeName" => pod.pod.spec.node_name.clone().unwrap_or_default(),
        // Always empty: validation refuses a static pod's service account, as an API
        // server refuses it for a mirror pod.
        "spec.serviceAccountName" => pod
            .pod
            .spec
            .service_account_name
            .clone()
            .unwrap_or_default(),
        // One address each: a pod here has one IP, and the node one address.
        "status.podIP" | "status.podIPs" => addresses.pod_ip.to_string(),
        "status.hostIP" | "status.hostIPs" => addresses.host_ip.to_string(),
        _ => return None,
    })
}

/// `metadata.labels['k']` as (`metadata.labels`, `k`).
pub fn subscript(path: &str) -> Option<(&str, &str)> {
    let (map, rest) = path.split_once("['")?;
    Some((map, rest.strip_suffix("']")?))
}

/// A map as the kubelet writes it into a file (`fieldpath.FormatMap`): `key="value"` lines,
/// sorted by key, the value quoted as Go's `%q` does.
pub fn format_map(map: &BTreeMap<String, String>) -> String {
    map.iter()
        .map(|(key, value)| format!("{key}={}", go_quote(value)))
        .collect::<Vec<_>>()
        .join("\n")
}

/// Go's `strconv.Quote` for the text a label or annotation holds.
fn go_quote(text: &str) -> String {
    let mut quoted = String::with_capacity(text.len() + 2);
    quoted.push('"');
    for c in text.chars() {
        match c {
            '"' => quoted.push_str("\\\""),
            '\\' => quoted.push_str("\\\\"),
            '\n' => quoted.push_str("\\n"),
            '\t' => quoted.push_str("\\t"),
            '\r' => quoted.push_str("\\r"),
            c if (c as u32) < 0x20 || c == '\u{7f}' => {
                quoted.push_str(&format!("\\x{:02x}", c as u32))
            }
            c => quoted.push(c),
        }
    }
    quoted.push('"');
    quoted
}

/// The resources `resourceFieldRef` may name, as `limits.<name>` or `requests.<name>`,
/// besides [`is_hugepages`] ones.
pub const RESOURCES: &[&str] = &["cpu", "memory", "ephemeral-storage"];

/// Whether `name` is a huge page resource, `hugepages-<page size>` (`hugepages-2Mi`).
pub fn is_hugepages(name: &str) -> bool {
    name.strip_prefix("hugepages-")
        .and_then(|size| crate::quantity::Quantity::parse(size).ok())
        .is_some_and(|size| size.millis() > 0)
}

/// The value of `resourceFieldRef` for container `own` of `pod`, as the kubelet computes it:
/// an unset limit is the node's allocatable amount, an unset request is the limit when that
/// is set (the API's defaulting) and else zero, and the amount is divided by `divisor` (`1`
/// when unset or zero) and rounded up. `None` for a container or resource that does not
/// exist (validation refuses those).
pub fn resource_value(
    pod: &StaticPod,
    own: &Container,
    selector: &ResourceFieldSelector,
    policy: &NodePolicy,
) -> Option<String> {
    let spec = &pod.pod.spec;
    let container = match selector.container_name.as_deref().filter(|n| !n.is_empty()) {
        Some(name) => spec
            .containers
            .iter()
            .chain(&spec.init_containers)
            .find(|c| c.name == name)?,
        None => own,
    };
    let (kind, name) = selector.resource.split_once('.')?;
    let resources = container.resources.as_ref();
    let limit = resources
        .and_then(|r| r.limits.get(name))
        .map(|q| q.millis());
    let request = resources
        .and_then(|r| r.requests.get(name))
        .map(|q| q.millis());
    let allocatable = match name {
        "cpu" => i128::from(policy.cpu_capacity) * 1000,
        "memory" => i128::from(policy.memory_capacity) * 1000,
        "ephemeral-storage" => i128::from(policy.ephemeral_storage_capacity) * 1000,
        name if is_hugepages(name) => {
            i128::from(policy.hugepages_capacity.get(name).copied().unwrap_or(0)) * 1000
        }
        _ => return None,
    };
    let millis = match kind {
        "limits" => limit.unwrap_or(allocatable),
        "requests" => request.or(limit).unwrap_or(0),
        _ => return None,
    };
    let divisor = selector
        .divisor
        .as_ref()
        .map(|d| d.millis())
        .filter(|d| *d > 0);
    let value = if name == "cpu" {
        ceil_div(millis, divisor.unwrap_or(1000))
    } else {
        // Memory, storage and huge pages count whole bytes, of the amount and of the divisor.
        let divisor = divisor.map_or(1, |d| ceil_div(d, 1000)).max(1);
        ceil_div(ceil_div(millis, 1000), divisor)
    };
    Some(value.to_string())
}

fn ceil_div(amount: i128, divisor: i128) -> i128 {
    amount.div_euclid(divisor) + i128::from(amount.rem_euclid(divisor) != 0)
}

/// One file of a downward API volume.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct File {
    /// Relative path in the volume.
    pub path: String,
    /// What it holds.
    pub contents: String,
    /// Its mode.
    pub mode: u32,
}

/// The files of a downward API volume or projection: each item's value, with its own mode
/// or the volume's `defaultMode`.
pub fn volume_files(
    pod: &StaticPod,
    items: &[DownwardApiVolumeFile],
    default_mode: Option<i32>,
    policy: &NodePolicy,
) -> Vec<File> {
    let mode = |own: Option<i32>| {
        own.or(default_mode)
            .and_then(|m| u32::try_from(m).ok())
            .unwrap_or(DEFAULT_MODE)
    };
    // A volume's fields are of the pod's metadata only: no address is needed.
    let addresses = Addresses {
        pod_ip: "",
        host_ip: "",
    };
    items
        .iter()
        .map(|item| {
            let contents = if let Some(field) = &item.field_ref {
                field_value(pod, &field.field_path, addresses)
            } else if let Some(selector) = &item.resource_field_ref {
                let own = pod.pod.spec.containers.first();
                own.and_then(|own| resource_value(pod, own, selector, policy))
            } else {
                None
            };
            File {
                path: item.path.clone(),
                contents: contents.unwrap_or_default(),
                mode: mode(item.mode),
            }
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::manifest::test_pod as pod;

    const POD: &str = "kind: Pod
metadata:
  name: app
  labels: {tier: web, app: shop}
  annotations: {note: \"say \\\"hi\\\"\"}
spec:
  containers:
  - name: app
    image: busybox
    resources:
      limits: {cpu: 1500m, memory: 300Mi, hugepages-2Mi: 4Mi}
      requests: {cpu: 250m}
  - name: bare
    image: busybox
";

    fn value(resource: &str, divisor: Option<&str>, container: Option<&str>) -> String {
        let pod = pod(POD);
        let policy = NodePolicy {
            cpu_capacity: 2,
            memory_capacity: 4 << 30,
            ephemeral_storage_capacity: 10_000_000_000,
            hugepages_capacity: BTreeMap::from([("hugepages-2Mi".to_string(), 64 << 20)]),
            ..NodePolicy::default()
        };
        let selector = ResourceFieldSelector {
            container_name: container.map(str::to_string),
            resource: resource.to_string(),
            divisor: divisor.map(|d| crate::quantity::Quantity::parse(d).unwrap()),
        };
        let own = &pod.pod.spec.containers[0];
        resource_value(&pod, own, &selector, &policy).unwrap()
    }

    #[test]
    fn resources_round_up_and_fall_back_as_the_kubelet_does() {
        // GOMAXPROCS: 1.5 CPUs rounds up to 2.
        assert_eq!(value("limits.cpu", None, None), "2");
        assert_eq!(value("limits.cpu", Some("1m"), None), "1500");
        assert_eq!(value("requests.cpu", None, None), "1");
        assert_eq!(value("requests.cpu", Some("1m"), None), "250");
        // GOMEMLIMIT: bytes, or MiB with a divisor.
        assert_eq!(value("limits.memory", None, None), "314572800");
        assert_eq!(value("limits.memory", Some("1Mi"), None), "300");
        assert_eq!(value("limits.memory", Some("1Gi"), None), "1");
        // An unset request is the limit; an unset limit is the node's allocatable amount.
        assert_eq!(value("requests.memory", None, None), "314572800");
        assert_eq!(value("limits.cpu", None, Some("bare")), "2");
        assert_eq!(value("limits.memory", Some("1Mi"), Some("bare")), "4096");
        assert_eq!(value("limits.ephemeral-storage", Some("1G"), None), "10");
        assert_eq!(value("requests.ephemeral-storage", None, None), "0");
        assert_eq!(value("requests.cpu", None, Some("bare")), "0");
        // Huge pages: bytes, the node's for an unset limit, none of a size it lacks.
        assert_eq!(value("limits.hugepages-2Mi", Some("1Mi"), None), "4");
        assert_eq!(value("requests.hugepages-2Mi", None, None), "4194304");
        assert_eq!(
            value("limits.hugepages-2Mi", Some("1Mi"), Some("bare")),
            "64"
        );
        assert_eq!(value("requests.hugepages-2Mi", None, Some("bare")), "0");
        assert_eq!(value("limits.hugepages-1Gi", None, Some("bare")), "0");
    }

    #[test]
    fn hugepages_resources_are_named_by_a_page_size() {
        assert!(is_hugepages("hugepages-2Mi"));
        assert!(is_hugepages("hugepages-1Gi"));
        assert!(!is_hugepages("hugepages-"));
        assert!(!is_hugepages("hugepages-0"));
        assert!(!is_hugepages("hugepages-big"));
        assert!(!is_hugepages("memory"));
    }

    #[test]
    fn fields_and_maps_read_as_the_kubelet_writes_them() {
        let pod = pod(POD);
        let addresses = Addresses {
            pod_ip: "10.0.0.2",
            host_ip: "192.168.1.1",
        };
        let field = |path| field_value(&pod, path, addresses);
        assert_eq!(field("metadata.labels['tier']").as_deref(), Some("web"));
        assert_eq!(field("metadata.labels['none']").as_deref(), Some(""));
        assert_eq!(
            field("metadata.annotations['note']").as_deref(),
            Some("say \"hi\"")
        );
        assert_eq!(
            field("metadata.labels").as_deref(),
            Some("app=\"shop\"\ntier=\"web\"")
        );
        assert!(
            field("metadata.annotations")
                .unwrap()
                .contains("note=\"say \\\"hi\\\"\""),
        );
        assert_eq!(field("status.podIP").as_deref(), Some("10.0.0.2"));
        assert_eq!(field("status.podIPs").as_deref(), Some("10.0.0.2"));
        assert_eq!(field("status.hostIPs").as_deref(), Some("192.168.1.1"));
        assert_eq!(field("spec.serviceAccountName").as_deref(), Some(""));
        assert_eq!(field("spec.schedulerName"), None);
    }
}
