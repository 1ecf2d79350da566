//! Manifests: from a file's bytes to validated, defaulted static pods, with every finding
//! placed at its file, line, column and field.

pub mod coverage;
pub mod decode;
pub mod defaults;
pub mod documents;
pub mod locate;
pub mod validate;

/// serde-saphyr options for manifests: YAML 1.1 octal numbers (`0644`), as the Kubernetes
/// YAML decoder reads them, and no source snippets in messages (we print positions).
pub fn yaml_options() -> serde_saphyr::Options {
    let mut options = serde_saphyr::Options::default();
    options.legacy_octal_numbers = true;
    options.with_snippet = false;
    options
}

use std::path::Path;

use crate::diagnostic::{Diagnostic, Severity};
use crate::source::SourceKind;
use defaults::StaticPod;

/// What one manifest file yields.
#[derive(Debug, Clone, Default)]
pub struct Loaded {
    /// The pods, when the file has no error; empty otherwise.
    pub pods: Vec<StaticPod>,
    /// Every error and warning found.
    pub diagnostics: Vec<Diagnostic>,
}

impl Loaded {
    /// True when the file has at least one error, so none of its pods may be used.
    pub fn has_errors(&self) -> bool {
        self.diagnostics
            .iter()
            .any(|d| d.severity == Severity::Error)
    }
}

/// The one pod of a valid manifest `text` (file `/m/web.yaml` on `node0`), for tests.
#[cfg(test)]
pub(crate) fn test_pod(text: &str) -> defaults::StaticPod {
    let loaded = load(
        Path::new("/m/web.yaml"),
        SourceKind::File,
        text,
        "node0",
        "t",
    );
    assert!(!loaded.has_errors(), "{:?}", loaded.diagnostics);
    loaded.pods.into_iter().next().unwrap()
}

/// Decodes, validates and defaults every pod of one manifest file (or URL body) of a `kind`
/// of source. A file is taken whole or not at all: one error anywhere and no pod of it is
/// used, so a half-edited file never starts half of its pods.
pub fn load(file: &Path, kind: SourceKind, text: &str, node_name: &str, seen: &str) -> Loaded {
    let decoded = decode::decode(file, text);
    let mut diagnostics = decoded.diagnostics;
    for pod in &decoded.pods {
        diagnostics.extend(validate::validate(file, pod, node_name));
    }
    diagnostics.sort_by_key(|a| (a.position, a.severity));
    let mut loaded = Loaded {
        pods: Vec::new(),
        diagnostics,
    };
    if !loaded.has_errors() {
        loaded.pods = decoded
            .pods
            .into_iter()
            .map(|decoded| defaults::apply(decoded.pod, file, kind, node_name, seen))
            .collect();
    }
    loaded
}

#[cfg(test)]
mod tests {
    use expect_test::{Expect, expect};

    use super::*;

    fn check(text: &str, expected: Expect) {
        let loaded = load(
            Path::new("/etc/kubernetes/manifests/web.yaml"),
            SourceKind::File,
            text,
            "node0",
            "t",
        );
        let mut out: Vec<String> = loaded.diagnostics.iter().map(ToString::to_string).collect();
        out.extend(loaded.pods.iter().map(|p| {
            format!(
                "pod {}/{} uid={}",
                p.namespace(),
                p.full_name(),
                p.uid().len()
            )
        }));
        expected.assert_eq(&out.join("\n"));
    }

    #[test]
    fn a_good_manifest_yields_its_pod() {
        check(
            "apiVersion: v1\nkind: Pod\nmetadata:\n  name: static-web\nspec:\n  containers:\n  - name: web\n    image: nginx:1.25\n    ports:\n    - name: web\n      containerPort: 80\n      hostPort: 8080\n",
            expect!["pod default/static-web-node0 uid=32"],
        );
    }

    #[test]
    fn dns_settings_are_checked_as_the_api_server_checks_them() {
        check(
            "kind: Pod\nmetadata: {name: web}\nspec:\n  dnsPolicy: None\n  dnsConfig:\n    nameservers: [192.0.2.1, resolver.example]\n    searches: [ok.example., Bad_Domain]\n    options: [{value: '2'}, {name: edns0, vaule: x}]\n  containers: [{name: web, image: nginx:1.25}]\n",
            expect![[r#"
                /etc/kubernetes/manifests/web.yaml:6:30: error: spec.dnsConfig.nameservers[1]: "resolver.example" is not an IP address
                /etc/kubernetes/manifests/web.yaml:7:29: error: spec.dnsConfig.searches[1]: "Bad_Domain" is not a valid DNS-1123 subdomain: at most 253 lower-case letters, digits, '-' or '.', starting and ending with a letter or digit
                /etc/kubernetes/manifests/web.yaml:8:15: error: spec.dnsConfig.options[0].name: must not be empty
                /etc/kubernetes/manifests/web.yaml:8:43: warning: spec.dnsConfig.options[1].vaule: unknown field, ignored (is it misspelled?)"#]],
        );
        check(
            "kind: Pod\nmetadata: {name: web}\nspec:\n  dnsPolicy: None\n  containers: [{name: web, image: nginx:1.25}]\n",
            expect![
                "/etc/kubernetes/manifests/web.yaml:4:3: error: spec.dnsPolicy: dnsPolicy None needs a dnsConfig with at least one nameserver"
            ],
        );
        check(
            "kind: Pod\nmetadata: {name: web}\nspec:\n  dnsPolicy: Cluster\n  containers: [{name: web, image: nginx:1.25}]\n",
            expect![
                "/etc/kubernetes/manifests/web.yaml:4:14: error: spec.dnsPolicy: unknown variant `Cluster`, expected one of ClusterFirst, ClusterFirstWithHostNet, Default, None"
            ],
        );
    }

    #[test]
    fn typos_are_warnings_with_their_place() {
        check(
            "apiVersion: v1\nkind: Pod\nmetadata:\n  name: web\nspec:\n  containers:\n  - name: web\n    image: nginx:1.25\n    workdir: /srv\n  restartpolicy: Never\n",
            expect![[r#"
                /etc/kubernetes/manifests/web.yaml:9:5: warning: spec.containers[0].workdir: unknown field, ignored (is it misspelled?)
                /etc/kubernetes/manifests/web.yaml:10:3: warning: spec.restartpolicy: unknown field, ignored (is it misspelled?)
                pod default/web-node0 uid=32"#]],
        );
    }

    #[test]
    fn type_errors_name_line_column_and_field() {
        check(
            "kind: Pod\nmetadata:\n  name: web\nspec:\n  containers:\n  - name: web\n    image: nginx:1.25\n    ports:\n    - containerPort: eighty\n",
            expect![
                "/etc/kubernetes/manifests/web.yaml:9:22: error: spec.containers[0].ports[0].containerPort: invalid i32, found eighty"
            ],
        );
    }

    #[test]
    fn syntax_errors_name_line_and_column() {
        check(
            "kind: Pod\nmetadata:\n  name: web\nspec:\n  containers:\n  - name: web\n   image: nginx\n",
            expect![[
                r#"/etc/kubernetes/manifests/web.yaml:7:4: error: while parsing a block mapping, did not find expected key"#
            ]],
        );
    }

    #[test]
    fn api_object_references_are_refused_with_a_reason() {
        check(
            "kind: Pod\nmetadata:\n  name: web\nspec:\n  serviceAccountName: builder\n  containers:\n  - name: web\n    image: nginx:1.25\n    env:\n    - name: TOKEN\n      valueFrom:\n        secretKeyRef: {name: s, key: k}\n    volumeMounts:\n    - {name: cfg, mountPath: /etc/cfg}\n  volumes:\n  - name: cfg\n    configMap: {name: cfg}\n",
            expect![[r#"
                /etc/kubernetes/manifests/web.yaml:5:3: error: spec.serviceAccountName: static pods may not reference API objects (ServiceAccount "builder"): there is no API server to read them from
                /etc/kubernetes/manifests/web.yaml:12:9: error: spec.containers[0].env[0].valueFrom.secretKeyRef: static pods may not reference API objects (Secrets): there is no API server to read them from
                /etc/kubernetes/manifests/web.yaml:17:5: error: spec.volumes[0].configMap: static pods may not reference API objects (ConfigMaps): there is no API server to read them from"#]],
        );
    }

    #[test]
    fn a_pod_name_is_a_subdomain_not_a_label() {
        // The kubelet's e2e names pods like this one (70 characters with the node's name);
        // only the hostname is cut to 63.
        let long = "restartable-init-container-run-continuously";
        check(
            &format!(
                "kind: Pod\nmetadata:\n  name: {long}\nspec:\n  containers:\n  - name: web\n    image: nginx:1.25\n"
            ),
            expect!["pod default/restartable-init-container-run-continuously-node0 uid=32"],
        );
        check(
            &format!(
                "kind: Pod\nmetadata:\n  name: {}\nspec:\n  containers:\n  - name: web\n    image: nginx:1.25\n",
                "a".repeat(250)
            ),
            expect![[
                r#"/etc/kubernetes/manifests/web.yaml:3:3: error: metadata.name: with the node name appended: "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa-node0" is not a valid DNS-1123 subdomain: at most 253 lower-case letters, digits, '-' or '.', starting and ending with a letter or digit"#
            ]],
        );
    }

    #[test]
    fn validation_errors_are_placed() {
        check(
            "kind: Pod\nmetadata:\n  name: Web_1\nspec:\n  containers:\n  - name: web\n    image: nginx:1.25\n  - name: web\n    image: ''\n    ports:\n    - containerPort: 70000\n    resources:\n      limits: {cpu: 100m}\n      requests: {cpu: '1'}\n",
            expect![[r#"
                /etc/kubernetes/manifests/web.yaml:3:3: error: metadata.name: "Web_1" is not a valid DNS-1123 subdomain: at most 253 lower-case letters, digits, '-' or '.', starting and ending with a letter or digit
                /etc/kubernetes/manifests/web.yaml:8:5: error: spec.containers[1].name: duplicate container name "web"
                /etc/kubernetes/manifests/web.yaml:9:5: error: spec.containers[1].image: is required
                /etc/kubernetes/manifests/web.yaml:11:7: error: spec.containers[1].ports[0].containerPort: must be between 1 and 65535, got 70000
                /etc/kubernetes/manifests/web.yaml:14:18: error: spec.containers[1].resources.requests.cpu: request 1 is more than the limit 100m"#]],
        );
    }

    #[test]
    fn resources_not_enforced_are_said_to_be() {
        check(
            "kind: Pod\nmetadata: {name: web}\nspec:\n  containers:\n  - name: web\n    image: nginx:1.25\n    resources:\n      limits: {cpu: '1', memory: 1Gi, hugepages-2Mi: 4Mi, ephemeral-storage: 1Gi, example.com/dongle: '1', gpus: '1'}\n      requests: {hugepages-2Mi: 4Mi, ephemeral-storage: 1Gi}\n",
            expect![[r#"
                /etc/kubernetes/manifests/web.yaml:8:39: warning: spec.containers[0].resources.limits.hugepages-2Mi: limit not enforced (staticpod sets no hugetlb cgroup limit); the downward API reads it
                /etc/kubernetes/manifests/web.yaml:8:59: warning: spec.containers[0].resources.limits.ephemeral-storage: limit not enforced (staticpod evicts no pod for its disk use); the downward API reads it
                /etc/kubernetes/manifests/web.yaml:8:108: warning: spec.containers[0].resources.limits.gpus: unknown resource "gpus": only cpu and memory are enforced
                pod default/web-node0 uid=32"#]],
        );
    }

    #[test]
    fn the_downward_api_is_checked_as_the_api_checks_it() {
        check(
            "kind: Pod\nmetadata: {name: web}\nspec:\n  containers:\n  - name: web\n    image: nginx:1.25\n    env:\n    - {name: A, valueFrom: {resourceFieldRef: {resource: limits.gpu}}}\n    - {name: B, valueFrom: {resourceFieldRef: {resource: limits.cpu, divisor: 1Mi}}}\n    - {name: C, valueFrom: {resourceFieldRef: {resource: requests.memory, divisor: 1Mi, containerName: other}}}\n    - {name: D, valueFrom: {fieldRef: {fieldPath: \"metadata.labels['tier']\"}}}\n    - {name: E, valueFrom: {resourceFieldRef: {resource: limits.hugepages-2Mi, divisor: 1m}}}\n    - {name: F, valueFrom: {resourceFieldRef: {resource: requests.hugepages-1Gi, divisor: 1Mi}}}\n    volumeMounts: [{name: info, mountPath: /info}]\n  volumes:\n  - name: info\n    downwardAPI:\n      defaultMode: 1000\n      items:\n      - {path: ../up, fieldRef: {fieldPath: metadata.name}}\n      - {path: ip, fieldRef: {fieldPath: status.podIP}}\n      - {path: cpu, resourceFieldRef: {resource: limits.cpu}}\n  - name: p\n    projected:\n      sources:\n      - secret: {name: s}\n  - {name: m, emptyDir: {medium: Memory, sizeLimit: 1Mi}}\n",
            expect![[r#"
                /etc/kubernetes/manifests/web.yaml:8:48: error: spec.containers[0].env[0].valueFrom.resourceFieldRef.resource: unsupported resource "limits.gpu": supported are limits.cpu, limits.memory, limits.ephemeral-storage, limits.hugepages-<size>, requests.cpu, requests.memory, requests.ephemeral-storage, requests.hugepages-<size>
                /etc/kubernetes/manifests/web.yaml:9:70: error: spec.containers[0].env[1].valueFrom.resourceFieldRef.divisor: must be one of 1m, 1 for cpu
                /etc/kubernetes/manifests/web.yaml:10:89: error: spec.containers[0].env[2].valueFrom.resourceFieldRef.containerName: no container of the pod is named "other"
                /etc/kubernetes/manifests/web.yaml:12:80: error: spec.containers[0].env[4].valueFrom.resourceFieldRef.divisor: must be one of 1, 1k, 1M, 1G, 1T, 1P, 1E, 1Ki, 1Mi, 1Gi, 1Ti, 1Pi, 1Ei for hugepages-2Mi
                /etc/kubernetes/manifests/web.yaml:18:7: error: spec.volumes[0].downwardAPI.defaultMode: must be a file mode from 0 to 0777 (511), got 1000
                /etc/kubernetes/manifests/web.yaml:20:10: error: spec.volumes[0].downwardAPI.items[0].path: must be a relative path without '..' and not starting with '..', got "../up"
                /etc/kubernetes/manifests/web.yaml:21:31: error: spec.volumes[0].downwardAPI.items[1].fieldRef.fieldPath: unsupported field "status.podIP": supported are metadata.name, metadata.namespace, metadata.uid, metadata.labels, metadata.annotations, metadata.labels['<key>'], metadata.annotations['<key>']
                /etc/kubernetes/manifests/web.yaml:22:21: error: spec.volumes[0].downwardAPI.items[2].resourceFieldRef.containerName: is required in a volume
                /etc/kubernetes/manifests/web.yaml:26:9: error: spec.volumes[1].projected.sources[0].secret: static pods may not reference API objects (Secrets): there is no API server to read them from"#]],
        );
    }

    #[test]
    fn file_key_refs_are_checked_as_the_api_checks_them() {
        check(
            "kind: Pod\nmetadata: {name: web}\nspec:\n  containers:\n  - name: web\n    image: nginx:1.25\n    env:\n    - {name: A, valueFrom: {fileKeyRef: {volumeName: config, path: config.env, key: A}}}\n    - {name: B, valueFrom: {fileKeyRef: {volumeName: host, path: ../x.env, key: 'B=C'}}}\n    - {name: C, valueFrom: {fileKeyRef: {volumeName: none, path: /x.env, key: C, optinal: true}}}\n  volumes:\n  - {name: config, emptyDir: {}}\n  - {name: host, hostPath: {path: /etc}}\n",
            expect![[r#"
                /etc/kubernetes/manifests/web.yaml:9:42: error: spec.containers[0].env[1].valueFrom.fileKeyRef.volumeName: must name an emptyDir volume of the pod, got "host"
                /etc/kubernetes/manifests/web.yaml:9:60: error: spec.containers[0].env[1].valueFrom.fileKeyRef.path: must be a relative path without '..', got "../x.env"
                /etc/kubernetes/manifests/web.yaml:9:76: error: spec.containers[0].env[1].valueFrom.fileKeyRef.key: must be 1 to 128 printable ASCII characters without '=', got "B=C"
                /etc/kubernetes/manifests/web.yaml:10:42: error: spec.containers[0].env[2].valueFrom.fileKeyRef.volumeName: must name an emptyDir volume of the pod, got "none"
                /etc/kubernetes/manifests/web.yaml:10:60: error: spec.containers[0].env[2].valueFrom.fileKeyRef.path: must be a relative path without '..', got "/x.env"
                /etc/kubernetes/manifests/web.yaml:10:82: warning: spec.containers[0].env[2].valueFrom.fileKeyRef.optinal: unknown field, ignored (is it misspelled?)"#]],
        );
    }

    #[test]
    fn security_fields_are_checked_as_the_api_and_the_kubelet_check_them() {
        check(
            "kind: Pod
metadata: {name: web}
spec:
  subdomain: Db_1
  securityContext:
    seccompProfile: {type: Localhost}
    appArmorProfile: {type: RuntimeDefault, localhostProfile: x}
    sysctls:
    - {name: net.ipv4.ip_forward, value: '1'}
    - {name: net/ipv4/tcp_syncookies, value: '1'}
    - {name: foo-, value: '1'}
    - {name: 'bar..', value: '1'}
    - {name: net.ipv4.tcp_syncookies, value: '0'}
  containers:
  - name: web
    image: nginx:1.25
    securityContext:
      seccompProfile: {type: Localhost, localhostProfile: ../../etc/profile.json}
      appArmorProfile: {type: Localhost}
      procMount: Unmasked
    volumeMounts:
    - {name: data, mountPath: /data, mountPropagation: Bidirectional}
    - {name: data, mountPath: /logs, subPath: a, subPathExpr: $(POD)}
    - {name: data, mountPath: /up, subPathExpr: ../$(POD)}
  volumes:
  - {name: data, emptyDir: {}}
",
            expect![[r#"
                /etc/kubernetes/manifests/web.yaml:4:3: error: spec.subdomain: "Db_1" is not a valid DNS-1123 label: at most 63 lower-case letters, digits or '-', starting and ending with a letter or digit
                /etc/kubernetes/manifests/web.yaml:6:5: error: spec.securityContext.seccompProfile.localhostProfile: must be set when seccomp type is Localhost
                /etc/kubernetes/manifests/web.yaml:7:45: error: spec.securityContext.appArmorProfile.localhostProfile: can only be set when AppArmor type is Localhost
                /etc/kubernetes/manifests/web.yaml:11:8: error: spec.securityContext.sysctls[2].name: "foo-": must have at most 253 characters and match the regular expression '^([a-z0-9]([-_a-z0-9]*[a-z0-9])?[\./])*[a-z0-9]([-_a-z0-9]*[a-z0-9])?$'
                /etc/kubernetes/manifests/web.yaml:12:8: error: spec.securityContext.sysctls[3].name: "bar..": must have at most 253 characters and match the regular expression '^([a-z0-9]([-_a-z0-9]*[a-z0-9])?[\./])*[a-z0-9]([-_a-z0-9]*[a-z0-9])?$'
                /etc/kubernetes/manifests/web.yaml:13:8: error: spec.securityContext.sysctls[4].name: duplicate sysctl "net.ipv4.tcp_syncookies"
                /etc/kubernetes/manifests/web.yaml:18:41: error: spec.containers[0].securityContext.seccompProfile.localhostProfile: must not contain '..', got "../../etc/profile.json"
                /etc/kubernetes/manifests/web.yaml:19:7: error: spec.containers[0].securityContext.appArmorProfile.localhostProfile: must be set when AppArmor type is Localhost
                /etc/kubernetes/manifests/web.yaml:20:7: error: spec.containers[0].securityContext.procMount: Unmasked needs the pod's own user namespace (`hostUsers` must be false to use `Unmasked`), and staticpod does not unmask `/proc`
                /etc/kubernetes/manifests/web.yaml:22:38: error: spec.containers[0].volumeMounts[0].mountPropagation: Bidirectional mount propagation is available only to privileged containers
                /etc/kubernetes/manifests/web.yaml:23:50: error: spec.containers[0].volumeMounts[1].subPathExpr: subPathExpr and subPath are mutually exclusive
                /etc/kubernetes/manifests/web.yaml:24:36: error: spec.containers[0].volumeMounts[2].subPathExpr: must be a relative path without '..'"#]],
        );
    }

    #[test]
    fn a_host_network_pod_may_not_set_net_sysctls() {
        check(
            "kind: Pod\nmetadata: {name: web}\nspec:\n  hostNetwork: true\n  hostIPC: true\n  securityContext:\n    sysctls:\n    - {name: net.ipv4.ip_unprivileged_port_start, value: '0'}\n    - {name: kernel.shm_rmid_forced, value: '1'}\n  containers: [{name: web, image: nginx:1.25}]\n",
            expect![[r#"
                /etc/kubernetes/manifests/web.yaml:8:8: error: spec.securityContext.sysctls[0].name: may not be specified when 'hostNetwork' is true
                /etc/kubernetes/manifests/web.yaml:9:8: error: spec.securityContext.sysctls[1].name: may not be specified when 'hostIPC' is true"#]],
        );
    }

    #[test]
    fn a_pod_list_and_multiple_documents_yield_one_pod_each() {
        check(
            "kind: PodList\napiVersion: v1\nitems:\n- metadata: {name: a}\n  spec: {containers: [{name: a, image: busybox:1.36}]}\n- metadata: {name: b}\n  spec: {containers: [{name: b, image: busybox:1.36}]}\n---\nkind: Pod\nmetadata: {name: c}\nspec: {containers: [{name: c, image: busybox:1.36}]}\n",
            expect![[r#"
                pod default/a-node0 uid=32
                pod default/b-node0 uid=32
                pod default/c-node0 uid=32"#]],
        );
    }

    #[test]
    fn json_manifests_are_read() {
        check(
            "{\n\t\"apiVersion\": \"v1\",\n\t\"kind\": \"Pod\",\n\t\"metadata\": {\"name\": \"j\"},\n\t\"spec\": {\"containers\": [{\"name\": \"j\", \"image\": \"nginx:1.25\", \"imagePullPolicy\": \"Sometimes\"}]}\n}\n",
            expect![[
                r#"/etc/kubernetes/manifests/web.yaml:5:82: error: spec.containers[0].imagePullPolicy: unknown variant `Sometimes`, expected one of Always, IfNotPresent, Never"#
            ]],
        );
    }

    #[test]
    fn an_empty_key_is_named() {
        check(
            "kind: Pod\nmetadata: {name: web}\nspec:\n  containers: [{name: web, image: nginx:1.25}]\n  \"\": 1\n",
            expect![[r#"
                /etc/kubernetes/manifests/web.yaml:5:3: warning: spec."": unknown field, ignored (is it misspelled?)
                pod default/web-node0 uid=32"#]],
        );
    }

    /// Found by the `manifest` and `url_body` fuzz targets (`fuzz/regressions/`): a lone
    /// `\r` is a line break to YAML, and a finding after one was placed lines too early.
    #[test]
    fn a_lone_carriage_return_is_a_line_break() {
        check(
            "kind: Pod\rmetadata: {name: a}\rspec: {containers: [{name: a, image: busybox:1.36}]}\n---\nkind: Pod\nmetadata: {name: b\nspec: {}\n",
            expect![
                "/etc/kubernetes/manifests/web.yaml:7:5: error: while parsing a flow mapping, did not find expected ',' or '}'"
            ],
        );
    }

    /// Found writing the position property of the `manifest` fuzz target: a document on
    /// its marker's line was parsed without the marker, and placed three columns early.
    #[test]
    fn a_document_on_its_markers_line_is_placed_in_the_file() {
        check(
            "--- {kind: Pod, metadata: {name: web}, spec: {containers: [{name: web, image: nginx, ports: [{containerPort: eighty}]}]}}\n",
            expect![
                "/etc/kubernetes/manifests/web.yaml:1:110: error: spec.containers[0].ports[0].containerPort: invalid i32, found eighty}]}]}}"
            ],
        );
    }

    /// Found writing the quoted-token property of the fuzz targets' `assert_placed_inside`:
    /// the parser counts columns in characters, the token was cut at a byte offset.
    #[test]
    fn what_a_type_error_found_is_quoted_after_wide_characters() {
        check(
            "kind: Pod\nmetadata: {name: web}\nspec:\n  containers:\n  - {name: web, image: nginx, env: [{name: ÉTÉ, value: été}], ports: [{containerPort: eighty}]}\n",
            expect![
                "/etc/kubernetes/manifests/web.yaml:5:87: error: spec.containers[0].ports[0].containerPort: invalid i32, found eighty}]}"
            ],
        );
    }

    #[test]
    fn a_missing_kind_is_an_error() {
        check(
            "metadata: {name: x}\nspec: {containers: []}\n",
            expect![[
                r#"/etc/kubernetes/manifests/web.yaml:1:1: error: kind: kind is missing: a static pod manifest needs `kind: Pod`"#
            ]],
        );
    }
}
