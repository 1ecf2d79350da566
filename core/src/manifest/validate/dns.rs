//! The API server's rules for a pod's DNS settings (`validatePodDNSConfig`): what
//! `dnsPolicy: None` needs, and the resolver's limits.

use super::{Findings, dns1123_subdomain};
use crate::model::{DnsPolicy, PodSpec};

/// The API server's rules for `dnsConfig`: what `dnsPolicy: None` needs, and the
/// resolver's limits (3 nameservers, 32 search domains in 2048 characters).
pub fn validate(f: &mut Findings<'_>, spec: &PodSpec) {
    let none = spec.dns_policy == Some(DnsPolicy::None);
    let Some(config) = &spec.dns_config else {
        if none {
            f.error(
                "spec.dnsPolicy",
                "dnsPolicy None needs a dnsConfig with at least one nameserver",
            );
        }
        return;
    };
    if none && config.nameservers.is_empty() {
        f.error(
            "spec.dnsConfig",
            "must provide at least one DNS nameserver when dnsPolicy is None",
        );
    }
    if config.nameservers.len() > 3 {
        f.error(
            "spec.dnsConfig.nameservers",
            "must not have more than 3 nameservers",
        );
    }
    for (i, server) in config.nameservers.iter().enumerate() {
        if server.parse::<std::net::IpAddr>().is_err() {
            let message = format!("{server:?} is not an IP address");
            f.error(&format!("spec.dnsConfig.nameservers[{i}]"), message);
        }
    }
    if config.searches.len() > 32 {
        f.error(
            "spec.dnsConfig.searches",
            "must not have more than 32 search paths",
        );
    }
    if config.searches.join(" ").len() > 2048 {
        f.error(
            "spec.dnsConfig.searches",
            "must not have more than 2048 characters (including spaces) in the search list",
        );
    }
    for (i, search) in config.searches.iter().enumerate() {
        if search != "."
            && let Err(why) = dns1123_subdomain(search.strip_suffix('.').unwrap_or(search))
        {
            f.error(&format!("spec.dnsConfig.searches[{i}]"), why);
        }
    }
    for (i, option) in config.options.iter().enumerate() {
        if option.name.is_empty() {
            f.error(
                &format!("spec.dnsConfig.options[{i}].name"),
                "must not be empty",
            );
        }
    }
}
