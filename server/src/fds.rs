//! File descriptors bound the connections. Past `RLIMIT_NOFILE`, `accept` fails and new
//! connections wait unanswered in the kernel's backlog; so the connection limit is sized to
//! leave descriptors free, and a connection over it is still accepted and told 1013.

/// Descriptors kept for everything but chat connections: the listener, the runtime, files
/// served, HTTP requests, and the connections being refused with 1013.
pub const RESERVED: usize = 64;

/// Raises the soft `RLIMIT_NOFILE` to the hard one, and returns the soft limit then in force
/// (`None` where it cannot be read).
#[cfg(unix)]
pub fn raise_limit() -> Option<usize> {
    let mut limit = libc::rlimit {
        rlim_cur: 0,
        rlim_max: 0,
    };
    // SAFETY: getrlimit/setrlimit only read and write the struct we pass.
    unsafe {
        if libc::getrlimit(libc::RLIMIT_NOFILE, &mut limit) != 0 {
            return None;
        }
        if limit.rlim_cur < limit.rlim_max {
            let raised = libc::rlimit {
                rlim_cur: limit.rlim_max,
                rlim_max: limit.rlim_max,
            };
            if libc::setrlimit(libc::RLIMIT_NOFILE, &raised) == 0 {
                limit = raised;
            }
        }
    }
    Some(usize::try_from(limit.rlim_cur).unwrap_or(usize::MAX))
}

/// Elsewhere the limit is unknown.
#[cfg(not(unix))]
pub fn raise_limit() -> Option<usize> {
    None
}

/// The connection limit to use: `wanted`, or fewer when the descriptors cannot hold it.
pub fn connection_limit(wanted: usize, nofile: Option<usize>) -> usize {
    match nofile {
        Some(nofile) => wanted.min(nofile.saturating_sub(RESERVED).max(1)),
        None => wanted,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_limit_leaves_descriptors_free() {
        assert_eq!(connection_limit(10_000, Some(1_024)), 1_024 - RESERVED);
        assert_eq!(connection_limit(100, Some(1_024)), 100);
        assert_eq!(connection_limit(100, Some(10)), 1);
        assert_eq!(connection_limit(100, None), 100);
    }
}
