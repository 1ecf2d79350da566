//! What the `kubeadm_etcd` case needs beside the agent: the certificates `kubeadm init`
//! would write to `/etc/kubernetes/pki/etcd` (made here with rcgen), Debian's `etcdctl`
//! (`etcd-client`, installed by `cargo xtask test`) talking to the pod over TLS, and the
//! host's view of the etcd process.

use std::path::{Path, PathBuf};
use std::process::Command;

use rcgen::{
    BasicConstraints, CertificateParams, CertifiedIssuer, DnType, ExtendedKeyUsagePurpose, IsCa,
    KeyPair, KeyUsagePurpose,
};

/// Where Debian's etcdctl is.
const ETCDCTL: &str = "/usr/bin/etcdctl";

/// Writes kubeadm's etcd PKI into `dir`: `ca`, `server` and `peer` (serving and client
/// use, for `localhost`, `node` and the loopback and `advertise` addresses), and
/// `healthcheck-client`, as `<name>.crt` and `<name>.key`, with kubeadm's common names.
pub fn write_pki(dir: &Path, node: &str, advertise: &str) {
    let mut ca_params = CertificateParams::new(Vec::new()).unwrap();
    ca_params
        .distinguished_name
        .push(DnType::CommonName, "etcd-ca");
    ca_params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
    ca_params.key_usages = vec![
        KeyUsagePurpose::DigitalSignature,
        KeyUsagePurpose::KeyEncipherment,
        KeyUsagePurpose::KeyCertSign,
    ];
    let ca_key = KeyPair::generate().unwrap();
    let ca_pem = ca_key.serialize_pem();
    let ca = CertifiedIssuer::self_signed(ca_params, ca_key).unwrap();
    write(dir, "ca.crt", &ca.pem());
    write(dir, "ca.key", &ca_pem);

    let sans = vec![
        "localhost".to_string(),
        node.to_string(),
        "127.0.0.1".to_string(),
        advertise.to_string(),
        "::1".to_string(),
    ];
    let both = [
        ExtendedKeyUsagePurpose::ServerAuth,
        ExtendedKeyUsagePurpose::ClientAuth,
    ];
    for (name, common_name, sans, usages) in [
        ("server", node, sans.clone(), &both[..]),
        ("peer", node, sans, &both[..]),
        (
            "healthcheck-client",
            "kube-etcd-healthcheck-client",
            Vec::new(),
            &[ExtendedKeyUsagePurpose::ClientAuth][..],
        ),
    ] {
        let mut params = CertificateParams::new(sans).unwrap();
        params
            .distinguished_name
            .push(DnType::CommonName, common_name);
        params.key_usages = vec![
            KeyUsagePurpose::DigitalSignature,
            KeyUsagePurpose::KeyEncipherment,
        ];
        params.extended_key_usages = usages.to_vec();
        let key = KeyPair::generate().unwrap();
        let cert = params.signed_by(&key, &ca).unwrap();
        write(dir, &format!("{name}.crt"), &cert.pem());
        write(dir, &format!("{name}.key"), &key.serialize_pem());
    }
}

fn write(dir: &Path, name: &str, text: &str) {
    std::fs::write(dir.join(name), text).unwrap();
}

/// Debian's etcdctl (v3 API) against one endpoint, with kubeadm's healthcheck-client
/// certificate from a [`write_pki`] directory.
pub struct Etcdctl {
    endpoint: String,
    pki: PathBuf,
}

impl Etcdctl {
    /// etcdctl for `https://127.0.0.1:<port>`.
    pub fn new(port: u16, pki: &Path) -> Etcdctl {
        Etcdctl {
            endpoint: format!("https://127.0.0.1:{port}"),
            pki: pki.to_path_buf(),
        }
    }

    /// Runs `etcdctl <args>`: its stdout, or its stderr as the error.
    pub fn run(&self, args: &[&str]) -> Result<String, String> {
        let output = Command::new(ETCDCTL)
            .env("ETCDCTL_API", "3")
            .arg(format!("--endpoints={}", self.endpoint))
            .arg("--dial-timeout=2s")
            .arg("--command-timeout=5s")
            .arg(format!("--cacert={}", self.pki.join("ca.crt").display()))
            .arg(format!(
                "--cert={}",
                self.pki.join("healthcheck-client.crt").display()
            ))
            .arg(format!(
                "--key={}",
                self.pki.join("healthcheck-client.key").display()
            ))
            .args(args)
            .output()
            .map_err(|error| format!("cannot run {ETCDCTL}: {error}"))?;
        if output.status.success() {
            Ok(String::from_utf8_lossy(&output.stdout).into_owned())
        } else {
            Err(format!(
                "etcdctl {args:?} failed ({}): {}",
                output.status,
                String::from_utf8_lossy(&output.stderr)
            ))
        }
    }
}

/// The host pid of the etcd whose command line has `--data-dir=<data_dir>`: the pod's
/// process as the node sees it (its own pid namespace hides nothing from the host).
pub fn host_pid(data_dir: &Path) -> Result<u32, String> {
    let flag = format!("--data-dir={}", data_dir.display());
    let mut found = Vec::new();
    for entry in std::fs::read_dir("/proc").map_err(|e| e.to_string())? {
        let Ok(entry) = entry else { continue };
        let Some(pid) = entry
            .file_name()
            .to_str()
            .and_then(|n| n.parse::<u32>().ok())
        else {
            continue;
        };
        let Ok(cmdline) = std::fs::read(entry.path().join("cmdline")) else {
            continue;
        };
        let args: Vec<&[u8]> = cmdline.split(|b| *b == 0).collect();
        let is_etcd = args
            .first()
            .is_some_and(|a| a.rsplit(|b| *b == b'/').next() == Some(b"etcd"));
        if is_etcd && args.contains(&flag.as_bytes()) {
            found.push(pid);
        }
    }
    match found.as_slice() {
        [pid] => Ok(*pid),
        _ => Err(format!("etcd processes with {flag}: {found:?}")),
    }
}
