//! The binary's behaviour that needs no runtime: clear, one-line failures, `validate`, and the
//! man pages and completion scripts it writes.

use std::process::Command;

fn staticpod(args: &[&str]) -> (i32, String, String) {
    let output = Command::new(env!("CARGO_BIN_EXE_staticpod"))
        .args(args)
        .output()
        .expect("run staticpod");
    (
        output.status.code().unwrap_or(-1),
        String::from_utf8_lossy(&output.stdout).into(),
        String::from_utf8_lossy(&output.stderr).into(),
    )
}

#[test]
fn a_runtime_that_is_not_there_is_one_clear_line_and_exit_1() {
    let dir = tempfile::tempdir().unwrap();
    let socket = dir.path().join("missing.sock");
    let endpoint = format!("unix://{}", socket.display());
    for runtime in ["docker", "cri"] {
        let (code, _, stderr) = staticpod(&[
            "run",
            "--runtime",
            runtime,
            "--container-runtime-endpoint",
            &endpoint,
            "--pod-manifest-path",
            dir.path().to_str().unwrap(),
            "--read-only-port",
            "0",
        ]);
        assert_eq!(code, 1, "{runtime}: {stderr}");
        let lines: Vec<&str> = stderr.lines().collect();
        assert_eq!(lines.len(), 1, "{runtime}: {stderr}");
        assert!(
            lines[0].starts_with(&format!(
                "staticpod: cannot use the {runtime} runtime at {endpoint}"
            )),
            "{stderr}"
        );
        assert!(lines[0].contains("unavailable"), "{stderr}");
    }
}

#[test]
fn a_socket_that_does_not_speak_cri_is_refused_at_start() {
    let dir = tempfile::tempdir().unwrap();
    let socket = dir.path().join("not-cri.sock");
    let listener = std::os::unix::net::UnixListener::bind(&socket).unwrap();
    // Answer every connection with garbage and close it, as a non-CRI server would.
    std::thread::spawn(move || {
        for stream in listener.incoming().flatten() {
            use std::io::Write;
            let mut stream = stream;
            let _ = stream.write_all(b"HTTP/1.1 400 Bad Request\r\n\r\n");
        }
    });
    let (code, _, stderr) = staticpod(&[
        "run",
        "--runtime",
        "cri",
        "--container-runtime-endpoint",
        &format!("unix://{}", socket.display()),
        "--pod-manifest-path",
        dir.path().to_str().unwrap(),
        "--read-only-port",
        "0",
    ]);
    assert_eq!(code, 1, "{stderr}");
    assert_eq!(stderr.lines().count(), 1, "{stderr}");
    assert!(stderr.contains("cannot use the cri runtime"), "{stderr}");
}

#[test]
fn log_rotation_flags_out_of_range_are_refused_naming_the_flag() {
    for (flag, value, says) in [
        (
            "--container-log-max-size",
            "0",
            "\"0\" is not a positive size (as 10Mi)",
        ),
        ("--container-log-max-size", "ten", "quantities must match"),
        ("--container-log-max-files", "1", "1 is not in 2.."),
    ] {
        let (code, _, stderr) = staticpod(&["run", flag, value]);
        assert_eq!(code, 2, "{flag} {value}: {stderr}");
        assert!(stderr.contains(flag) && stderr.contains(says), "{stderr}");
    }
}

#[test]
fn validate_reports_file_line_column_and_field_and_exits_1() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(
        dir.path().join("web.yaml"),
        "kind: Pod\nmetadata: {name: web}\nspec:\n  containers:\n  - name: web\n    image: nginx:1.25\n    workdir: /srv\n",
    )
    .unwrap();
    std::fs::write(
        dir.path().join("bad.yaml"),
        "kind: Pod\nmetadata: {name: bad}\nspec:\n  containers: [{name: Bad, image: x}]\n",
    )
    .unwrap();
    std::fs::write(dir.path().join("web.yaml.bak"), "not even yaml: [").unwrap();
    let (code, stdout, _) = staticpod(&[
        "validate",
        "--hostname-override",
        "node0",
        dir.path().to_str().unwrap(),
    ]);
    let path = |name: &str| dir.path().join(name).display().to_string();
    assert_eq!(code, 1, "{stdout}");
    assert!(
        stdout.contains(&format!(
            "{}:4:17: error: spec.containers[0].name",
            path("bad.yaml")
        )),
        "{stdout}"
    );
    assert!(
        stdout.contains(&format!(
            "{}:7:5: warning: spec.containers[0].workdir: unknown field",
            path("web.yaml")
        )),
        "{stdout}"
    );
    assert!(
        stdout.contains(&format!("{}: ok: pod default/web-node0", path("web.yaml"))),
        "{stdout}"
    );
    assert!(
        stdout.contains(&format!(
            "{}: skipped: an editor or package manager leftover",
            path("web.yaml.bak")
        )),
        "{stdout}"
    );
}

#[test]
fn man_writes_a_page_per_visible_command_with_the_package_version() {
    let dir = tempfile::tempdir().unwrap();
    let pages = dir.path().join("man");
    let (code, _, stderr) = staticpod(&["man", pages.to_str().unwrap()]);
    assert_eq!(code, 0, "{stderr}");
    let mut names: Vec<String> = std::fs::read_dir(&pages)
        .unwrap()
        .map(|entry| entry.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    names.sort();
    // `man` is hidden, and so has no page.
    assert_eq!(
        names,
        [
            "staticpod-completion.1",
            "staticpod-get.1",
            "staticpod-logs.1",
            "staticpod-run.1",
            "staticpod-validate.1",
            "staticpod.1"
        ]
    );
    let run = std::fs::read_to_string(pages.join("staticpod-run.1")).unwrap();
    let version = concat!("\"staticpod ", env!("CARGO_PKG_VERSION"), "\"");
    assert!(run.starts_with(".ie") && run.contains(version), "{run}");
}

#[test]
fn completion_prints_a_script_that_completes_the_commands() {
    for (shell, expect) in [
        ("bash", "complete -F _staticpod"),
        ("zsh", "#compdef staticpod"),
        ("fish", "complete -c staticpod"),
    ] {
        let (code, stdout, stderr) = staticpod(&["completion", shell]);
        assert_eq!(code, 0, "{shell}: {stderr}");
        assert!(stdout.contains(expect), "{shell}: {stdout}");
        assert!(stdout.contains("validate"), "{shell}: {stdout}");
    }
}

/// kubeadm v1.32's four control-plane manifests and kube-vip's validate with no typo
/// warning, and a warning for each field that is accepted and not acted on (every one they
/// carry: `creationTimestamp`, `priority`, `status`), naming its line.
#[test]
fn kubeadm_and_kube_vip_manifests_validate_without_typo_warnings() {
    let dir = concat!(env!("CARGO_MANIFEST_DIR"), "/../examples/kubeadm");
    for (file, not_acted) in [
        ("etcd.yaml", 3),
        ("kube-apiserver.yaml", 3),
        ("kube-controller-manager.yaml", 3),
        ("kube-scheduler.yaml", 3),
        ("kube-vip.yaml", 2),
    ] {
        let path = format!("{dir}/{file}");
        let (code, stdout, stderr) = staticpod(&["validate", &path]);
        assert_eq!(code, 0, "{file}: {stdout}{stderr}");
        let warnings: Vec<&str> = stdout
            .lines()
            .chain(stderr.lines())
            .filter(|line| line.contains(": warning: "))
            .collect();
        assert!(
            warnings
                .iter()
                .all(|w| w.contains("accepted and not acted on")),
            "{file}: {warnings:#?}"
        );
        assert_eq!(warnings.len(), not_acted, "{file}: {warnings:#?}");
        assert!(
            stdout.contains(&format!("{path}: ok: pod kube-system/")),
            "{stdout}"
        );
    }
}
