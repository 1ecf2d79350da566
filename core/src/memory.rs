//! Gives the system back the memory the allocator keeps after the agent freed it.

/// Asks glibc's allocator to return the free pages of each of its arenas (`malloc_trim(0)`).
/// On its own, glibc returns only what is free at the top of a heap, so what a burst of work
/// freed below memory still in use stayed resident: with 100 pods just started on Docker,
/// 7.9 of the agent's 15.3 MiB of heap (BENCHMARKS.md, memory). Walks and locks each arena
/// in turn: for a moment when the agent is idle, not in the middle of work. Returns whether
/// anything was given back. Elsewhere (musl) it does nothing: there is no such call.
#[cfg(all(target_os = "linux", target_env = "gnu"))]
// The tree's one unsafe call (the workspace denies unsafe code): a C function of glibc.
#[allow(unsafe_code)]
pub fn release_freed() -> bool {
    // SAFETY: `malloc_trim` takes no pointer and only rearranges glibc's own free lists,
    // under the lock of each arena.
    unsafe { libc::malloc_trim(0) == 1 }
}

/// Elsewhere than glibc: nothing to ask.
#[cfg(not(all(target_os = "linux", target_env = "gnu")))]
pub fn release_freed() -> bool {
    false
}

#[cfg(test)]
mod tests {
    use super::*;

    #[cfg(all(target_os = "linux", target_env = "gnu"))]
    #[test]
    fn memory_freed_below_memory_in_use_is_given_back() {
        fn anonymous_kib() -> u64 {
            let status = std::fs::read_to_string("/proc/self/status").unwrap();
            let line = status.lines().find(|l| l.starts_with("RssAnon:")).unwrap();
            line.split_whitespace().nth(1).unwrap().parse().unwrap()
        }
        // 64 MiB in 4 KiB blocks (below glibc's mmap threshold: from the heap), touched, then
        // every block freed but the last, which keeps the freed ones below the heap's top.
        let mut blocks: Vec<Vec<u8>> = (0..16_384).map(|_| vec![1u8; 4096]).collect();
        let last = blocks.pop();
        drop(blocks);
        let before = anonymous_kib();
        assert!(release_freed(), "glibc gave nothing back");
        let after = anonymous_kib();
        drop(last);
        assert!(
            before.saturating_sub(after) > 32 * 1024,
            "RssAnon {before} KiB before, {after} KiB after"
        );
    }
}
