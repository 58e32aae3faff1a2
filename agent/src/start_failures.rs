//! Per network, why its DHCP or DNS server could not start. The servers are
//! retried every second; each reason is logged once, kept for `status` and
//! `info`, and forgotten once the server runs.

use std::collections::HashMap;

use tracing::warn;

#[derive(Debug, Default)]
pub struct StartFailures(HashMap<String, String>);

impl StartFailures {
    pub fn failed(&mut self, network: &str, msg: String) {
        if self.0.get(network) != Some(&msg) {
            warn!("{msg}; retrying");
            self.0.insert(network.to_string(), msg);
        }
    }

    pub fn started(&mut self, network: &str) {
        self.0.remove(network);
    }

    /// Ok if the server runs, the reason if it cannot start, None if it has
    /// not been tried yet.
    pub fn state(&self, network: &str, running: bool) -> Option<Result<(), String>> {
        if running {
            return Some(Ok(()));
        }
        self.0.get(network).map(|e| Err(e.clone()))
    }

    pub fn all(&self) -> Vec<String> {
        self.0.values().cloned().collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_reason_lasts_until_the_server_starts() {
        let mut f = StartFailures::default();
        assert_eq!(f.state("a", false), None);
        f.failed("a", "dns a: listen: Address in use".into());
        f.failed("a", "dns a: listen: Address in use".into());
        assert_eq!(f.all().len(), 1);
        assert_eq!(
            f.state("a", false),
            Some(Err("dns a: listen: Address in use".into()))
        );
        f.started("a");
        assert_eq!(f.state("a", true), Some(Ok(())));
        assert!(f.all().is_empty());
    }
}
