//! The stop signals a container may ask for (`lifecycle.stopSignal`), by the names the API
//! accepts, with their Linux numbers (the generic ones of x86-64 and arm64, and glibc's
//! `SIGRTMIN` of 34) for runtimes that take a number (libpod).

/// The signals with fixed names, as the API's validation lists them.
const NAMED: &[(&str, i64)] = &[
    ("SIGHUP", 1),
    ("SIGINT", 2),
    ("SIGQUIT", 3),
    ("SIGILL", 4),
    ("SIGTRAP", 5),
    ("SIGABRT", 6),
    ("SIGIOT", 6),
    ("SIGBUS", 7),
    ("SIGFPE", 8),
    ("SIGKILL", 9),
    ("SIGUSR1", 10),
    ("SIGSEGV", 11),
    ("SIGUSR2", 12),
    ("SIGPIPE", 13),
    ("SIGALRM", 14),
    ("SIGTERM", 15),
    ("SIGSTKFLT", 16),
    ("SIGCHLD", 17),
    ("SIGCLD", 17),
    ("SIGCONT", 18),
    ("SIGSTOP", 19),
    ("SIGTSTP", 20),
    ("SIGTTIN", 21),
    ("SIGTTOU", 22),
    ("SIGURG", 23),
    ("SIGXCPU", 24),
    ("SIGXFSZ", 25),
    ("SIGVTALRM", 26),
    ("SIGPROF", 27),
    ("SIGWINCH", 28),
    ("SIGIO", 29),
    ("SIGPOLL", 29),
    ("SIGPWR", 30),
    ("SIGSYS", 31),
];

/// `SIGRTMIN` as glibc (and so Docker's and libpod's signal parsing) numbers it.
const SIGRTMIN: i64 = 34;
/// `SIGRTMAX`.
const SIGRTMAX: i64 = 64;

/// The number of signal `name` (`SIGUSR1`, `SIGRTMIN+3`, `SIGRTMAX-1`), or `None` when the
/// API does not accept the name (real-time signals are `SIGRTMIN+1`..`+15` and
/// `SIGRTMAX-14`..`-1`).
pub fn number(name: &str) -> Option<i64> {
    if let Some(&(_, n)) = NAMED.iter().find(|(known, _)| *known == name) {
        return Some(n);
    }
    let offset = |text: &str| text.parse::<i64>().ok().filter(|n| (1..=15).contains(n));
    match name {
        "SIGRTMIN" => Some(SIGRTMIN),
        "SIGRTMAX" => Some(SIGRTMAX),
        _ => {
            if let Some(up) = name.strip_prefix("SIGRTMIN+") {
                offset(up).map(|n| SIGRTMIN + n)
            } else {
                offset(name.strip_prefix("SIGRTMAX-")?).map(|n| SIGRTMAX - n)
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_are_read_as_the_api_accepts_them() {
        let read = [
            "SIGTERM",
            "SIGUSR1",
            "SIGRTMIN",
            "SIGRTMIN+15",
            "SIGRTMAX-14",
            "SIGRTMAX",
        ]
        .map(number);
        assert_eq!(
            read,
            [Some(15), Some(10), Some(34), Some(49), Some(50), Some(64)]
        );
        for refused in [
            "TERM",
            "sigterm",
            "SIGRTMIN+16",
            "SIGRTMAX-0",
            "SIGRTMIN+x",
            "15",
        ] {
            assert_eq!(number(refused), None, "{refused}");
        }
    }
}
