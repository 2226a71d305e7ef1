//! The export of several paths per prefix to the update groups with
//! ADD-PATH send (RFC 7911; see [`crate::add_path`]).
//!
//! A group that sends several paths in a family gets, for each prefix of
//! that family, up to its limit of the eligible paths in decision order
//! that pass its export rules (RFC 4271 §9.2, RFC 4456 §8, RFC 8212, its
//! export policy), each path judged on its own, each with the Path
//! Identifier the group gave it. A member is never sent its own paths
//! (RFC 4271 §9.2): they count towards the limit, as they do for the other
//! members of its group, and are left out of its view only, so a peer's
//! view does not depend on the group it is in.
//!
//! Any change of any path of such a prefix is exported again; the
//! Adj-RIB-Out sends only what differs from what the peer was told, so a
//! path that stays, with the same attributes and identifier, is not sent
//! again.

use super::{Dest, Path, Rib};
use crate::add_path::{self, SendPaths};
use crate::peer::PeerId;
use crate::prefix::Prefix;
use crate::update_group::GroupId;

impl Rib {
    /// Count the update groups that send several paths in a family
    /// (after a group was added, removed or given another configuration).
    pub(super) fn count_path_groups(&mut self) {
        self.path_groups = self
            .groups
            .values()
            .filter(|g| g.config.add_path_send.any())
            .count();
    }

    /// Whether an update group sends several paths in `prefix`'s family.
    fn sends_paths(&self, prefix: &Prefix) -> bool {
        self.groups
            .values()
            .any(|g| g.config.add_path_send.of(prefix) != SendPaths::Best)
    }

    /// The eligible paths of `prefix` in decision order.
    fn ranked_paths(&self, prefix: &Prefix) -> Vec<Path> {
        match self.loc.get(prefix) {
            None => Vec::new(),
            Some(Dest::One(path)) => vec![path.clone()],
            Some(Dest::Many(m)) => {
                let decide = self.decide();
                // Paths and candidates side by side (a path of an unknown
                // peer, which cannot be, has no candidate).
                let (paths, cands): (Vec<&Path>, Vec<_>) = m
                    .paths
                    .iter()
                    .filter_map(|p| {
                        let c = decide.candidates(std::slice::from_ref(p)).pop()?;
                        Some((p, c))
                    })
                    .unzip();
                add_path::ranked(&cands, decide.config, usize::MAX)
                    .into_iter()
                    .map(|i| paths[i].clone())
                    .collect()
            }
        }
    }

    /// Export `prefix` again to every group that sends several paths of
    /// its family (none: nothing to do). Never inlined: it would make the
    /// ingest's per-route path larger for groups that do not need it.
    #[inline(never)]
    pub(super) fn export_paths(&mut self, prefix: Prefix) {
        if !self.sends_paths(&prefix) {
            return;
        }
        let gids: Vec<GroupId> = self
            .groups
            .iter()
            .filter(|(_, g)| g.config.add_path_send.of(&prefix) != SendPaths::Best)
            .map(|(&gid, _)| gid)
            .collect();
        if gids.is_empty() {
            return;
        }
        let ranked = self.ranked_paths(&prefix);
        for gid in gids {
            self.export_paths_to(prefix, &ranked, gid);
        }
    }

    /// Queue for group `gid` the paths of `prefix` it is to be sent, out of
    /// `ranked` (the eligible paths in decision order), and withdraw the
    /// identifiers of those it is not sent any more.
    fn export_paths_to(&mut self, prefix: Prefix, ranked: &[Path], gid: GroupId) {
        let Some(limit) = self
            .groups
            .get(&gid)
            .and_then(|g| g.config.add_path_send.of(&prefix).limit())
        else {
            return;
        };
        let mut wanted = Vec::new();
        for path in ranked {
            if wanted.len() >= limit {
                break;
            }
            if let Some(a) = self.export_one(prefix, path, gid) {
                wanted.push((path, a));
            }
        }
        let Some(g) = self.groups.get_mut(&gid) else {
            return;
        };
        let keys: Vec<(PeerId, u32)> = wanted.iter().map(|(p, _)| (p.peer, p.path_id)).collect();
        let assigned = g.path_ids.assign(prefix, &keys);
        for id in assigned.withdrawn {
            g.out.withdraw(prefix, id);
        }
        for ((path, a), id) in wanted.into_iter().zip(assigned.ids) {
            if g.leaves_out(path.peer) {
                // A group of one member leaves that member's own paths
                // out, under the identifier any other group gives them.
                g.out.withdraw(prefix, id);
            } else {
                g.out.announce_from(prefix, id, a, path.peer);
            }
        }
    }

    /// Queue the whole table for group `gid`, which sends several paths in
    /// at least one family: those families prefix by prefix, the others
    /// with the best path only (Path Identifier 0). Also brings an
    /// Adj-RIB-Out in line with a changed export: what is not to be sent
    /// any more is withdrawn.
    pub(super) fn export_table_paths(&mut self, gid: GroupId) {
        let Some(g) = self.groups.get(&gid) else {
            return;
        };
        let send = g.config.add_path_send;
        let prefixes: Vec<Prefix> = self.loc.iter().map(|(p, _)| p).collect();
        for prefix in prefixes {
            if send.of(&prefix) != SendPaths::Best {
                let ranked = self.ranked_paths(&prefix);
                self.export_paths_to(prefix, &ranked, gid);
                continue;
            }
            let best = self.loc.get(&prefix).and_then(Dest::best).cloned();
            let own = |rib: &mut Rib, p: PeerId| {
                rib.groups.get_mut(&gid).is_some_and(|g| g.leaves_out(p))
            };
            let exported = match best {
                Some(b) if !own(self, b.peer) => {
                    self.export_one(prefix, &b, gid).map(|a| (a, b.peer))
                }
                _ => None,
            };
            if let Some(g) = self.groups.get_mut(&gid) {
                match exported {
                    Some((a, src)) => g.out.announce_from(prefix, 0, a, src),
                    None => g.out.withdraw(prefix, 0),
                }
            }
        }
    }

    /// [`Rib::reexport`] for a group that sends several paths in at least
    /// one family: withdraw what the Loc-RIB no longer has, or what was
    /// sent in the other mode of a family, then export the whole table
    /// again (only differences reach the peer).
    pub(super) fn reexport_paths(&mut self, gid: GroupId) {
        let Some(g) = self.groups.get_mut(&gid) else {
            return;
        };
        let send = g.config.add_path_send;
        let loc = &self.loc;
        let stale: Vec<(Prefix, u32)> = g
            .out
            .advertised()
            .map(|(p, id, _)| (p, id))
            .filter(|(p, id)| {
                let several = send.of(p) != SendPaths::Best;
                several == (*id == 0) || loc.get(p).is_none()
            })
            .collect();
        let gone: Vec<Prefix> = g
            .path_ids
            .prefixes()
            .filter(|p| send.of(p) == SendPaths::Best || loc.get(p).is_none())
            .collect();
        for p in gone {
            g.path_ids.assign(p, &[]);
        }
        for (p, id) in stale {
            g.out.withdraw(p, id);
        }
        self.export_table_paths(gid);
    }
}
