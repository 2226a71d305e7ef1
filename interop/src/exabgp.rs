//! ExaBGP (`exabgp`): a scripted sender. It connects out to its
//! neighbours and announces what its API process prints; here that process
//! follows a command file (`tail -f`), so a test can announce crafted
//! routes and raw attributes (RFC 7606 cases) at any time.

use std::fmt::Write as _;
use std::io::Write as _;
use std::net::IpAddr;
use std::path::PathBuf;

use crate::cmd::file_tail;
use crate::error::{Error, Result};
use crate::netns::{Lab, Ns};
use crate::router::{Family, Prefix, Route, Router};

/// A path attribute sent as raw bytes (RFC 4271 §4.3): ExaBGP's
/// `attribute [ code flags value ]`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RawAttribute {
    /// Attribute type code.
    pub code: u8,
    /// Attribute flags (Optional 0x80, Transitive 0x40, Partial 0x20).
    pub flags: u8,
    /// The value, without the attribute header.
    pub value: Vec<u8>,
}

/// One route to announce, with its attributes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Announcement {
    /// The route and its common attributes.
    pub route: Route,
    /// NEXT_HOP; `None`: ExaBGP's own address on the session.
    pub next_hop: Option<IpAddr>,
    /// AS_PATH segments after ExaBGP's own AS (eBGP prepends it).
    pub as_path: Vec<u32>,
    /// Further attributes, as raw bytes.
    pub raw_attributes: Vec<RawAttribute>,
}

impl Announcement {
    /// Announces `route` with next hop self.
    pub fn new(route: Route) -> Announcement {
        Announcement {
            route,
            next_hop: None,
            as_path: Vec::new(),
            raw_attributes: Vec::new(),
        }
    }

    /// The API command (`announce route ...`).
    pub fn command(&self) -> String {
        let r = &self.route;
        let mut c = format!("announce route {}", r.prefix);
        match self.next_hop {
            Some(nh) => {
                let _ = write!(c, " next-hop {nh}");
            }
            None => c.push_str(" next-hop self"),
        }
        if !self.as_path.is_empty() {
            let list: Vec<String> = self.as_path.iter().map(u32::to_string).collect();
            let _ = write!(c, " as-path [ {} ]", list.join(" "));
        }
        if !r.communities.is_empty() {
            let list: Vec<String> = r
                .communities
                .iter()
                .map(|(a, v)| format!("{a}:{v}"))
                .collect();
            let _ = write!(c, " community [ {} ]", list.join(" "));
        }
        if !r.large_communities.is_empty() {
            let list: Vec<String> = r
                .large_communities
                .iter()
                .map(|(g, l1, l2)| format!("{g}:{l1}:{l2}"))
                .collect();
            let _ = write!(c, " large-community [ {} ]", list.join(" "));
        }
        if let Some(med) = r.med {
            let _ = write!(c, " med {med}");
        }
        if let Some(lp) = r.local_pref {
            let _ = write!(c, " local-preference {lp}");
        }
        for a in &self.raw_attributes {
            let hex: String = a.value.iter().map(|b| format!("{b:02x}")).collect();
            let _ = write!(
                c,
                " attribute [ 0x{:02x} 0x{:02x} 0x{hex} ]",
                a.code, a.flags
            );
        }
        c
    }
}

/// A running ExaBGP.
#[derive(Debug)]
pub struct ExaBgp {
    router: Router,
    commands: PathBuf,
    log: PathBuf,
}

/// ExaBGP's configuration for `router`: one API process, the command file
/// follower `script`, and one `neighbor` block per neighbour.
pub fn config(router: &Router, script: &std::path::Path) -> String {
    let mut c = String::new();
    let _ = writeln!(
        c,
        "process commands {{\n  run {};\n  encoder text;\n}}",
        script.display()
    );
    for n in &router.neighbors {
        let _ = writeln!(c, "neighbor {} {{", n.address);
        let _ = writeln!(c, "  router-id {};", router.router_id);
        let _ = writeln!(c, "  local-address {};", n.local_address);
        let _ = writeln!(c, "  local-as {};\n  peer-as {};", router.asn, n.asn);
        let _ = writeln!(c, "  hold-time {};", n.hold_time.as_secs());
        if let Some(password) = &n.password {
            let _ = writeln!(c, "  md5-password \"{password}\";");
        }
        if n.passive {
            c.push_str("  passive true;\n");
        }
        if let Some(ttl) = n.multihop {
            let _ = writeln!(c, "  outgoing-ttl {ttl};");
        }
        c.push_str("  family {\n");
        for family in &n.families {
            c.push_str(match family {
                Family::Ipv4 => "    ipv4 unicast;\n",
                Family::Ipv6 => "    ipv6 unicast;\n",
            });
        }
        c.push_str("  }\n  api { processes [ commands ]; }\n}\n");
    }
    c
}

impl ExaBgp {
    /// Writes the configuration and the API script, starts ExaBGP in `ns`,
    /// and announces `router.originate`.
    pub fn start(lab: &mut Lab, ns: &Ns, router: Router) -> Result<ExaBgp> {
        let base = lab.dir().join(format!("exabgp-{}", router.name));
        let commands = base.with_extension("commands");
        let script = base.with_extension("sh");
        let conf = base.with_extension("conf");
        let io = |what: String| move |source| Error::Io { what, source };
        let initial: String = router
            .originate
            .iter()
            .map(|r| Announcement::new(r.clone()).command() + "\n")
            .collect();
        std::fs::write(&commands, initial)
            .map_err(io(format!("cannot write {}", commands.display())))?;
        // The API process must not exit (ExaBGP would respawn it and
        // announce again); `run` is not a shell, hence the script.
        std::fs::write(
            &script,
            format!("#!/bin/sh\nexec tail -n +1 -f {}\n", commands.display()),
        )
        .map_err(io(format!("cannot write {}", script.display())))?;
        crate::cmd::run("chmod", ["755", script.to_str().unwrap_or_default()])?;
        std::fs::write(&conf, config(&router, &script))
            .map_err(io(format!("cannot write {}", conf.display())))?;
        let label = format!("exabgp-{}", router.name);
        let env: Vec<(String, String)> = [
            ("exabgp_daemon_user", "root"),
            ("exabgp_daemon_drop", "false"),
            ("exabgp_daemon_daemonize", "false"),
            ("exabgp_log_level", "WARNING"),
            ("exabgp_api_cli", "false"),
            ("exabgp_tcp_bind", ""),
        ]
        .into_iter()
        .map(|(k, v)| (k.to_owned(), v.to_owned()))
        .collect();
        lab.spawn(ns, &label, "exabgp", &[conf.display().to_string()], &env)?;
        let exa = ExaBgp {
            log: lab.dir().join(format!("{label}.log")),
            router,
            commands,
        };
        // Ready once it has parsed its configuration and started the API
        // process (the `tail` of the command file).
        crate::wait::until(
            &format!("ExaBGP {}: its API process", exa.router.name),
            std::time::Duration::from_secs(15),
            || {
                if let Some(p) = lab.process(&label) {
                    p.check_running()?;
                }
                Ok(crate::netns::pids_in(ns)
                    .into_iter()
                    .any(|pid| {
                        std::fs::read_to_string(format!("/proc/{pid}/comm"))
                            .is_ok_and(|comm| comm.trim() == "tail")
                    })
                    .then_some(()))
            },
            || exa.view(),
        )?;
        Ok(exa)
    }

    /// The description it was started from.
    pub fn router(&self) -> &Router {
        &self.router
    }

    /// Sends one API command line (to every neighbour).
    pub fn send(&self, command: &str) -> Result<()> {
        let mut file = std::fs::OpenOptions::new()
            .append(true)
            .open(&self.commands)
            .map_err(|source| Error::Io {
                what: format!("cannot open {}", self.commands.display()),
                source,
            })?;
        writeln!(file, "{command}").map_err(|source| Error::Io {
            what: format!("cannot write {}", self.commands.display()),
            source,
        })
    }

    /// Announces a route.
    pub fn announce(&self, announcement: &Announcement) -> Result<()> {
        self.send(&announcement.command())
    }

    /// Announces a route to one neighbour only (ExaBGP's `neighbor ADDR`
    /// selector), e.g. with a next hop on that neighbour's link.
    pub fn announce_to(&self, neighbor: IpAddr, announcement: &Announcement) -> Result<()> {
        self.send(&format!("neighbor {neighbor} {}", announcement.command()))
    }

    /// Withdraws a route.
    pub fn withdraw(&self, prefix: Prefix) -> Result<()> {
        self.send(&format!("withdraw route {prefix} next-hop self"))
    }

    /// The tail of its log.
    pub fn view(&self) -> String {
        format!(
            "--- ExaBGP {} log ---\n{}",
            self.router.name,
            file_tail(&self.log, 15)
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::router::prefix;

    #[test]
    fn renders_an_announcement_with_a_raw_attribute() {
        let mut route = Route::new(prefix("198.51.100.0/24"));
        route.communities = vec![(65004, 7)];
        route.med = Some(5);
        let mut a = Announcement::new(route);
        a.raw_attributes.push(RawAttribute {
            code: 0xfe,
            flags: 0xc0,
            value: vec![1, 2, 0xab],
        });
        assert_eq!(
            a.command(),
            "announce route 198.51.100.0/24 next-hop self community [ 65004:7 ] med 5 \
             attribute [ 0xfe 0xc0 0x0102ab ]"
        );
    }
}
