//! Reachability between namespaces: one ping, or a continuous ping whose
//! losses are counted when it stops (the graceful restart and flat network
//! scenarios).

use std::net::IpAddr;
use std::time::Duration;

use crate::cmd::{self, file_tail};
use crate::error::{Error, Result};
use crate::netns::{Lab, Ns};
use crate::process;

/// One echo request from `ns` to `to`, answered within `timeout`.
pub fn once(ns: &Ns, to: IpAddr, timeout: Duration) -> Result<()> {
    let wait = timeout.as_secs().max(1).to_string();
    cmd::run_in(&ns.name, "ping", ["-c", "1", "-W", &wait, &to.to_string()]).map(|_| ())
}

/// What a continuous ping counted.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PingStats {
    /// Echo requests sent.
    pub transmitted: u64,
    /// Echo replies received.
    pub received: u64,
}

impl PingStats {
    /// Requests without a reply.
    pub fn lost(&self) -> u64 {
        self.transmitted.saturating_sub(self.received)
    }
}

/// A ping running in the background in a lab.
#[derive(Debug)]
pub struct ContinuousPing {
    label: String,
    pid: u32,
}

impl ContinuousPing {
    /// Starts `ping -i INTERVAL to` in `ns` (`label` names its log).
    pub fn start(
        lab: &mut Lab,
        ns: &Ns,
        label: &str,
        to: IpAddr,
        interval: Duration,
    ) -> Result<ContinuousPing> {
        let args = [
            "-n".to_owned(),
            "-i".to_owned(),
            format!("{:.3}", interval.as_secs_f64()),
            "-W".to_owned(),
            "1".to_owned(),
            to.to_string(),
        ];
        let pid = lab.spawn(ns, label, "ping", &args, &[])?;
        Ok(ContinuousPing {
            label: label.to_owned(),
            pid,
        })
    }

    /// Stops it with SIGINT (ping then prints its statistics) and reads
    /// what it counted.
    pub fn stop(self, lab: &mut Lab) -> Result<PingStats> {
        process::signal(self.pid, "INT");
        let log = lab.dir().join(format!("{}.log", self.label));
        let stats = crate::wait::until(
            &format!("ping {} to print its statistics", self.label),
            Duration::from_secs(5),
            || Ok(parse(&std::fs::read_to_string(&log).unwrap_or_default())),
            || file_tail(&log, 5),
        );
        lab.stop(&self.label);
        stats
    }
}

/// Reads `N packets transmitted, M received` from ping's summary.
pub fn parse(output: &str) -> Option<PingStats> {
    let line = output.lines().find(|l| l.contains("packets transmitted"))?;
    let mut numbers = line
        .split(|c: char| !c.is_ascii_digit())
        .filter(|s| !s.is_empty())
        .map(|s| s.parse::<u64>());
    let transmitted = numbers.next()?.ok()?;
    let received = numbers.next()?.ok()?;
    Some(PingStats {
        transmitted,
        received,
    })
}

/// Fails unless `stats` lost nothing.
pub fn ensure_no_loss(what: &str, stats: PingStats) -> Result<()> {
    if stats.lost() == 0 && stats.transmitted > 0 {
        Ok(())
    } else {
        Err(Error::Assertion(format!("{what}: {stats:?}")))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_the_summary() {
        let out = "PING 198.18.0.2 ...\n\n--- 198.18.0.2 ping statistics ---\n\
                   120 packets transmitted, 117 received, +2 errors, 2.5% packet loss, time 6000ms\n";
        let stats = parse(out).unwrap();
        assert_eq!(
            stats,
            PingStats {
                transmitted: 120,
                received: 117
            }
        );
        assert_eq!(stats.lost(), 3);
        assert_eq!(parse("no summary"), None);
    }
}
