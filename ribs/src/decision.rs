//! The decision process: which of a prefix's paths is best, and which are
//! equal enough to it to share the traffic (RFC 4271 §9.1).
//!
//! [`compare`] ranks two paths by these steps, the first difference
//! deciding:
//!
//! 1. eligibility: a path whose next hop does not resolve is never chosen
//!    (RFC 4271 §9.1.2.1);
//! 2. highest LOCAL_PREF, a missing one counting as
//!    [`DecisionConfig::local_pref_default`] (RFC 4271 §9.1.1, §5.1.5);
//! 3. a locally originated path before a learned one (not in RFC 4271; the
//!    usual router behaviour);
//! 4. shortest AS_PATH, an AS_SET counting 1 and confederation segments 0
//!    (RFC 4271 §9.1.2.2 a, RFC 5065 §5.3);
//! 5. lowest ORIGIN, IGP < EGP < INCOMPLETE (RFC 4271 §9.1.2.2 b);
//! 6. lowest MULTI_EXIT_DISC, only between paths from the same neighbour AS
//!    unless [`DecisionConfig::always_compare_med`]; a missing MED is 0, or
//!    the worst value with [`DecisionConfig::med_missing_as_worst`]
//!    (RFC 4271 §9.1.2.2 c);
//! 7. eBGP before iBGP (RFC 4271 §9.1.2.2 d);
//! 8. lowest IGP cost to the next hop, an unknown cost comparing equal to
//!    any (RFC 4271 §9.1.2.2 e);
//! 9. lowest BGP Identifier, ORIGINATOR_ID standing in for the peer's when
//!    present (RFC 4271 §9.1.2.2 f, RFC 4456 §9);
//! 10. shortest CLUSTER_LIST (RFC 4456 §9);
//! 11. lowest peer address (RFC 4271 §9.1.2.2 g; IPv4 before IPv6);
//! 12. lowest ADD-PATH path identifier, so that paths of one peer
//!     (RFC 7911) are ordered too and the order is total.
//!
//! Step 6 makes pairwise comparison intransitive (RFC 4271 §9.1.2.2 c,
//! RFC 3345 §2): with A and C from AS 1 and B from AS 2, A can beat B, B
//! beat C and C beat A. [`select`] therefore works per neighbour AS
//! ("deterministic MED"): the best of each AS with all steps, then the best
//! of those without step 6. Step 8 with unknown costs is intransitive as
//! well; [`select`] scans candidates in the order of their identity (peer
//! address, path identifier), so its answer never depends on the order of
//! its input.

use std::cmp::Ordering;
use std::collections::BTreeMap;
use std::fmt;
use std::net::{IpAddr, Ipv4Addr};

use bgp::wire::Origin;

use crate::attrs::PathAttrs;
use crate::peer::{PeerInfo, PeerKind};

/// Whether a path's next hop resolves, and at what IGP cost (RFC 4271
/// §9.1.2.1).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Reachability {
    /// The next hop does not resolve: the path is not eligible.
    Unreachable,
    /// The next hop resolves.
    Reachable {
        /// The IGP cost to the next hop (RFC 4271 §9.1.2.2 e); `None` when
        /// unknown, which compares equal to any cost.
        igp_cost: Option<u32>,
    },
}

/// One path to a prefix, as the decision process sees it.
#[derive(Debug, Clone, Copy)]
pub struct Candidate<'a> {
    /// The peer it was learned from ([`PeerKind::Local`] if originated
    /// here).
    pub peer: &'a PeerInfo,
    /// Its attributes (after import policy).
    pub attrs: &'a PathAttrs,
    /// Its ADD-PATH path identifier (RFC 7911 §3); 0 without ADD-PATH.
    pub path_id: u32,
    /// Whether its next hop resolves, and the IGP cost to it.
    pub reach: Reachability,
}

/// Knobs of the decision process.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct DecisionConfig {
    /// Compare MED between paths from different neighbour ASes too
    /// (RFC 4271 §9.1.2.2 c allows it as a local option).
    pub always_compare_med: bool,
    /// A missing MED is the worst value (`u32::MAX`) instead of 0
    /// (RFC 4271 §9.1.2.2 c: "a route lacking the MULTI_EXIT_DISC attribute
    /// ... the lowest possible value"; the other way is a common option).
    pub med_missing_as_worst: bool,
    /// Maximum paths in the ECMP set when the best is eBGP (0 and 1: only
    /// the best).
    pub max_paths_ebgp: u16,
    /// Maximum paths in the ECMP set when the best is iBGP (0 and 1: only
    /// the best).
    pub max_paths_ibgp: u16,
    /// Admit paths with the same AS_PATH length but different ASes into
    /// the ECMP set.
    pub as_path_relax: bool,
    /// LOCAL_PREF of a path without one: eBGP-learned (the attribute is not
    /// sent on eBGP sessions, RFC 4271 §5.1.5) or locally originated.
    pub local_pref_default: u32,
}

impl Default for DecisionConfig {
    fn default() -> Self {
        DecisionConfig {
            always_compare_med: false,
            med_missing_as_worst: false,
            max_paths_ebgp: 1,
            max_paths_ibgp: 1,
            as_path_relax: false,
            local_pref_default: 100,
        }
    }
}

/// Why a path may not be selected at all (RFC 4271 §9.1.2.1).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Ineligible {
    /// Its next hop does not resolve.
    NextHopUnreachable,
}

impl fmt::Display for Ineligible {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Ineligible::NextHopUnreachable => f.write_str("next hop unreachable"),
        }
    }
}

/// The step that decided between two paths, with the values compared,
/// told from the losing path's side: `loser` is the worse path's value,
/// `winner` the better one's.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Reason {
    /// The loser is not eligible (RFC 4271 §9.1.2.1).
    NotEligible(Ineligible),
    /// Lower LOCAL_PREF (RFC 4271 §9.1.1).
    LocalPref {
        /// The loser's LOCAL_PREF (or the default).
        loser: u32,
        /// The winner's.
        winner: u32,
    },
    /// The winner is locally originated, the loser is not.
    LocallyOriginated,
    /// Longer AS_PATH (RFC 4271 §9.1.2.2 a).
    AsPathLength {
        /// The loser's path length.
        loser: usize,
        /// The winner's.
        winner: usize,
    },
    /// Higher ORIGIN (RFC 4271 §9.1.2.2 b).
    Origin {
        /// The loser's ORIGIN.
        loser: Origin,
        /// The winner's.
        winner: Origin,
    },
    /// Higher MED from the same neighbour AS, or from any with
    /// [`DecisionConfig::always_compare_med`] (RFC 4271 §9.1.2.2 c).
    Med {
        /// The loser's MED (missing replaced per the configuration).
        loser: u32,
        /// The winner's.
        winner: u32,
    },
    /// The loser is iBGP, the winner eBGP (RFC 4271 §9.1.2.2 d).
    EbgpOverIbgp,
    /// Higher IGP cost to the next hop (RFC 4271 §9.1.2.2 e).
    IgpCost {
        /// The loser's cost.
        loser: u32,
        /// The winner's.
        winner: u32,
    },
    /// Higher BGP Identifier, or ORIGINATOR_ID where present (RFC 4271
    /// §9.1.2.2 f, RFC 4456 §9).
    RouterId {
        /// The loser's.
        loser: Ipv4Addr,
        /// The winner's.
        winner: Ipv4Addr,
    },
    /// Longer CLUSTER_LIST (RFC 4456 §9).
    ClusterListLength {
        /// The loser's CLUSTER_LIST length.
        loser: usize,
        /// The winner's.
        winner: usize,
    },
    /// Higher peer address (RFC 4271 §9.1.2.2 g).
    PeerAddress {
        /// The loser's peer address.
        loser: IpAddr,
        /// The winner's.
        winner: IpAddr,
    },
    /// Higher ADD-PATH path identifier (RFC 7911). Also the reason given
    /// when two candidates are equal in every step (`loser == winner`).
    PathId {
        /// The loser's path identifier.
        loser: u32,
        /// The winner's.
        winner: u32,
    },
}

fn origin_name(o: Origin) -> &'static str {
    match o {
        Origin::Igp => "IGP",
        Origin::Egp => "EGP",
        Origin::Incomplete => "INCOMPLETE",
    }
}

impl fmt::Display for Reason {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Reason::NotEligible(why) => write!(f, "not eligible: {why}"),
            Reason::LocalPref { loser, winner } => {
                write!(f, "lower LOCAL_PREF ({loser} < {winner})")
            }
            Reason::LocallyOriginated => {
                f.write_str("not locally originated (a locally originated path is preferred)")
            }
            Reason::AsPathLength { loser, winner } => {
                write!(f, "longer AS_PATH ({loser} > {winner})")
            }
            Reason::Origin { loser, winner } => write!(
                f,
                "worse ORIGIN ({} > {})",
                origin_name(*loser),
                origin_name(*winner)
            ),
            Reason::Med { loser, winner } => write!(f, "higher MED ({loser} > {winner})"),
            Reason::EbgpOverIbgp => f.write_str("iBGP path (an eBGP path is preferred)"),
            Reason::IgpCost { loser, winner } => {
                write!(f, "higher IGP cost to the next hop ({loser} > {winner})")
            }
            Reason::RouterId { loser, winner } => {
                write!(f, "higher router ID or ORIGINATOR_ID ({loser} > {winner})")
            }
            Reason::ClusterListLength { loser, winner } => {
                write!(f, "longer CLUSTER_LIST ({loser} > {winner})")
            }
            Reason::PeerAddress { loser, winner } => {
                write!(f, "higher peer address ({loser} > {winner})")
            }
            Reason::PathId { loser, winner } if loser == winner => {
                write!(f, "equal in every step (path ID {loser})")
            }
            Reason::PathId { loser, winner } => write!(f, "higher path ID ({loser} > {winner})"),
        }
    }
}

/// Whether MED takes part in a comparison.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum MedMode {
    /// Between paths from the same neighbour AS, or always with
    /// `always_compare_med` (RFC 4271 §9.1.2.2 c).
    Auto,
    /// Never: between the winners of different neighbour ASes.
    Skip,
}

enum Prefer {
    Higher,
    Lower,
}

/// One step: `Some` with the ordering (`Greater`: `a` better) and the
/// reason when `a` and `b` differ in it.
fn step<T: Copy + Ord>(
    a: T,
    b: T,
    prefer: Prefer,
    reason: impl FnOnce(T, T) -> Reason,
) -> Option<(Ordering, Reason)> {
    let ord = match prefer {
        Prefer::Higher => a.cmp(&b),
        Prefer::Lower => b.cmp(&a),
    };
    match ord {
        Ordering::Equal => None,
        Ordering::Greater => Some((ord, reason(b, a))),
        Ordering::Less => Some((ord, reason(a, b))),
    }
}

fn reachable(c: &Candidate<'_>) -> bool {
    matches!(c.reach, Reachability::Reachable { .. })
}

fn igp_cost(c: &Candidate<'_>) -> Option<u32> {
    match c.reach {
        Reachability::Reachable { igp_cost } => igp_cost,
        Reachability::Unreachable => None,
    }
}

fn local_pref(c: &Candidate<'_>, cfg: &DecisionConfig) -> u32 {
    c.attrs.local_pref.unwrap_or(cfg.local_pref_default)
}

fn med(c: &Candidate<'_>, cfg: &DecisionConfig) -> u32 {
    let missing = if cfg.med_missing_as_worst {
        u32::MAX
    } else {
        0
    };
    c.attrs.med.unwrap_or(missing)
}

/// The neighbour AS for MED grouping (RFC 4271 §9.1.2.2 c): the first AS
/// of the path. `None` for an empty path (locally originated, or from our
/// own AS) and for a path not starting with an AS_SEQUENCE; those form one
/// group.
fn neighbour_as(c: &Candidate<'_>) -> Option<u32> {
    c.attrs.as_path.first_as()
}

/// The BGP Identifier for step 9: ORIGINATOR_ID when present (RFC 4456 §9).
fn router_id(c: &Candidate<'_>) -> Ipv4Addr {
    c.attrs.originator_id.unwrap_or(c.peer.router_id)
}

/// A candidate's identity: distinct for distinct paths.
fn identity(c: &Candidate<'_>) -> (IpAddr, u32) {
    (c.peer.address, c.path_id)
}

/// The steps after the IGP cost, as a sort key (lower is better).
fn tail_key(c: &Candidate<'_>) -> (Ipv4Addr, usize, IpAddr, u32) {
    (
        router_id(c),
        c.attrs.cluster_list.len(),
        c.peer.address,
        c.path_id,
    )
}

/// Steps 1 to 8 (eligibility to IGP cost): the first difference, if any.
fn head(
    a: &Candidate<'_>,
    b: &Candidate<'_>,
    cfg: &DecisionConfig,
    med_mode: MedMode,
) -> Option<(Ordering, Reason)> {
    // RFC 4271 §9.1.2.1: unresolvable next hop.
    step(reachable(a), reachable(b), Prefer::Higher, |_, _| {
        Reason::NotEligible(Ineligible::NextHopUnreachable)
    })
    // RFC 4271 §9.1.1: degree of preference.
    .or_else(|| {
        step(
            local_pref(a, cfg),
            local_pref(b, cfg),
            Prefer::Higher,
            |loser, winner| Reason::LocalPref { loser, winner },
        )
    })
    .or_else(|| {
        step(
            a.peer.kind == PeerKind::Local,
            b.peer.kind == PeerKind::Local,
            Prefer::Higher,
            |_, _| Reason::LocallyOriginated,
        )
    })
    // RFC 4271 §9.1.2.2 a.
    .or_else(|| {
        step(
            a.attrs.as_path.path_len(),
            b.attrs.as_path.path_len(),
            Prefer::Lower,
            |loser, winner| Reason::AsPathLength { loser, winner },
        )
    })
    // RFC 4271 §9.1.2.2 b.
    .or_else(|| {
        step(
            a.attrs.origin,
            b.attrs.origin,
            Prefer::Lower,
            |loser, winner| Reason::Origin { loser, winner },
        )
    })
    // RFC 4271 §9.1.2.2 c.
    .or_else(|| {
        let comparable = match med_mode {
            MedMode::Auto => cfg.always_compare_med || neighbour_as(a) == neighbour_as(b),
            MedMode::Skip => false,
        };
        if !comparable {
            return None;
        }
        step(med(a, cfg), med(b, cfg), Prefer::Lower, |loser, winner| {
            Reason::Med { loser, winner }
        })
    })
    // RFC 4271 §9.1.2.2 d.
    .or_else(|| {
        step(
            a.peer.kind == PeerKind::Ebgp,
            b.peer.kind == PeerKind::Ebgp,
            Prefer::Higher,
            |_, _| Reason::EbgpOverIbgp,
        )
    })
    // RFC 4271 §9.1.2.2 e: an unknown cost compares equal.
    .or_else(|| match (igp_cost(a), igp_cost(b)) {
        (Some(x), Some(y)) => step(x, y, Prefer::Lower, |loser, winner| Reason::IgpCost {
            loser,
            winner,
        }),
        _ => None,
    })
}

/// Steps 9 to 12: always decide, `Equal` only for candidates equal in
/// every step.
fn tail(a: &Candidate<'_>, b: &Candidate<'_>) -> (Ordering, Reason) {
    // RFC 4271 §9.1.2.2 f with RFC 4456 §9's ORIGINATOR_ID.
    step(
        router_id(a),
        router_id(b),
        Prefer::Lower,
        |loser, winner| Reason::RouterId { loser, winner },
    )
    // RFC 4456 §9.
    .or_else(|| {
        step(
            a.attrs.cluster_list.len(),
            b.attrs.cluster_list.len(),
            Prefer::Lower,
            |loser, winner| Reason::ClusterListLength { loser, winner },
        )
    })
    // RFC 4271 §9.1.2.2 g.
    .or_else(|| {
        step(
            a.peer.address,
            b.peer.address,
            Prefer::Lower,
            |loser, winner| Reason::PeerAddress { loser, winner },
        )
    })
    // RFC 7911 paths of one peer.
    .or_else(|| {
        step(a.path_id, b.path_id, Prefer::Lower, |loser, winner| {
            Reason::PathId { loser, winner }
        })
    })
    .unwrap_or((
        Ordering::Equal,
        Reason::PathId {
            loser: a.path_id,
            winner: b.path_id,
        },
    ))
}

fn compare_with(
    a: &Candidate<'_>,
    b: &Candidate<'_>,
    cfg: &DecisionConfig,
    med_mode: MedMode,
) -> (Ordering, Reason) {
    head(a, b, cfg, med_mode).unwrap_or_else(|| tail(a, b))
}

/// Compare two paths to the same prefix by the steps of the decision
/// process (module documentation; RFC 4271 §9.1.2). `Greater` means `a` is
/// better. The [`Reason`] names the deciding step, with the values seen
/// from the loser's side; for `Equal` (equal in every step, including peer
/// address and path identifier) it is [`Reason::PathId`] with equal values.
///
/// MED is compared only between paths from the same neighbour AS unless
/// [`DecisionConfig::always_compare_med`], so this is not transitive; use
/// [`select`] to pick among more than two.
pub fn compare(a: &Candidate<'_>, b: &Candidate<'_>, cfg: &DecisionConfig) -> (Ordering, Reason) {
    compare_with(a, b, cfg, MedMode::Auto)
}

/// The outcome of [`select`]. Indices are into the candidate slice.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Selection {
    /// The best path; `None` when no candidate is eligible.
    pub best: Option<usize>,
    /// The ECMP set, the best first, then the others by the steps after the
    /// IGP cost; at most the configured maximum. Empty when there is no
    /// best.
    pub multipath: Vec<usize>,
    /// Every candidate other than the best (none when there is no best),
    /// by index: `(loser, winner it lost to, reason)`. A loser lost to the
    /// best of its neighbour AS, or, being that, to the overall best; an
    /// ineligible one to the overall best.
    pub losers: Vec<(usize, usize, Reason)>,
}

/// A loser, the path it lost to, and why (indices into the candidates).
type Lost = (usize, usize, Reason);

/// The best of `members` (in canonical order; `None` if empty) by a
/// linear scan, and for each other member whom it lost to and why: the
/// winner when it is worse than the winner, else (intransitive
/// comparisons) the member that knocked it out of the scan.
fn tournament(
    cands: &[Candidate<'_>],
    members: &[usize],
    cfg: &DecisionConfig,
    med_mode: MedMode,
) -> Option<(usize, Vec<Lost>)> {
    let (&first, rest) = members.split_first()?;
    let cmp = |i: usize, j: usize| compare_with(&cands[i], &cands[j], cfg, med_mode);
    let mut champion = first;
    let mut knocked_out = Vec::with_capacity(rest.len());
    for &i in rest {
        if cmp(i, champion).0 == Ordering::Greater {
            knocked_out.push((champion, i));
            champion = i;
        } else {
            knocked_out.push((i, champion));
        }
    }
    let losers = knocked_out
        .into_iter()
        .map(|(loser, by)| match cmp(loser, champion) {
            (Ordering::Less, reason) => (loser, champion, reason),
            _ => (loser, by, cmp(loser, by).1),
        })
        .collect();
    Some((champion, losers))
}

/// Whether `c` may share traffic with `best`: equal in steps 1 to 8
/// (which makes it the same eBGP/iBGP kind), and with the same AS_PATH
/// unless [`DecisionConfig::as_path_relax`].
fn multipath_peer(c: &Candidate<'_>, best: &Candidate<'_>, cfg: &DecisionConfig) -> bool {
    head(c, best, cfg, MedMode::Auto).is_none()
        && (cfg.as_path_relax || c.attrs.as_path == best.attrs.as_path)
}

/// Run the decision process over all paths to one prefix (RFC 4271
/// §9.1.2): the best path, the ECMP set, and why each other path lost.
///
/// The result does not depend on the order of `cands` as long as no two
/// candidates share a peer address and path identifier:
///
/// - paths are grouped by neighbour AS and the best of each group is found
///   with MED; the best overall is found among the group winners without
///   MED (deterministic MED; RFC 4271 §9.1.2.2 c, RFC 3345). With
///   [`DecisionConfig::always_compare_med`] there is one group.
/// - the scans go in order of peer address and path identifier, which
///   settles the remaining intransitivity of unknown IGP costs.
///
/// The ECMP set holds the best and the eligible paths equal to it through
/// the IGP cost step (MED only where comparable), with the same AS_PATH
/// unless [`DecisionConfig::as_path_relax`], up to
/// [`DecisionConfig::max_paths_ebgp`] or
/// [`DecisionConfig::max_paths_ibgp`] by the best's kind. A locally
/// originated best has no ECMP peers.
pub fn select(cands: &[Candidate<'_>], cfg: &DecisionConfig) -> Selection {
    let mut order: Vec<usize> = (0..cands.len()).collect();
    order.sort_by_key(|&i| identity(&cands[i]));
    let (eligible, ineligible): (Vec<usize>, Vec<usize>) =
        order.into_iter().partition(|&i| reachable(&cands[i]));

    // RFC 4271 §9.1.2.2 c: MED only within a neighbour AS.
    let mut groups: BTreeMap<Option<u32>, Vec<usize>> = BTreeMap::new();
    for &i in &eligible {
        let key = if cfg.always_compare_med {
            None
        } else {
            neighbour_as(&cands[i])
        };
        groups.entry(key).or_default().push(i);
    }
    let mut losers = Vec::with_capacity(cands.len());
    let mut group_winners = Vec::with_capacity(groups.len());
    for members in groups.values() {
        if let Some((winner, lost)) = tournament(cands, members, cfg, MedMode::Auto) {
            group_winners.push(winner);
            losers.extend(lost);
        }
    }
    group_winners.sort_by_key(|&i| identity(&cands[i]));
    let between = if cfg.always_compare_med {
        MedMode::Auto
    } else {
        MedMode::Skip
    };
    let Some((best, lost)) = tournament(cands, &group_winners, cfg, between) else {
        return Selection::default();
    };
    losers.extend(lost);
    losers.extend(
        ineligible
            .into_iter()
            .map(|i| (i, best, Reason::NotEligible(Ineligible::NextHopUnreachable))),
    );
    losers.sort_by_key(|&(loser, _, _)| loser);

    let b = &cands[best];
    let mut multipath = vec![best];
    let max_paths = match b.peer.kind {
        PeerKind::Local => 1,
        PeerKind::Ebgp => usize::from(cfg.max_paths_ebgp),
        PeerKind::Ibgp => usize::from(cfg.max_paths_ibgp),
    };
    if max_paths > 1 {
        let mut peers: Vec<usize> = eligible
            .into_iter()
            .filter(|&i| i != best && multipath_peer(&cands[i], b, cfg))
            .collect();
        peers.sort_by_key(|&i| tail_key(&cands[i]));
        peers.truncate(max_paths - 1);
        multipath.extend(peers);
    }

    Selection {
        best: Some(best),
        multipath,
        losers,
    }
}
