//! Worker ids that are unique across hosts and containers: host name, boot id, pid and a random
//! part (a bare pid is 1 in every container).

use rand::Rng;

/// `<host>:<boot id prefix>:<pid>:<random hex>`, e.g. `build-7:3f2a9c1e:4121:9d1c04aa`.
pub fn new_worker_id() -> String {
    let host = read_trimmed("/proc/sys/kernel/hostname")
        .or_else(|| std::env::var("HOSTNAME").ok())
        .filter(|h| !h.is_empty())
        .unwrap_or_else(|| "host".into());
    let boot = read_trimmed("/proc/sys/kernel/random/boot_id")
        .map(|b| b.replace('-', "").chars().take(8).collect::<String>())
        .unwrap_or_else(|| "noboot".into());
    let random: u32 = rand::rng().random();
    format!("{host}:{boot}:{}:{random:08x}", std::process::id())
}

fn read_trimmed(path: &str) -> Option<String> {
    std::fs::read_to_string(path)
        .ok()
        .map(|s| s.trim().to_string())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ids_name_host_boot_pid_and_differ() {
        let a = new_worker_id();
        let b = new_worker_id();
        assert_ne!(a, b);
        let parts: Vec<&str> = a.split(':').collect();
        assert_eq!(parts.len(), 4, "{a}");
        assert_eq!(parts[2], std::process::id().to_string());
    }
}
