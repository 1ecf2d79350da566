//! CPU limits and requests in the kernel's CFS terms, computed as the kubelet computes them
//! (`milliCPUToQuota`, `MilliCPUToShares`), for the backends that hand cgroup values to
//! their runtime.

/// The CFS period the kubelet uses, in microseconds; quotas are computed against it.
pub const CPU_PERIOD_MICROS: i64 = 100_000;
/// The smallest CFS quota the kernel accepts (1 ms), in microseconds.
pub const MIN_CPU_QUOTA_MICROS: i64 = 1_000;
/// The smallest `cpu.shares` the kernel accepts.
pub const MIN_CPU_SHARES: i64 = 2;

/// The CFS quota for a CPU limit of `millis` millicores: `millis * period / 1000`, raised to
/// the kernel's minimum.
pub fn cpu_quota(millis: u64) -> i64 {
    let quota = i64::try_from(millis)
        .unwrap_or(i64::MAX / CPU_PERIOD_MICROS)
        .saturating_mul(CPU_PERIOD_MICROS)
        / 1000;
    quota.max(MIN_CPU_QUOTA_MICROS)
}

/// `cpu.shares` for a CPU request of `millis` millicores: `millis * 1024 / 1000`, raised to
/// the kernel's minimum.
pub fn cpu_shares(millis: u64) -> i64 {
    let shares = i64::try_from(millis)
        .unwrap_or(i64::MAX / 1024)
        .saturating_mul(1024)
        / 1000;
    shares.max(MIN_CPU_SHARES)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_kubelet_math_with_the_kernel_minimums() {
        assert_eq!(cpu_quota(500), 50_000);
        assert_eq!(cpu_quota(2000), 200_000);
        assert_eq!(cpu_quota(1), 1_000, "kernel minimum");
        let huge = cpu_quota(u64::MAX);
        assert!(
            huge > i64::MAX / 1001 && huge <= i64::MAX / 1000,
            "saturates: {huge}"
        );
        assert_eq!(cpu_shares(250), 256);
        assert_eq!(cpu_shares(1000), 1024);
        assert_eq!(cpu_shares(1), 2, "kernel minimum");
        let huge = cpu_shares(u64::MAX);
        assert!(
            huge > i64::MAX / 1001 && huge <= i64::MAX / 1000,
            "saturates: {huge}"
        );
    }
}
