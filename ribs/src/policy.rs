//! Per-peer import and export policy: ordered terms, like a route-map.
//!
//! RFC 4271 §9.1 leaves import policy (Phase 1, "degree of preference") and
//! export policy (Phase 3, route dissemination) to local configuration. A
//! [`Policy`] is an ordered list of [`Term`]s. For each term whose
//! [`Match`]es all hold, its [`Action`]s are applied in order and its
//! [`Disposition`] decides: [`Disposition::Accept`] and
//! [`Disposition::Reject`] end evaluation, [`Disposition::Continue`] goes on
//! to the next term. A term that does not match is skipped. When no term
//! decides, [`Policy::default_action`] does.
//!
//! Matches see the attributes as earlier `Continue` terms left them (a
//! `Continue` term that adds a community makes a later `Community` match on
//! it succeed).
//!
//! [`apply`] works on a `&mut PathAttrs` in place and so leaves the actions
//! of a rejected route applied: callers pass a clone and drop it on
//! [`PolicyVerdict::Reject`].
//!
//! With no policy at all, [`apply`] follows RFC 8212 §3: routes from eBGP
//! peers are not accepted and routes are not sent to eBGP peers; iBGP and
//! locally originated routes pass unchanged.

use std::fmt;
use std::net::IpAddr;

use bgp::wire::{AsSegment, Community, Family, LargeCommunity, SegmentType};

use crate::attrs::{NextHop, PathAttrs};
use crate::peer::{PeerInfo, PeerKind};
use crate::prefix::Prefix;

/// A named, ordered list of terms with a fallback disposition.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct Policy {
    /// Name, for configuration and logs.
    pub name: String,
    /// Terms, evaluated in order.
    pub terms: Vec<Term>,
    /// What happens when no term decides (no term matched, or every
    /// matching term was `Continue`). [`Disposition::Continue`] here has
    /// nothing to continue to and rejects, like [`Disposition::Reject`].
    pub default_action: Disposition,
}

impl Policy {
    /// A policy with no terms that rejects everything (the default action
    /// is [`Disposition::Reject`]); add terms to let routes through.
    pub fn new(name: impl Into<String>) -> Self {
        Policy {
            name: name.into(),
            terms: Vec::new(),
            default_action: Disposition::Reject,
        }
    }

    /// A policy that accepts every route unchanged. On an eBGP session this
    /// is the explicit configuration RFC 8212 §3 asks for.
    pub fn accept_all(name: impl Into<String>) -> Self {
        Policy {
            default_action: Disposition::Accept,
            ..Policy::new(name)
        }
    }

    /// A policy that rejects every route.
    pub fn reject_all(name: impl Into<String>) -> Self {
        Policy::new(name)
    }

    /// Evaluate the policy for one route, applying the actions of matching
    /// terms to `attrs` (see the module documentation for the order).
    pub fn evaluate(&self, ctx: &RouteContext<'_>, attrs: &mut PathAttrs) -> PolicyVerdict {
        for term in &self.terms {
            if !term.matches(ctx, attrs) {
                continue;
            }
            for action in &term.actions {
                action.apply(attrs);
            }
            match term.disposition {
                Disposition::Accept => return PolicyVerdict::Accept,
                Disposition::Reject => return PolicyVerdict::Reject,
                Disposition::Continue => {}
            }
        }
        match self.default_action {
            Disposition::Accept => PolicyVerdict::Accept,
            Disposition::Reject | Disposition::Continue => PolicyVerdict::Reject,
        }
    }
}

/// One step of a [`Policy`].
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct Term {
    /// Name, for configuration and logs.
    pub name: String,
    /// Conditions, all of which must hold (AND); empty matches every route.
    pub matches: Vec<Match>,
    /// Changes applied in order when the term matches.
    pub actions: Vec<Action>,
    /// What happens after the actions when the term matches.
    pub disposition: Disposition,
}

impl Term {
    /// Whether every match of the term holds for the route.
    pub fn matches(&self, ctx: &RouteContext<'_>, attrs: &PathAttrs) -> bool {
        self.matches.iter().all(|m| m.matches(ctx, attrs))
    }
}

/// A condition on a route.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum Match {
    /// The prefix matches any entry of the list.
    Prefix(PrefixList),
    /// The COMMUNITIES attribute holds this community (RFC 1997).
    Community(Community),
    /// The LARGE_COMMUNITY attribute holds this community (RFC 8092).
    LargeCommunity(LargeCommunity),
    /// The AS appears anywhere in AS_PATH (any segment type).
    AsPathContains(u32),
    /// The originating AS (last AS of a path ending in an AS_SEQUENCE) is
    /// this one; a path ending in an AS_SET has no origin AS and does not
    /// match.
    AsPathOriginatedBy(u32),
    /// The neighbouring AS (first AS of a path starting with an
    /// AS_SEQUENCE, RFC 4271 §9.1.2.2.c) is this one.
    AsPathNeighbor(u32),
    /// The next hop address lies within this prefix. For an IPv6 next hop
    /// either the global or the link-local address (RFC 2545 §3) may match.
    /// [`NextHop::Local`] never matches.
    NextHop(Prefix),
    /// The route came from a peer of this kind ([`PeerKind::Local`] for
    /// routes this router originates).
    SourceKind(PeerKind),
    /// The route came from the peer with this address.
    SourcePeer(IpAddr),
    /// The route came from a peer in this AS.
    SourceAsn(u32),
    /// The route's prefix is of this address family.
    Family(Family),
}

impl Match {
    /// Whether the condition holds for the route.
    pub fn matches(&self, ctx: &RouteContext<'_>, attrs: &PathAttrs) -> bool {
        match self {
            Match::Prefix(list) => list.matches(&ctx.prefix),
            Match::Community(c) => attrs.communities.contains(c),
            Match::LargeCommunity(c) => attrs.large_communities.contains(c),
            Match::AsPathContains(asn) => attrs.as_path.contains(*asn),
            Match::AsPathOriginatedBy(asn) => attrs.as_path.origin_as() == Some(*asn),
            Match::AsPathNeighbor(asn) => attrs.as_path.first_as() == Some(*asn),
            Match::NextHop(within) => next_hop_within(&attrs.next_hop, within),
            Match::SourceKind(kind) => ctx.source.kind == *kind,
            Match::SourcePeer(addr) => ctx.source.address == *addr,
            Match::SourceAsn(asn) => ctx.source.asn == *asn,
            Match::Family(family) => ctx.prefix.family() == *family,
        }
    }
}

/// Whether a next hop address lies within `within`.
fn next_hop_within(next_hop: &NextHop, within: &Prefix) -> bool {
    let host = |addr: IpAddr| {
        let len = if addr.is_ipv4() { 32 } else { 128 };
        Prefix::new(addr, len).is_some_and(|p| within.contains(&p))
    };
    match *next_hop {
        NextHop::Local => false,
        NextHop::V4(a) => host(IpAddr::V4(a)),
        NextHop::V6 { global, link_local } => {
            host(IpAddr::V6(global)) || link_local.is_some_and(|l| host(IpAddr::V6(l)))
        }
    }
}

/// An ordered list of prefix ranges; a prefix matches the list when it
/// matches any entry.
#[derive(Debug, Clone, Default, PartialEq, Eq, Hash)]
pub struct PrefixList {
    /// Entries; order does not change the result.
    pub entries: Vec<PrefixListEntry>,
}

impl PrefixList {
    /// A list of the given entries.
    pub fn new(entries: impl Into<Vec<PrefixListEntry>>) -> Self {
        PrefixList {
            entries: entries.into(),
        }
    }

    /// Whether `prefix` matches any entry.
    pub fn matches(&self, prefix: &Prefix) -> bool {
        self.entries.iter().any(|e| e.matches(prefix))
    }
}

/// A prefix range, with the usual router `ge` / `le` semantics.
///
/// A route prefix matches when it lies within `prefix` (same family, same
/// leading `prefix.len()` bits) and its length is in the range:
///
/// | `ge`    | `le`    | lengths matched                        |
/// |---------|---------|----------------------------------------|
/// | `None`  | `None`  | exactly `prefix.len()`                 |
/// | `Some`  | `None`  | `ge` to 32 (IPv4) or 128 (IPv6)        |
/// | `None`  | `Some`  | `prefix.len()` to `le`                 |
/// | `Some`  | `Some`  | `ge` to `le`                           |
///
/// An empty range (such as `ge` above `le`) matches nothing. A `ge` below
/// `prefix.len()` acts as `prefix.len()`: a route within `prefix` is never
/// shorter than it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct PrefixListEntry {
    /// The covering prefix.
    pub prefix: Prefix,
    /// Minimum length ("greater or equal").
    pub ge: Option<u8>,
    /// Maximum length ("less or equal").
    pub le: Option<u8>,
}

impl PrefixListEntry {
    /// An entry matching exactly `prefix`.
    pub fn exact(prefix: Prefix) -> Self {
        PrefixListEntry {
            prefix,
            ge: None,
            le: None,
        }
    }

    /// An entry matching `prefix` and the prefixes within it of lengths
    /// `ge` to `le` (see the table on [`PrefixListEntry`]).
    pub fn range(prefix: Prefix, ge: Option<u8>, le: Option<u8>) -> Self {
        PrefixListEntry { prefix, ge, le }
    }

    /// The inclusive range of route prefix lengths this entry accepts (see
    /// the table on [`PrefixListEntry`]); `min > max` when it is empty.
    pub fn length_range(&self) -> (u8, u8) {
        let len = self.prefix.len();
        let max_len = match self.prefix {
            Prefix::V4(_) => 32,
            Prefix::V6(_) => 128,
        };
        match (self.ge, self.le) {
            (None, None) => (len, len),
            (Some(ge), None) => (ge, max_len),
            (None, Some(le)) => (len, le),
            (Some(ge), Some(le)) => (ge, le),
        }
    }

    /// Whether `prefix` lies within the entry's prefix with a length in the
    /// entry's range.
    pub fn matches(&self, prefix: &Prefix) -> bool {
        let (min, max) = self.length_range();
        self.prefix.contains(prefix) && (min..=max).contains(&prefix.len())
    }
}

impl fmt::Display for PrefixListEntry {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}", self.prefix)?;
        if let Some(ge) = self.ge {
            write!(f, " ge {ge}")?;
        }
        if let Some(le) = self.le {
            write!(f, " le {le}")?;
        }
        Ok(())
    }
}

impl fmt::Display for PrefixList {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("[")?;
        for (i, e) in self.entries.iter().enumerate() {
            if i > 0 {
                f.write_str(", ")?;
            }
            write!(f, "{e}")?;
        }
        f.write_str("]")
    }
}

/// A change to a route's attributes.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum Action {
    /// Set LOCAL_PREF (RFC 4271 §5.1.5).
    SetLocalPref(u32),
    /// Set MULTI_EXIT_DISC (RFC 4271 §5.1.4).
    SetMed(u32),
    /// Remove MULTI_EXIT_DISC.
    RemoveMed,
    /// Append a community to COMMUNITIES if not already present (RFC 1997).
    AddCommunity(Community),
    /// Remove a community from COMMUNITIES.
    RemoveCommunity(Community),
    /// Remove all COMMUNITIES (standard communities only; large ones are
    /// left alone).
    ClearCommunities,
    /// Append a large community if not already present (RFC 8092 §5:
    /// duplicates must not be sent).
    AddLargeCommunity(LargeCommunity),
    /// Remove a large community.
    RemoveLargeCommunity(LargeCommunity),
    /// Put `count` copies of `asn` in front of AS_PATH, in the leading
    /// AS_SEQUENCE, or in a new one if the path is empty or starts with
    /// another segment type (RFC 4271 §5.1.2). `count` 0 changes nothing.
    PrependAs {
        /// The AS to prepend.
        asn: u32,
        /// How many times.
        count: u8,
    },
    /// Set the next hop (RFC 4271 §5.1.3).
    SetNextHop(NextHop),
    /// Set the next hop to this router ([`NextHop::Local`]); the exporter
    /// replaces it with the session's own address.
    SetNextHopSelf,
}

impl Action {
    /// Apply the change to `attrs`.
    pub fn apply(&self, attrs: &mut PathAttrs) {
        match self {
            Action::SetLocalPref(v) => attrs.local_pref = Some(*v),
            Action::SetMed(v) => attrs.med = Some(*v),
            Action::RemoveMed => attrs.med = None,
            Action::AddCommunity(c) => {
                if !attrs.communities.contains(c) {
                    attrs.communities.push(*c);
                }
            }
            Action::RemoveCommunity(c) => attrs.communities.retain(|x| x != c),
            Action::ClearCommunities => attrs.communities.clear(),
            Action::AddLargeCommunity(c) => {
                if !attrs.large_communities.contains(c) {
                    attrs.large_communities.push(*c);
                }
            }
            Action::RemoveLargeCommunity(c) => attrs.large_communities.retain(|x| x != c),
            Action::PrependAs { asn, count } => prepend(attrs, *asn, *count),
            Action::SetNextHop(nh) => attrs.next_hop = *nh,
            Action::SetNextHopSelf => attrs.next_hop = NextHop::Local,
        }
    }
}

/// RFC 4271 §5.1.2: ASes go in the leftmost position of the leading
/// AS_SEQUENCE; if the path starts with an AS_SET (or, RFC 5065 §3, a
/// confederation segment) or is empty, a new AS_SEQUENCE is put first. The
/// encoder splits segments longer than 255 ASes.
fn prepend(attrs: &mut PathAttrs, asn: u32, count: u8) {
    if count == 0 {
        return;
    }
    let copies = std::iter::repeat_n(asn, usize::from(count));
    let segments = &mut attrs.as_path.segments;
    match segments.first_mut() {
        Some(s) if s.kind == SegmentType::AsSequence => {
            s.asns.splice(0..0, copies);
        }
        _ => segments.insert(
            0,
            AsSegment {
                kind: SegmentType::AsSequence,
                asns: copies.collect(),
            },
        ),
    }
}

/// What a term does after its actions when it matches.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Hash)]
pub enum Disposition {
    /// Accept the route; stop evaluating.
    Accept,
    /// Reject the route; stop evaluating.
    #[default]
    Reject,
    /// Go on to the next term.
    Continue,
}

/// The outcome of a policy for one route.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum PolicyVerdict {
    /// Use the route (import) or advertise it (export), with the changed
    /// attributes.
    Accept,
    /// Drop the route (import: treated as not received, RFC 4271 §9.1.1 /
    /// §9.1.3; export: not advertised).
    Reject,
}

/// Which way a policy applies, for configuration and logs.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Direction {
    /// Routes received from a peer, before they enter the Adj-RIB-In's
    /// decision (RFC 4271 §9.1.1).
    Import,
    /// Routes about to be advertised to a peer (RFC 4271 §9.1.3).
    Export,
}

/// What a policy may look at besides the attributes.
#[derive(Debug, Clone, Copy)]
pub struct RouteContext<'a> {
    /// The route's prefix.
    pub prefix: Prefix,
    /// Who sent the route: the peer it was learned from, or the
    /// [`PeerInfo::local`] pseudo-peer ([`PeerKind::Local`]) for routes this
    /// router originates. On export too, this is the route's source, not
    /// the peer it is sent to.
    pub source: &'a PeerInfo,
}

/// Apply `policy` to a route received from (import) or to be sent to
/// (export) a peer of kind `peer_kind`, changing `attrs` in place.
///
/// `attrs` is changed by the actions of matching terms whatever the
/// verdict: pass a clone and drop it on [`PolicyVerdict::Reject`].
///
/// With no policy (`None`), RFC 8212 §3: routes from eBGP peers are not
/// accepted and no route is sent to an eBGP peer; routes from and to iBGP
/// peers and this router ([`PeerKind::Local`]) are accepted unchanged.
pub fn apply(
    policy: Option<&Policy>,
    peer_kind: PeerKind,
    ctx: &RouteContext<'_>,
    attrs: &mut PathAttrs,
) -> PolicyVerdict {
    match (policy, peer_kind) {
        (Some(p), _) => p.evaluate(ctx, attrs),
        (None, PeerKind::Ebgp) => PolicyVerdict::Reject,
        (None, PeerKind::Ibgp | PeerKind::Local) => PolicyVerdict::Accept,
    }
}

fn kind_name(kind: PeerKind) -> &'static str {
    match kind {
        PeerKind::Ebgp => "ebgp",
        PeerKind::Ibgp => "ibgp",
        PeerKind::Local => "local",
    }
}

struct NextHopDisplay<'a>(&'a NextHop);

impl fmt::Display for NextHopDisplay<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.0 {
            NextHop::Local => f.write_str("self"),
            NextHop::V4(a) => write!(f, "{a}"),
            NextHop::V6 {
                global,
                link_local: None,
            } => write!(f, "{global}"),
            NextHop::V6 {
                global,
                link_local: Some(l),
            } => write!(f, "{global} link-local {l}"),
        }
    }
}

impl fmt::Display for Match {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Match::Prefix(list) => write!(f, "prefix in {list}"),
            Match::Community(c) => write!(f, "community {c}"),
            Match::LargeCommunity(c) => write!(f, "large-community {c}"),
            Match::AsPathContains(a) => write!(f, "as-path contains {a}"),
            Match::AsPathOriginatedBy(a) => write!(f, "as-path originated-by {a}"),
            Match::AsPathNeighbor(a) => write!(f, "as-path neighbor {a}"),
            Match::NextHop(p) => write!(f, "next-hop within {p}"),
            Match::SourceKind(k) => write!(f, "source-kind {}", kind_name(*k)),
            Match::SourcePeer(a) => write!(f, "source-peer {a}"),
            Match::SourceAsn(a) => write!(f, "source-asn {a}"),
            Match::Family(fam) => write!(f, "family {fam}"),
        }
    }
}

impl fmt::Display for Action {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Action::SetLocalPref(v) => write!(f, "set local-pref {v}"),
            Action::SetMed(v) => write!(f, "set med {v}"),
            Action::RemoveMed => f.write_str("remove med"),
            Action::AddCommunity(c) => write!(f, "add community {c}"),
            Action::RemoveCommunity(c) => write!(f, "remove community {c}"),
            Action::ClearCommunities => f.write_str("clear communities"),
            Action::AddLargeCommunity(c) => write!(f, "add large-community {c}"),
            Action::RemoveLargeCommunity(c) => write!(f, "remove large-community {c}"),
            Action::PrependAs { asn, count } => write!(f, "prepend as {asn} x{count}"),
            Action::SetNextHop(nh) => write!(f, "set next-hop {}", NextHopDisplay(nh)),
            Action::SetNextHopSelf => f.write_str("set next-hop self"),
        }
    }
}

impl fmt::Display for Disposition {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Disposition::Accept => "accept",
            Disposition::Reject => "reject",
            Disposition::Continue => "continue",
        })
    }
}

impl fmt::Display for PolicyVerdict {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            PolicyVerdict::Accept => "accept",
            PolicyVerdict::Reject => "reject",
        })
    }
}

impl fmt::Display for Direction {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Direction::Import => "import",
            Direction::Export => "export",
        })
    }
}
