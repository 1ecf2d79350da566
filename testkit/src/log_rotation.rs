//! The log rotation case every backend that rotates logs runs (CRI and Podman, through
//! `staticpod_runtime::log_rotation`): a verbose container's files, sizes, compression and
//! a follower across the rotations, watched on the real runtime.

use std::collections::BTreeMap;
use std::path::Path;
use std::time::Duration;

use futures_util::StreamExt;
use staticpod_runtime::logs::{DEFAULT_MAX_FILES, DEFAULT_MAX_SIZE, LogOptions};
use staticpod_runtime::{ContainerConfig, ContainerRuntime, SandboxConfig};

use crate::{cases, container_config, eventually};

/// The container log files in `dir` (`<container>/<n>.log*`, by name), with their sizes.
fn log_files(dir: &Path) -> Vec<(String, u64)> {
    let mut files: Vec<(String, u64)> = std::fs::read_dir(dir)
        .map(|entries| {
            entries
                .flatten()
                .filter_map(|e| Some((e.file_name().into_string().ok()?, e.metadata().ok()?.len())))
                .collect()
        })
        .unwrap_or_default();
    files.sort();
    files
}

/// The uncompressed size of a gzipped log.
fn gunzipped_len(path: &Path) -> u64 {
    let file = std::fs::File::open(path).unwrap();
    std::io::copy(
        &mut flate2::read::GzDecoder::new(file),
        &mut std::io::sink(),
    )
    .unwrap()
}

/// A container writing 50 MiB of log lines, one `echo` at a time as a shell loop writes
/// them, on a runtime rotating logs at the kubelet's defaults (10Mi, 5 files): it ends with
/// at most 5 files; the current one and the newest rotated one uncompressed, the others
/// gzipped; none ever seen, nor any when uncompressed, above 10Mi; a follower from the start
/// reads every line once, in order, across the rotations; and the log still reads its
/// newest lines.
///
/// `runtime` rotates logs at the kubelet's defaults (`DEFAULT_MAX_SIZE`, `DEFAULT_MAX_FILES`)
/// under a directory that holds `sandbox.log_directory`; the writer runs `busybox`.
pub async fn a_verbose_containers_log_is_rotated_within_max_size_and_max_files(
    runtime: &dyn ContainerRuntime,
    sandbox: &SandboxConfig,
    busybox: &str,
) {
    // ~100 bytes a line: 524288 lines are 50 MiB, and about 7 rotations in the CRI format.
    // A pause of 0.1 s every 4096 lines (13 s in all) keeps the writer within what a
    // follower reads on a loaded node: unpaced, conmon takes 50 MiB in 4 s, and a follower
    // more than `max_files` behind has lost the files the rotation removed, as the
    // kubelet's would (seen under load on Podman: 38 MB left out).
    let lines = 50 * 1024 * 1024 / 100;
    let pad = "x".repeat(93);
    let script = format!(
        "i=0; while [ $i -lt {lines} ]; do echo \"$i {pad}\"; i=$((i+1)); \
         [ $((i % 4096)) -eq 0 ] && usleep 100000; done; echo done; sleep 600"
    );
    let writer = ContainerConfig {
        command: vec!["sh".into(), "-c".into(), script],
        ..container_config("writer", busybox, sandbox)
    };
    let started = std::time::Instant::now();
    let (_, id) = cases::start_pod(runtime, sandbox, &writer).await;
    let dir = sandbox.log_directory.join("writer");

    // A follower from the start, across every rotation: each line once, in order. When
    // containerd reopens a log, its old logger writes the head of the line it is in the
    // middle of as a line of its own, and the new one the rest: such a line comes in two
    // (conmon's reopen may do the same).
    let follow = LogOptions {
        follow: true,
        ..LogOptions::default()
    };
    let mut followed = runtime.logs(&id, &follow).await.unwrap();
    let expected = {
        let pad = pad.clone();
        move |n: u64| format!("{n} {pad}").into_bytes()
    };
    let follower = tokio::spawn(async move {
        let (mut next, mut split, mut head) = (0u64, 0u64, Vec::new());
        let mut partial = Vec::new();
        while let Some(chunk) = followed.next().await {
            partial.extend_from_slice(&chunk.unwrap());
            let whole = partial
                .iter()
                .rposition(|&b| b == b'\n')
                .map_or(0, |at| at + 1);
            for line in partial[..whole]
                .split(|&b| b == b'\n')
                .filter(|l| !l.is_empty())
            {
                if line == b"done" {
                    return (next, split);
                }
                head.extend_from_slice(line);
                let want = expected(next);
                if head == want {
                    next += 1;
                    head.clear();
                } else if want.starts_with(&head) {
                    split += 1;
                } else {
                    panic!("line {next}: {:?}", String::from_utf8_lossy(&head));
                }
            }
            partial.drain(..whole);
        }
        panic!("the followed log ended before `done`, after {next} lines");
    });

    // Every 5 ms, the size of each uncompressed file, until the writer is done.
    let sampling = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(true));
    let sampler = {
        let (dir, sampling) = (dir.clone(), sampling.clone());
        std::thread::spawn(move || {
            let mut largest: BTreeMap<String, u64> = BTreeMap::new();
            while sampling.load(std::sync::atomic::Ordering::Relaxed) {
                for (name, size) in log_files(&dir) {
                    if !name.ends_with(".gz") && !name.ends_with(".tmp") {
                        let seen = largest.entry(name).or_default();
                        *seen = (*seen).max(size);
                    }
                }
                std::thread::sleep(Duration::from_millis(5));
            }
            largest
        })
    };
    let tail = LogOptions {
        tail_lines: Some(1),
        ..LogOptions::default()
    };
    eventually(
        Duration::from_secs(240),
        "the writer's last line",
        || async {
            let last = cases::log_of(runtime, &id, &tail).await;
            (last == "done\n").then_some(())
        },
    )
    .await;
    let wrote_for = started.elapsed();
    sampling.store(false, std::sync::atomic::Ordering::Relaxed);
    let largest = sampler.join().unwrap();
    let (followed, split) = tokio::time::timeout(Duration::from_secs(30), follower)
        .await
        .expect("the follower reads `done`")
        .unwrap();
    assert_eq!(
        followed, lines,
        "every line followed once, across the rotations"
    );

    // The compression of the second newest rotated file may still be under way.
    let files = eventually(Duration::from_secs(20), "rotated logs compressed", || {
        let files = log_files(&dir);
        let plain = files
            .iter()
            .filter(|(name, _)| !name.ends_with(".gz"))
            .count();
        std::future::ready((plain <= 2).then_some(files))
    })
    .await;
    let sizes: Vec<(String, u64, u64)> = files
        .iter()
        .map(|(name, size)| {
            let uncompressed = if name.ends_with(".gz") {
                gunzipped_len(&dir.join(name))
            } else {
                *size
            };
            (name.clone(), *size, uncompressed)
        })
        .collect();
    let rotated = largest.keys().filter(|name| *name != "0.log").count();
    let largest_seen = largest.values().max().copied().unwrap_or_default();
    eprintln!(
        "rotation: wrote {lines} lines in {wrote_for:?}; {rotated} rotated files seen; the \
         largest uncompressed file seen: {largest_seen} bytes (max {DEFAULT_MAX_SIZE}); \
         {split} lines split by containerd at a reopen; files at the end (name, size on \
         disk, uncompressed): {sizes:?}"
    );
    assert!(
        split <= rotated as u64,
        "{split} split lines, {rotated} rotations"
    );

    assert!(
        rotated >= DEFAULT_MAX_FILES as usize,
        "rotated {rotated} times: {largest:?}"
    );
    assert_eq!(files.len(), DEFAULT_MAX_FILES as usize, "{sizes:?}");
    // By name: the current file, then the rotated ones, oldest first.
    assert_eq!(files[0].0, "0.log", "{sizes:?}");
    let newest_rotated = &files[files.len() - 1].0;
    // A file is rotated early enough for what the writer adds while checks and reopens take
    // as long as they did lately; on a loaded node one can take longer and the file pass the
    // limit by a little (2 % was seen, with other test suites on both cores). 10 % is the
    // bound held here; the kubelet's files grow by all that is written in 10 s (here over
    // 30 MiB).
    let bound = DEFAULT_MAX_SIZE + DEFAULT_MAX_SIZE / 10;
    for (name, _, uncompressed) in &sizes {
        let plain = name == "0.log" || name == newest_rotated;
        assert_eq!(!name.ends_with(".gz"), plain, "{name}: {sizes:?}");
        assert!(*uncompressed <= bound, "{name}: {sizes:?}");
    }
    for (name, size) in &largest {
        assert!(*size <= bound, "{name} reached {size} bytes: {largest:?}");
    }

    let newest = LogOptions {
        tail_lines: Some(3),
        ..LogOptions::default()
    };
    let last = format!("{} {pad}", lines - 1);
    let before = format!("{} {pad}", lines - 2);
    assert_eq!(
        cases::log_of(runtime, &id, &newest).await,
        format!("{before}\n{last}\ndone\n")
    );
}
