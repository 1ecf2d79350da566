//! Image references as Docker's pull API wants them: the repository and, separately, a tag or
//! digest. Without one, Docker would pull every tag of the repository.

/// Splits `reference` into the repository and the tag or digest to pull; `latest` when the
/// reference names neither, as Kubernetes does.
pub(crate) fn pull_target(reference: &str) -> (&str, &str) {
    if let Some((name, digest)) = reference.split_once('@') {
        return (strip_tag(name).0, digest);
    }
    match strip_tag(reference) {
        (repository, Some(tag)) => (repository, tag),
        (repository, None) => (repository, "latest"),
    }
}

/// The repository and tag of a reference without digest. A `:` before the last `/` belongs
/// to a registry's port, not to a tag.
fn strip_tag(name: &str) -> (&str, Option<&str>) {
    let last_component = name.rfind('/').map_or(0, |slash| slash + 1);
    match name[last_component..].rfind(':') {
        Some(colon) => {
            let colon = last_component + colon;
            (&name[..colon], Some(&name[colon + 1..]))
        }
        None => (name, None),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn splits_tags_digests_and_registry_ports() {
        assert_eq!(pull_target("nginx:1.25"), ("nginx", "1.25"));
        assert_eq!(pull_target("nginx"), ("nginx", "latest"));
        assert_eq!(
            pull_target("registry.k8s.io/pause:3.9"),
            ("registry.k8s.io/pause", "3.9")
        );
        assert_eq!(
            pull_target("localhost:5000/team/app"),
            ("localhost:5000/team/app", "latest")
        );
        assert_eq!(
            pull_target("localhost:5000/team/app:v2"),
            ("localhost:5000/team/app", "v2")
        );
        assert_eq!(
            pull_target("busybox@sha256:0123abcd"),
            ("busybox", "sha256:0123abcd")
        );
        assert_eq!(
            pull_target("busybox:1.36@sha256:0123abcd"),
            ("busybox", "sha256:0123abcd")
        );
    }
}
