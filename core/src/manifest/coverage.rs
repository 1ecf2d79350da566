//! Every field of the v1 API objects a static pod is made of (Kubernetes v1.32), and what
//! staticpod does with each: acts on it, accepts it without acting on it (a warning says
//! so, and why: scheduling fields mean nothing on one node), or refuses it (a reference to
//! an API object, which a node without an API server cannot read). The typo warning is for
//! names that are no field of the API at all. A test holds this table to the upstream types
//! (`k8s-openapi`), so it cannot fall behind.

/// What staticpod does with a field.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Coverage {
    /// It is acted on.
    Acted,
    /// It is accepted and not acted on, for this reason.
    NotActed(&'static str),
    /// It is refused, for this reason.
    Refused(&'static str),
}

use Coverage::{Acted, NotActed, Refused};

use super::locate::without_indexes;

/// One API object: its Go type's name and its fields.
#[derive(Debug)]
pub struct Object {
    /// The Go type (`PodSpec`).
    pub name: &'static str,
    /// Every field, by its JSON name.
    pub fields: &'static [(&'static str, Coverage)],
}

impl Object {
    /// What is done with `field`, if it is a field of this object.
    pub fn coverage(&self, field: &str) -> Option<Coverage> {
        self.fields
            .iter()
            .find(|(name, _)| *name == field)
            .map(|(_, coverage)| *coverage)
    }
}

const SET_BY_THE_API: &str = "set by an API server; a manifest's is ignored";
const SCHEDULING: &str = "scheduling: a static pod runs on the node of its manifest";
const NO_ATTACH: &str = "there is no attach without an API server";
const NOT_YET: &str = "staticpod does not act on it yet";
const SECURITY_NOT_YET: &str =
    "not applied by staticpod yet: the container runs without it, as if it were not set";
const VOLUME_PLUGIN: &str =
    "volume plugins are not available to a static pod here: use hostPath, emptyDir or downwardAPI";

/// `Pod`.
pub const POD: Object = Object {
    name: "Pod",
    fields: &[
        ("apiVersion", Acted),
        ("kind", Acted),
        ("metadata", Acted),
        ("spec", Acted),
        ("status", NotActed("the status is the agent's to report")),
    ],
};

/// `ObjectMeta`.
pub const OBJECT_META: Object = Object {
    name: "ObjectMeta",
    fields: &[
        ("annotations", Acted),
        ("creationTimestamp", NotActed(SET_BY_THE_API)),
        ("deletionGracePeriodSeconds", NotActed(SET_BY_THE_API)),
        ("deletionTimestamp", NotActed(SET_BY_THE_API)),
        ("finalizers", NotActed(SET_BY_THE_API)),
        (
            "generateName",
            NotActed("a static pod's name is its manifest's name and the node's"),
        ),
        ("generation", NotActed(SET_BY_THE_API)),
        ("labels", Acted),
        ("managedFields", NotActed(SET_BY_THE_API)),
        ("name", Acted),
        ("namespace", Acted),
        (
            "ownerReferences",
            NotActed("a manifest's owners are ignored; the mirror pod's owner is its node"),
        ),
        ("resourceVersion", NotActed(SET_BY_THE_API)),
        ("selfLink", NotActed(SET_BY_THE_API)),
        ("uid", Acted),
    ],
};

/// `PodSpec`.
pub const POD_SPEC: Object = Object {
    name: "PodSpec",
    fields: &[
        ("activeDeadlineSeconds", NotActed(NOT_YET)),
        ("affinity", NotActed(SCHEDULING)),
        (
            "automountServiceAccountToken",
            NotActed("there is no service account token without an API server"),
        ),
        ("containers", Acted),
        ("dnsConfig", Acted),
        ("dnsPolicy", Acted),
        (
            "enableServiceLinks",
            NotActed("there are no Services without an API server"),
        ),
        (
            "ephemeralContainers",
            Refused("ephemeral containers are added through an API server"),
        ),
        ("hostAliases", Acted),
        ("hostIPC", Acted),
        ("hostNetwork", Acted),
        ("hostPID", Acted),
        ("hostUsers", Acted),
        ("hostname", Acted),
        ("imagePullSecrets", Refused("Secrets are API objects")),
        ("initContainers", Acted),
        ("nodeName", Acted),
        ("nodeSelector", NotActed(SCHEDULING)),
        ("os", NotActed(SCHEDULING)),
        (
            "overhead",
            NotActed("set by RuntimeClass admission in an API server"),
        ),
        ("preemptionPolicy", NotActed(SCHEDULING)),
        (
            "priority",
            NotActed(
                "only priorityClassName system-node-critical counts on a node (its OOM score)",
            ),
        ),
        ("priorityClassName", Acted),
        (
            "readinessGates",
            NotActed("their conditions are set through an API server"),
        ),
        ("resourceClaims", Refused("ResourceClaims are API objects")),
        (
            "resources",
            NotActed("pod-level resources are not applied by staticpod yet"),
        ),
        ("restartPolicy", Acted),
        (
            "runtimeClassName",
            NotActed("the runtime's default handler runs the pod"),
        ),
        ("schedulerName", NotActed(SCHEDULING)),
        ("schedulingGates", NotActed(SCHEDULING)),
        ("securityContext", Acted),
        ("serviceAccount", Refused("ServiceAccounts are API objects")),
        (
            "serviceAccountName",
            Refused("ServiceAccounts are API objects"),
        ),
        ("setHostnameAsFQDN", Acted),
        ("shareProcessNamespace", Acted),
        ("subdomain", Acted),
        ("terminationGracePeriodSeconds", Acted),
        ("tolerations", NotActed(SCHEDULING)),
        ("topologySpreadConstraints", NotActed(SCHEDULING)),
        ("volumes", Acted),
    ],
};

/// `Container`.
pub const CONTAINER: Object = Object {
    name: "Container",
    fields: &[
        ("args", Acted),
        ("command", Acted),
        ("env", Acted),
        ("envFrom", Refused("ConfigMaps and Secrets are API objects")),
        ("image", Acted),
        ("imagePullPolicy", Acted),
        ("lifecycle", Acted),
        ("livenessProbe", Acted),
        ("name", Acted),
        ("ports", Acted),
        ("readinessProbe", Acted),
        (
            "resizePolicy",
            NotActed("an in-place resize is asked for through an API server"),
        ),
        ("resources", Acted),
        ("restartPolicy", Acted),
        ("securityContext", Acted),
        ("startupProbe", Acted),
        ("stdin", NotActed(NO_ATTACH)),
        ("stdinOnce", NotActed(NO_ATTACH)),
        ("terminationMessagePath", Acted),
        ("terminationMessagePolicy", Acted),
        ("tty", NotActed(NO_ATTACH)),
        (
            "volumeDevices",
            Refused("raw block devices come from PersistentVolumeClaims, which are API objects"),
        ),
        ("volumeMounts", Acted),
        ("workingDir", Acted),
    ],
};

/// `Probe`.
pub const PROBE: Object = Object {
    name: "Probe",
    fields: &[
        ("exec", Acted),
        ("failureThreshold", Acted),
        ("grpc", Acted),
        ("httpGet", Acted),
        ("initialDelaySeconds", Acted),
        ("periodSeconds", Acted),
        ("successThreshold", Acted),
        ("tcpSocket", Acted),
        ("terminationGracePeriodSeconds", Acted),
        ("timeoutSeconds", Acted),
    ],
};

/// `Volume`.
pub const VOLUME: Object = Object {
    name: "Volume",
    fields: &[
        ("awsElasticBlockStore", Refused(VOLUME_PLUGIN)),
        ("azureDisk", Refused(VOLUME_PLUGIN)),
        ("azureFile", Refused(VOLUME_PLUGIN)),
        ("cephfs", Refused(VOLUME_PLUGIN)),
        ("cinder", Refused(VOLUME_PLUGIN)),
        ("configMap", Refused("ConfigMaps are API objects")),
        ("csi", Refused(VOLUME_PLUGIN)),
        ("downwardAPI", Acted),
        ("emptyDir", Acted),
        (
            "ephemeral",
            Refused("ephemeral volumes are PersistentVolumeClaims, API objects"),
        ),
        ("fc", Refused(VOLUME_PLUGIN)),
        ("flexVolume", Refused(VOLUME_PLUGIN)),
        ("flocker", Refused(VOLUME_PLUGIN)),
        ("gcePersistentDisk", Refused(VOLUME_PLUGIN)),
        ("gitRepo", Refused(VOLUME_PLUGIN)),
        ("glusterfs", Refused(VOLUME_PLUGIN)),
        ("hostPath", Acted),
        ("image", Refused(VOLUME_PLUGIN)),
        ("iscsi", Refused(VOLUME_PLUGIN)),
        ("name", Acted),
        ("nfs", Refused(VOLUME_PLUGIN)),
        (
            "persistentVolumeClaim",
            Refused("PersistentVolumeClaims are API objects"),
        ),
        ("photonPersistentDisk", Refused(VOLUME_PLUGIN)),
        ("portworxVolume", Refused(VOLUME_PLUGIN)),
        ("projected", Acted),
        ("quobyte", Refused(VOLUME_PLUGIN)),
        ("rbd", Refused(VOLUME_PLUGIN)),
        ("scaleIO", Refused(VOLUME_PLUGIN)),
        ("secret", Refused("Secrets are API objects")),
        ("storageos", Refused(VOLUME_PLUGIN)),
        ("vsphereVolume", Refused(VOLUME_PLUGIN)),
    ],
};

/// `SecurityContext`.
pub const SECURITY_CONTEXT: Object = Object {
    name: "SecurityContext",
    fields: &[
        ("allowPrivilegeEscalation", Acted),
        ("appArmorProfile", Acted),
        ("capabilities", Acted),
        ("privileged", Acted),
        ("procMount", Acted),
        ("readOnlyRootFilesystem", Acted),
        ("runAsGroup", Acted),
        ("runAsNonRoot", Acted),
        ("runAsUser", Acted),
        ("seLinuxOptions", NotActed(SECURITY_NOT_YET)),
        ("seccompProfile", Acted),
        ("windowsOptions", NotActed("Windows only")),
    ],
};

/// `PodSecurityContext`.
pub const POD_SECURITY_CONTEXT: Object = Object {
    name: "PodSecurityContext",
    fields: &[
        ("appArmorProfile", Acted),
        ("fsGroup", Acted),
        ("fsGroupChangePolicy", Acted),
        ("runAsGroup", Acted),
        ("runAsNonRoot", Acted),
        ("runAsUser", Acted),
        ("seLinuxChangePolicy", NotActed(SECURITY_NOT_YET)),
        ("seLinuxOptions", NotActed(SECURITY_NOT_YET)),
        ("seccompProfile", Acted),
        ("supplementalGroups", Acted),
        ("supplementalGroupsPolicy", Acted),
        ("sysctls", Acted),
        ("windowsOptions", NotActed("Windows only")),
    ],
};

/// `Lifecycle`.
pub const LIFECYCLE: Object = Object {
    name: "Lifecycle",
    fields: &[
        ("postStart", Acted),
        ("preStop", Acted),
        ("stopSignal", Acted),
    ],
};

/// `LifecycleHandler`.
pub const LIFECYCLE_HANDLER: Object = Object {
    name: "LifecycleHandler",
    fields: &[
        ("exec", Acted),
        ("httpGet", Acted),
        ("sleep", Acted),
        ("tcpSocket", Acted),
    ],
};

/// `VolumeMount`.
pub const VOLUME_MOUNT: Object = Object {
    name: "VolumeMount",
    fields: &[
        ("mountPath", Acted),
        ("mountPropagation", Acted),
        ("name", Acted),
        ("readOnly", Acted),
        ("recursiveReadOnly", NotActed(NOT_YET)),
        ("subPath", Acted),
        ("subPathExpr", Acted),
    ],
};

/// `ContainerPort`.
pub const CONTAINER_PORT: Object = Object {
    name: "ContainerPort",
    fields: &[
        ("containerPort", Acted),
        ("hostIP", Acted),
        ("hostPort", Acted),
        ("name", Acted),
        ("protocol", Acted),
    ],
};

/// `EnvVar`.
pub const ENV_VAR: Object = Object {
    name: "EnvVar",
    fields: &[("name", Acted), ("value", Acted), ("valueFrom", Acted)],
};

/// `HTTPGetAction`.
pub const HTTP_GET_ACTION: Object = Object {
    name: "HTTPGetAction",
    fields: &[
        ("host", Acted),
        ("httpHeaders", Acted),
        ("path", Acted),
        ("port", Acted),
        ("scheme", Acted),
    ],
};

/// `ResourceRequirements`.
pub const RESOURCE_REQUIREMENTS: Object = Object {
    name: "ResourceRequirements",
    fields: &[
        ("claims", Refused("ResourceClaims are API objects")),
        ("limits", Acted),
        ("requests", Acted),
    ],
};

/// `EmptyDirVolumeSource`.
pub const EMPTY_DIR: Object = Object {
    name: "EmptyDirVolumeSource",
    fields: &[("medium", Acted), ("sizeLimit", Acted)],
};

/// `DownwardAPIVolumeSource`.
pub const DOWNWARD_API: Object = Object {
    name: "DownwardAPIVolumeSource",
    fields: &[("defaultMode", Acted), ("items", Acted)],
};

/// `DownwardAPIVolumeFile`.
pub const DOWNWARD_API_FILE: Object = Object {
    name: "DownwardAPIVolumeFile",
    fields: &[
        ("fieldRef", Acted),
        ("mode", Acted),
        ("path", Acted),
        ("resourceFieldRef", Acted),
    ],
};

/// `ProjectedVolumeSource`.
pub const PROJECTED: Object = Object {
    name: "ProjectedVolumeSource",
    fields: &[("defaultMode", Acted), ("sources", Acted)],
};

/// `VolumeProjection`.
pub const VOLUME_PROJECTION: Object = Object {
    name: "VolumeProjection",
    fields: &[
        (
            "clusterTrustBundle",
            Refused("ClusterTrustBundles are API objects"),
        ),
        ("configMap", Refused("ConfigMaps are API objects")),
        ("downwardAPI", Acted),
        ("secret", Refused("Secrets are API objects")),
        (
            "serviceAccountToken",
            Refused("ServiceAccount tokens come from an API server"),
        ),
    ],
};

/// `DownwardAPIProjection`.
pub const DOWNWARD_API_PROJECTION: Object = Object {
    name: "DownwardAPIProjection",
    fields: &[("items", Acted)],
};

/// `PodDNSConfig`.
pub const POD_DNS_CONFIG: Object = Object {
    name: "PodDNSConfig",
    fields: &[
        ("nameservers", Acted),
        ("options", Acted),
        ("searches", Acted),
    ],
};

/// `PodDNSConfigOption`.
pub const POD_DNS_CONFIG_OPTION: Object = Object {
    name: "PodDNSConfigOption",
    fields: &[("name", Acted), ("value", Acted)],
};

/// `HostPathVolumeSource`.
pub const HOST_PATH: Object = Object {
    name: "HostPathVolumeSource",
    fields: &[("path", Acted), ("type", Acted)],
};

/// Fields of Kubernetes releases after the one the table is held to (`k8s-openapi`'s
/// `v1_32`), by object: each is a real API field of the release named.
pub const NEWER_THAN_UPSTREAM: &[(&str, &str, &str)] = &[("Lifecycle", "stopSignal", "1.33")];

/// Every object of the table.
pub const OBJECTS: &[&Object] = &[
    &POD,
    &OBJECT_META,
    &POD_SPEC,
    &CONTAINER,
    &PROBE,
    &VOLUME,
    &SECURITY_CONTEXT,
    &POD_SECURITY_CONTEXT,
    &LIFECYCLE,
    &LIFECYCLE_HANDLER,
    &VOLUME_MOUNT,
    &CONTAINER_PORT,
    &ENV_VAR,
    &HTTP_GET_ACTION,
    &RESOURCE_REQUIREMENTS,
    &EMPTY_DIR,
    &DOWNWARD_API,
    &DOWNWARD_API_FILE,
    &PROJECTED,
    &VOLUME_PROJECTION,
    &DOWNWARD_API_PROJECTION,
    &HOST_PATH,
    &POD_DNS_CONFIG,
    &POD_DNS_CONFIG_OPTION,
];

/// The object a field path points into and the field's name: `spec.containers[0].tty` is
/// field `tty` of a `Container`. `None` for a path inside a free-form map (labels, limits)
/// or inside a field the table does not break down (`affinity`).
pub fn field_at(path: &str) -> Option<(&'static Object, &str)> {
    let (parent, field) = match path.rfind('.') {
        Some(cut) => (&path[..cut], &path[cut + 1..]),
        None => ("", path),
    };
    let parent = without_indexes(parent);
    let parent = parent.strip_prefix("items[].").unwrap_or(&parent);
    let parent = if parent == "items[]" { "" } else { parent };
    object_of(parent).map(|object| (object, field))
}

fn object_of(parent: &str) -> Option<&'static Object> {
    let object = match parent {
        "" => &POD,
        "metadata" => &OBJECT_META,
        "spec" => &POD_SPEC,
        "spec.securityContext" => &POD_SECURITY_CONTEXT,
        "spec.dnsConfig" => &POD_DNS_CONFIG,
        "spec.dnsConfig.options[]" => &POD_DNS_CONFIG_OPTION,
        "spec.volumes[]" => &VOLUME,
        "spec.volumes[].emptyDir" => &EMPTY_DIR,
        "spec.volumes[].hostPath" => &HOST_PATH,
        "spec.volumes[].downwardAPI" => &DOWNWARD_API,
        "spec.volumes[].downwardAPI.items[]"
        | "spec.volumes[].projected.sources[].downwardAPI.items[]" => &DOWNWARD_API_FILE,
        "spec.volumes[].projected" => &PROJECTED,
        "spec.volumes[].projected.sources[]" => &VOLUME_PROJECTION,
        "spec.volumes[].projected.sources[].downwardAPI" => &DOWNWARD_API_PROJECTION,
        _ => {
            let rest = parent
                .strip_prefix("spec.containers[]")
                .or_else(|| parent.strip_prefix("spec.initContainers[]"))?;
            match rest {
                "" => &CONTAINER,
                ".securityContext" => &SECURITY_CONTEXT,
                ".lifecycle" => &LIFECYCLE,
                ".lifecycle.postStart" | ".lifecycle.preStop" => &LIFECYCLE_HANDLER,
                ".livenessProbe" | ".readinessProbe" | ".startupProbe" => &PROBE,
                ".livenessProbe.httpGet"
                | ".readinessProbe.httpGet"
                | ".startupProbe.httpGet"
                | ".lifecycle.postStart.httpGet"
                | ".lifecycle.preStop.httpGet" => &HTTP_GET_ACTION,
                ".volumeMounts[]" => &VOLUME_MOUNT,
                ".ports[]" => &CONTAINER_PORT,
                ".env[]" => &ENV_VAR,
                ".resources" => &RESOURCE_REQUIREMENTS,
                _ => return None,
            }
        }
    };
    Some(object)
}

/// The table as README's "What a manifest may use" shows it: per object, the fields acted
/// on, then those accepted and not acted on, then those refused, each with why.
pub fn markdown() -> String {
    let mut out = String::new();
    for object in OBJECTS {
        let of = |wanted: fn(&Coverage) -> bool| -> Vec<String> {
            object
                .fields
                .iter()
                .filter(|(_, coverage)| wanted(coverage))
                .map(|(name, coverage)| match coverage {
                    Acted => format!("`{name}`"),
                    NotActed(why) | Refused(why) => format!("`{name}` ({why})"),
                })
                .collect()
        };
        out.push_str(&format!("- **{}**", object.name));
        let acted = of(|c| *c == Acted);
        if !acted.is_empty() {
            out.push_str(&format!(": acted on: {}", acted.join(", ")));
        }
        let not_acted = of(|c| matches!(c, NotActed(_)));
        if !not_acted.is_empty() {
            out.push_str(&format!(
                "; accepted, not acted on: {}",
                not_acted.join(", ")
            ));
        }
        let refused = of(|c| matches!(c, Refused(_)));
        if !refused.is_empty() {
            out.push_str(&format!("; refused: {}", refused.join(", ")));
        }
        out.push_str(".\n");
    }
    out
}

#[cfg(test)]
mod tests {
    //! The table against the upstream types (`k8s-openapi`, a dev-dependency only) and
    //! against the model: every upstream field is in the table, the table has no other, and
    //! every field it acts on is one the model reads.

    use std::collections::BTreeSet;
    use std::fmt;

    use k8s_openapi::api::core::v1 as api;
    use k8s_openapi::apimachinery::pkg::apis::meta::v1 as meta;
    use serde::Deserialize;
    use serde::de::{self, Deserializer, Visitor};

    use super::*;
    use crate::model;

    /// The field names a type's `Deserialize` asks for: both k8s-openapi's and serde's
    /// derive hand their list to `deserialize_struct`, which this deserializer reports.
    struct FieldNames;

    #[derive(Debug)]
    struct Names(&'static [&'static str]);

    impl fmt::Display for Names {
        fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
            write!(f, "{:?}", self.0)
        }
    }

    impl std::error::Error for Names {}

    impl de::Error for Names {
        fn custom<T: fmt::Display>(_: T) -> Self {
            Names(&[])
        }
    }

    impl<'de> Deserializer<'de> for FieldNames {
        type Error = Names;

        fn deserialize_any<V: Visitor<'de>>(self, _: V) -> Result<V::Value, Names> {
            Err(Names(&[]))
        }

        fn deserialize_struct<V: Visitor<'de>>(
            self,
            _: &'static str,
            fields: &'static [&'static str],
            _: V,
        ) -> Result<V::Value, Names> {
            Err(Names(fields))
        }

        serde::forward_to_deserialize_any! {
            bool i8 i16 i32 i64 i128 u8 u16 u32 u64 u128 f32 f64 char str string bytes
            byte_buf option unit unit_struct newtype_struct seq tuple tuple_struct map enum
            identifier ignored_any
        }
    }

    fn names<T: for<'de> Deserialize<'de>>() -> BTreeSet<&'static str> {
        match T::deserialize(FieldNames) {
            Err(Names(fields)) => fields.iter().copied().collect(),
            Ok(_) => unreachable!("FieldNames never yields a value"),
        }
    }

    /// Each object of the table with the upstream type's fields (and those of later
    /// releases, [`NEWER_THAN_UPSTREAM`]) and the model's.
    fn objects() -> Vec<(
        &'static Object,
        BTreeSet<&'static str>,
        BTreeSet<&'static str>,
    )> {
        let mut objects = upstream_objects();
        for (object, upstream, _) in &mut objects {
            upstream.extend(
                NEWER_THAN_UPSTREAM
                    .iter()
                    .filter(|(name, ..)| *name == object.name)
                    .map(|(_, field, _)| *field),
            );
        }
        objects
    }

    fn upstream_objects() -> Vec<(
        &'static Object,
        BTreeSet<&'static str>,
        BTreeSet<&'static str>,
    )> {
        vec![
            (&POD, names::<api::Pod>(), names::<model::Pod>()),
            (
                &OBJECT_META,
                names::<meta::ObjectMeta>(),
                names::<model::ObjectMeta>(),
            ),
            (
                &POD_SPEC,
                names::<api::PodSpec>(),
                names::<model::PodSpec>(),
            ),
            (
                &CONTAINER,
                names::<api::Container>(),
                names::<model::Container>(),
            ),
            (&PROBE, names::<api::Probe>(), names::<model::Probe>()),
            (&VOLUME, names::<api::Volume>(), names::<model::Volume>()),
            (
                &SECURITY_CONTEXT,
                names::<api::SecurityContext>(),
                names::<model::SecurityContext>(),
            ),
            (
                &POD_SECURITY_CONTEXT,
                names::<api::PodSecurityContext>(),
                names::<model::PodSecurityContext>(),
            ),
            (
                &LIFECYCLE,
                names::<api::Lifecycle>(),
                names::<model::Lifecycle>(),
            ),
            (
                &LIFECYCLE_HANDLER,
                names::<api::LifecycleHandler>(),
                names::<model::LifecycleHandler>(),
            ),
            (
                &VOLUME_MOUNT,
                names::<api::VolumeMount>(),
                names::<model::VolumeMount>(),
            ),
            (
                &CONTAINER_PORT,
                names::<api::ContainerPort>(),
                names::<model::ContainerPort>(),
            ),
            (&ENV_VAR, names::<api::EnvVar>(), names::<model::EnvVar>()),
            (
                &HTTP_GET_ACTION,
                names::<api::HTTPGetAction>(),
                names::<model::HttpGetAction>(),
            ),
            (
                &RESOURCE_REQUIREMENTS,
                names::<api::ResourceRequirements>(),
                names::<model::ResourceRequirements>(),
            ),
            (
                &EMPTY_DIR,
                names::<api::EmptyDirVolumeSource>(),
                names::<model::EmptyDirVolumeSource>(),
            ),
            (
                &DOWNWARD_API,
                names::<api::DownwardAPIVolumeSource>(),
                names::<model::DownwardApiVolumeSource>(),
            ),
            (
                &DOWNWARD_API_FILE,
                names::<api::DownwardAPIVolumeFile>(),
                names::<model::DownwardApiVolumeFile>(),
            ),
            (
                &PROJECTED,
                names::<api::ProjectedVolumeSource>(),
                names::<model::ProjectedVolumeSource>(),
            ),
            (
                &VOLUME_PROJECTION,
                names::<api::VolumeProjection>(),
                names::<model::VolumeProjection>(),
            ),
            (
                &DOWNWARD_API_PROJECTION,
                names::<api::DownwardAPIProjection>(),
                names::<model::DownwardApiProjection>(),
            ),
            (
                &HOST_PATH,
                names::<api::HostPathVolumeSource>(),
                names::<model::HostPathVolumeSource>(),
            ),
            (
                &POD_DNS_CONFIG,
                names::<api::PodDNSConfig>(),
                names::<model::PodDnsConfig>(),
            ),
            (
                &POD_DNS_CONFIG_OPTION,
                names::<api::PodDNSConfigOption>(),
                names::<model::PodDnsConfigOption>(),
            ),
        ]
    }

    #[test]
    fn the_table_lists_every_upstream_field_and_no_other() {
        for (object, upstream, _) in objects() {
            let table: BTreeSet<&str> = object.fields.iter().map(|(name, _)| *name).collect();
            let missing: Vec<_> = upstream.difference(&table).collect();
            let extra: Vec<_> = table.difference(&upstream).collect();
            assert!(
                missing.is_empty() && extra.is_empty(),
                "{}: upstream fields missing from the table: {missing:?}; not upstream: {extra:?}",
                object.name
            );
        }
        assert_eq!(
            objects().len(),
            OBJECTS.len(),
            "every object is held to its type"
        );
    }

    #[test]
    fn the_model_reads_every_field_acted_on_and_only_api_fields() {
        for (object, upstream, model) in objects() {
            let acted: Vec<&str> = object
                .fields
                .iter()
                .filter(|(_, coverage)| *coverage == Acted)
                .map(|(name, _)| *name)
                .filter(|name| !model.contains(name))
                .collect();
            assert!(
                acted.is_empty(),
                "{}: acted on, not read: {acted:?}",
                object.name
            );
            let invented: Vec<_> = model.difference(&upstream).collect();
            assert!(
                invented.is_empty(),
                "{}: not API fields: {invented:?}",
                object.name
            );
        }
    }

    #[test]
    fn a_path_names_its_object() {
        let at = |path| field_at(path).map(|(object, field)| (object.name, field));
        assert_eq!(at("spec.tolerations"), Some(("PodSpec", "tolerations")));
        assert_eq!(
            at("items[1].spec.initContainers[0].livenessProbe.httpGet.port"),
            Some(("HTTPGetAction", "port"))
        );
        assert_eq!(at("metadata.labels.app"), None, "a label is no field");
    }

    #[test]
    fn readme_shows_the_table() {
        let readme = std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/../README.md"))
            .expect("README.md");
        let block = format!(
            "<!-- coverage:start -->\n{}<!-- coverage:end -->",
            markdown()
        );
        assert!(
            readme.contains(&block),
            "README.md's field table is not the coverage table's: put this between its markers:\n{block}"
        );
    }
}
