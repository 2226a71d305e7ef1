//! ADD-PATH send (RFC 7911): more than the best path per prefix.
//!
//! Towards a peer with which we negotiated sending Path Identifiers for a
//! family (RFC 7911 §4) and that is configured to get them, the export
//! sends up to a configured number of paths per prefix: the best first,
//! then the other eligible paths (RFC 4271 §9.1.2.1: next hop reachable;
//! looped paths never enter the Loc-RIB) in decision order ([`ranked`]),
//! each through the receiving peer's export rules on its own.
//!
//! RFC 7911 §3 leaves the Path Identifier to the sender: "a unique path
//! identifier ... with respect to the prefix". `PathIds` assigns them per
//! update group: a path keeps its identifier for as long as it is sent, a
//! new path takes the smallest identifier not in use for the prefix
//! (starting at 1), so a peer sees no churn on paths that stay when others
//! come and go.

use std::collections::HashMap;

use crate::decision::{self, Candidate, DecisionConfig};
use crate::peer::PeerId;
use crate::prefix::Prefix;

/// How many paths per prefix are sent in one family.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Hash)]
pub enum SendPaths {
    /// The best path only, with Path Identifier 0 (no ADD-PATH send).
    #[default]
    Best,
    /// At most this many paths (1 to 255), each with a Path Identifier of
    /// ours.
    UpTo(u8),
    /// Every eligible path that passes the export rules.
    All,
}

impl SendPaths {
    /// The limit when sending several paths, `None` for [`SendPaths::Best`].
    pub fn limit(self) -> Option<usize> {
        match self {
            SendPaths::Best => None,
            SendPaths::UpTo(n) => Some(usize::from(n.max(1))),
            SendPaths::All => Some(usize::MAX),
        }
    }
}

/// ADD-PATH send per unicast family of a session (RFC 7911 §4: negotiated
/// per family). The default sends the best path only.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Hash)]
pub struct AddPathSend {
    /// IPv4 unicast.
    pub ipv4: SendPaths,
    /// IPv6 unicast.
    pub ipv6: SendPaths,
}

impl AddPathSend {
    /// The setting of `prefix`'s family.
    pub fn of(&self, prefix: &Prefix) -> SendPaths {
        match prefix {
            Prefix::V4(_) => self.ipv4,
            Prefix::V6(_) => self.ipv6,
        }
    }

    /// Whether any family sends more than the best path.
    pub fn any(&self) -> bool {
        self.ipv4 != SendPaths::Best || self.ipv6 != SendPaths::Best
    }
}

/// The eligible candidates in decision order (indices into `cands`): the
/// best of all, then the best of the rest, and so on (RFC 4271 §9.1.2,
/// with [`decision::select`] at each step, so the order is that of the
/// decision process, deterministic MED included). Ineligible candidates
/// are left out (RFC 4271 §9.1.2.1).
pub fn ranked(cands: &[Candidate<'_>], cfg: &DecisionConfig, limit: usize) -> Vec<usize> {
    let mut left: Vec<usize> = (0..cands.len()).collect();
    let mut order = Vec::new();
    while order.len() < limit && !left.is_empty() {
        let rest: Vec<Candidate<'_>> = left.iter().map(|&i| cands[i]).collect();
        let Some(best) = decision::select(&rest, cfg).best else {
            break; // none of the rest is eligible
        };
        order.push(left.remove(best));
    }
    order
}

/// One path sent for a prefix: where it came from (the source peer and
/// its Path Identifier there) and the identifier we gave it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Assigned {
    pub(crate) peer: PeerId,
    pub(crate) src_id: u32,
    pub(crate) id: u32,
}

/// The Path Identifiers an update group gave the paths it sends, per
/// prefix, sorted by identifier. Only prefixes of ADD-PATH families have
/// entries: a group without ADD-PATH send keeps nothing here.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub(crate) struct PathIds {
    by_prefix: HashMap<Prefix, Vec<Assigned>, foldhash::fast::RandomState>,
}

/// What [`PathIds::assign`] decided for one prefix.
#[derive(Debug, Default, PartialEq, Eq)]
pub(crate) struct Assignment {
    /// Identifiers no longer in use: withdraw them.
    pub(crate) withdrawn: Vec<u32>,
    /// The identifier of each wanted path, in the order given.
    pub(crate) ids: Vec<u32>,
}

impl PathIds {
    /// Give each of `wanted` (source peer, source Path Identifier) an
    /// identifier for `prefix`: the one it has, or the smallest free one.
    /// The paths not wanted any more give theirs up.
    pub(crate) fn assign(&mut self, prefix: Prefix, wanted: &[(PeerId, u32)]) -> Assignment {
        let mut out = Assignment::default();
        if wanted.is_empty() {
            if let Some(old) = self.by_prefix.remove(&prefix) {
                out.withdrawn = old.iter().map(|a| a.id).collect();
            }
            return out;
        }
        let entry = self.by_prefix.entry(prefix).or_default();
        entry.retain(|a| {
            let keep = wanted.contains(&(a.peer, a.src_id));
            if !keep {
                out.withdrawn.push(a.id);
            }
            keep
        });
        for &(peer, src_id) in wanted {
            if let Some(a) = entry.iter().find(|a| a.peer == peer && a.src_id == src_id) {
                out.ids.push(a.id);
                continue;
            }
            // The smallest identifier not in use (the list is sorted).
            let mut id = 1;
            let mut at = 0;
            for a in entry.iter() {
                if a.id != id {
                    break;
                }
                id += 1;
                at += 1;
            }
            entry.insert(at, Assigned { peer, src_id, id });
            out.ids.push(id);
        }
        out
    }

    /// The prefixes with identifiers assigned.
    pub(crate) fn prefixes(&self) -> impl Iterator<Item = Prefix> + '_ {
        self.by_prefix.keys().copied()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn p() -> Prefix {
        Prefix::V4("198.19.0.0/24".parse().unwrap())
    }

    #[test]
    fn a_path_that_stays_keeps_its_identifier() {
        let mut ids = PathIds::default();
        let (a, b, c) = ((PeerId(1), 0), (PeerId(2), 0), (PeerId(3), 7));
        assert_eq!(ids.assign(p(), &[a, b, c]).ids, vec![1, 2, 3]);
        // b goes, c becomes best: a and c keep theirs, 2 is withdrawn.
        let r = ids.assign(p(), &[c, a]);
        assert_eq!(r.ids, vec![3, 1]);
        assert_eq!(r.withdrawn, vec![2]);
        // A new path takes the smallest free identifier.
        let d = (PeerId(4), 0);
        assert_eq!(ids.assign(p(), &[c, d, a]).ids, vec![3, 2, 1]);
        let r = ids.assign(p(), &[]);
        assert_eq!(r.withdrawn, vec![1, 2, 3]);
        assert_eq!(ids.prefixes().count(), 0);
    }
}
