//! Adj-RIB-Out (RFC 4271 §3.2, §9.2): what one peer (or one update group of
//! peers that share an export result) has been told, the changes queued for
//! it, and the packing of those changes into UPDATE messages.
//!
//! Changes are queued with [`AdjRibOut::announce`] and
//! [`AdjRibOut::withdraw`] and turned into UPDATEs by
//! [`AdjRibOut::take_updates`], which compares each queued change with what
//! was last advertised: only the net difference is sent (RFC 4271 §9.2: a
//! route is not advertised again in an UPDATE identical to the previous
//! one).
//!
//! Packing:
//!
//! - Withdrawals come first, in UPDATEs of their own: IPv4 unicast in the
//!   Withdrawn Routes field (RFC 4271 §4.3), IPv6 unicast in MP_UNREACH_NLRI
//!   (RFC 4760 §4), one family per UPDATE.
//! - Announcements follow, grouped by attribute set (the interned [`Attrs`]
//!   handle, compared by pointer), in the order each set was first seen in
//!   the queue; within a set, prefixes keep their queue order. All prefixes
//!   of a set share one UPDATE until it is full (RFC 4271 §4.3: the path
//!   attributes apply to every prefix of the NLRI field).
//! - IPv4 prefixes with an IPv4 next hop go in the NLRI field with NEXT_HOP
//!   (RFC 4271 §5.1.3); IPv6 prefixes go in MP_REACH_NLRI (RFC 4760 §3) with
//!   the global and, when known, link-local next hop (RFC 2545 §3); IPv4
//!   prefixes with an IPv6 next hop go in MP_REACH_NLRI only when extended
//!   next hop encoding was negotiated (RFC 8950 §4), and are skipped (and
//!   counted, [`Skipped`]) otherwise.
//! - Sizes are computed arithmetically: the path attributes of a set are
//!   measured once per [`AdjRibOut::take_updates`], each prefix adds
//!   `1 + ceil(len / 8)` octets, 4 more with ADD-PATH (RFC 7911 §3), and
//!   MP_REACH_NLRI / MP_UNREACH_NLRI switch to a two-octet attribute length
//!   when their value passes 255 octets (RFC 4271 §4.3, Extended Length).
//!   Every UPDATE fits `ctx.max_message_len()`: 4096 octets (RFC 4271 §4.1),
//!   or 65535 with Extended Messages (RFC 8654 §4).

use std::collections::hash_map::Entry;
use std::collections::HashMap;
use std::hash::{BuildHasherDefault, Hasher};
use std::sync::Arc;

use bgp::wire::attributes::attribute_len;
use bgp::wire::{
    AttributeValue, Context, EncodeError, Family, MpNextHop, MpNlri, MpReachNlri, MpUnreachNlri,
    Nlri, Nlri4, Nlri6, PathAttribute, Update, HEADER_LEN,
};
use bytes::Bytes;

use crate::attrs::{Attrs, NextHop};
use crate::peer::PeerId;
use crate::prefix::{Ipv4Prefix, Ipv6Prefix, Prefix};

mod base;
mod compact;
mod wire;
use base::Base;
pub(crate) use wire::encode_messages;

/// Withdrawn Routes Length and Total Path Attribute Length (RFC 4271 §4.3).
const UPDATE_FIXED: usize = HEADER_LEN + 2 + 2;
/// NEXT_HOP attribute: flags, type, length, four octets (RFC 4271 §5.1.3).
const NEXT_HOP_ATTR_LEN: usize = 3 + 4;
/// MP_REACH_NLRI value before the next hop and NLRI: AFI, SAFI, Length of
/// Next Hop Network Address, plus the Reserved octet after the next hop
/// (RFC 4760 §3).
const MP_REACH_FIXED: usize = 2 + 1 + 1 + 1;
/// MP_UNREACH_NLRI value before the withdrawn routes: AFI, SAFI
/// (RFC 4760 §4).
const MP_UNREACH_FIXED: usize = 2 + 1;

/// Announcements [`AdjRibOut::take_updates`] could not send, by reason.
/// A skipped prefix that was advertised before is withdrawn instead.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Skipped {
    /// IPv4 prefixes with an IPv6 next hop towards a peer that did not
    /// negotiate extended next hop encoding (RFC 8950 §4).
    pub ipv4_with_ipv6_next_hop: u64,
    /// IPv6 prefixes with an IPv4 next hop, and routes whose next hop was
    /// left [`NextHop::Local`] (a caller error).
    pub unusable_next_hop: u64,
    /// Paths with a non-zero Path Identifier towards a peer without
    /// ADD-PATH for the family: only path 0 is advertised (RFC 7911 §3).
    pub path_id_without_add_path: u64,
    /// Routes whose attributes and prefix do not fit one message: not
    /// advertised (RFC 4271 §9.2).
    pub too_large: u64,
}

/// The lookup key of a route: the prefix and Path Identifier packed in
/// three words, so that the (keyed, std) hash runs over one fixed-size
/// input; 8-byte aligned (a `u128` would make each index entry 48 bytes
/// instead of 32).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
struct Key {
    addr: [u64; 2],
    /// Path Identifier << 32 | family << 8 | prefix length.
    rest: u64,
}

impl Key {
    #[inline]
    fn new(prefix: Prefix, path_id: u32) -> Self {
        let (addr, family) = match prefix {
            Prefix::V4(p) => ([u64::from(u32::from(p.addr())), 0], 4),
            Prefix::V6(p) => {
                let a = u128::from(p.addr());
                ([(a >> 64) as u64, a as u64], 6)
            }
        };
        Key {
            addr,
            rest: u64::from(path_id) << 32 | family << 8 | u64::from(prefix.len()),
        }
    }
}

/// No source: the route is not advertised.
pub(crate) const NOBODY: PeerId = PeerId(u32::MAX);

/// One route of the Adj-RIB-Out: the key, what the peer was told, and the
/// queued change, each with the peer the route came from (a member of an
/// update group is not told its own routes).
#[derive(Debug, Clone)]
struct Slot {
    prefix: Prefix,
    path_id: u32,
    /// Last advertised attributes; `None` when not advertised (or free).
    advertised: Option<Attrs>,
    /// Where the advertised route came from.
    advertised_src: PeerId,
    /// The queued change when `queued`: `Some` announces, `None` withdraws.
    pending: Option<Attrs>,
    /// Where the queued announcement came from.
    pending_src: PeerId,
    queued: bool,
}

/// What [`AdjRibOut::take_views`] produced: the UPDATEs for every member
/// of the group that is not the source of a changed route, and those for
/// each member that is (RFC 4271 §9.2: a route is not sent back to the peer
/// it came from).
#[derive(Debug, Default)]
pub struct Views {
    /// The UPDATEs of every member not listed in `members`; empty when all
    /// members are listed.
    pub shared: Vec<Update>,
    /// Members with UPDATEs of their own.
    pub members: Vec<(PeerId, Vec<Update>)>,
    /// A whole table for every member, packed straight into messages
    /// (`shared` is then empty): see [`AdjRibOut::take_views`].
    pub shared_messages: Option<Result<Vec<Bytes>, EncodeError>>,
}

/// The Adj-RIB-Out of one peer or update group.
#[derive(Debug, Clone)]
pub struct AdjRibOut {
    /// (prefix, path id) -> index in `slots`.
    index: HashMap<Key, u32, foldhash::fast::RandomState>,
    slots: Vec<Slot>,
    /// Unused entries of `slots`.
    free: Vec<u32>,
    /// Slots with a queued change, in first-queued order.
    queue: Vec<u32>,
    /// Number of advertised routes.
    advertised: usize,
    /// Advertised routes by source peer.
    by_src: HashMap<PeerId, usize, foldhash::fast::RandomState>,
    skipped: Skipped,
    /// A whole-table load ([`AdjRibOut::load`]), or routes folded in from
    /// the index once sent (`compact.rs`); routes that changed since live
    /// in `index`/`slots` instead.
    base: Base,
    /// See [`AdjRibOut::compact_at`].
    compact_min: usize,
}

impl Default for AdjRibOut {
    fn default() -> Self {
        AdjRibOut {
            index: HashMap::default(),
            slots: Vec::new(),
            free: Vec::new(),
            queue: Vec::new(),
            advertised: 0,
            by_src: HashMap::default(),
            skipped: Skipped::default(),
            base: Base::default(),
            compact_min: 8192,
        }
    }
}

impl AdjRibOut {
    /// An empty Adj-RIB-Out.
    pub fn new() -> Self {
        AdjRibOut::default()
    }

    /// The slot of `(prefix, path_id)`, created if absent. With
    /// `in_load` false the caller knows the load holds no route of `prefix`
    /// and it is not searched.
    fn slot(&mut self, prefix: Prefix, path_id: u32, in_load: bool) -> usize {
        match self.index.entry(Key::new(prefix, path_id)) {
            Entry::Occupied(e) => *e.get() as usize,
            Entry::Vacant(v) => {
                // A route of the whole-table load moves here; while the load
                // is unsent, it was not advertised yet.
                let loaded = if !in_load || self.base.is_empty() {
                    None
                } else {
                    self.base.take(prefix, path_id)
                };
                let slot = Slot::moved(prefix, path_id, loaded, self.base.queued);
                let i = place(&mut self.slots, &mut self.free, slot);
                v.insert(i);
                i as usize
            }
        }
    }

    fn queue_change(
        &mut self,
        prefix: Prefix,
        path_id: u32,
        change: Option<(Attrs, PeerId)>,
        in_load: bool,
    ) {
        let i = self.slot(prefix, path_id, in_load);
        self.queue_at(i, change);
    }

    /// Queue `change` for slot `i`.
    fn queue_at(&mut self, i: usize, change: Option<(Attrs, PeerId)>) {
        let s = &mut self.slots[i];
        (s.pending, s.pending_src) = match change {
            Some((a, src)) => (Some(a), src),
            None => (None, NOBODY),
        };
        if !s.queued {
            s.queued = true;
            self.queue.push(i as u32);
        }
    }

    /// Queue an advertisement of `prefix` with Path Identifier `path_id`
    /// (0 without ADD-PATH). `attrs` are the final export attributes, with a
    /// concrete next hop ([`NextHop::Local`] must have been replaced by the
    /// caller). A newer change to the same route replaces a queued one.
    pub fn announce(&mut self, prefix: Prefix, path_id: u32, attrs: Attrs) {
        self.announce_from(prefix, path_id, attrs, PeerId::LOCAL);
    }

    /// [`AdjRibOut::announce`] of a route that came from peer `src`: a
    /// member of the group that is `src` is not told it
    /// ([`AdjRibOut::take_views`]).
    pub fn announce_from(&mut self, prefix: Prefix, path_id: u32, attrs: Attrs, src: PeerId) {
        debug_assert!(
            attrs.next_hop != NextHop::Local,
            "announce {prefix}: the export next hop must be concrete"
        );
        self.queue_change(prefix, path_id, Some((attrs, src)), true);
    }

    /// [`AdjRibOut::announce_from`] of a prefix that had no best route
    /// before this change. Whatever this Adj-RIB-Out advertised for it was
    /// withdrawn when its best route went, through the per-route index, so
    /// the whole-table store is not searched: a table arriving into an
    /// empty Loc-RIB costs one hash lookup per prefix, not also a
    /// bisection with its cache misses.
    pub fn announce_new(&mut self, prefix: Prefix, path_id: u32, attrs: Attrs, src: PeerId) {
        debug_assert!(
            !self.base.searchable() || self.base.get(prefix, path_id).is_none(),
            "announce_new {prefix}: the whole-table store holds it"
        );
        self.queue_change(prefix, path_id, Some((attrs, src)), false);
    }

    /// Queue a withdrawal. Withdrawing a route that was never advertised
    /// sends nothing; an announcement queued since the last
    /// [`AdjRibOut::take_updates`] is cancelled.
    pub fn withdraw(&mut self, prefix: Prefix, path_id: u32) {
        let key = Key::new(prefix, path_id);
        if let Some(&i) = self.index.get(&key) {
            self.queue_at(i as usize, None);
            return;
        }
        // Nothing to do for a route neither advertised nor queued: no slot
        // for it. One search of the store: a route it holds moves to the
        // index, withdrawn.
        if self.base.is_empty() {
            return;
        }
        let Some(loaded) = self.base.take(prefix, path_id) else {
            return;
        };
        let slot = Slot::moved(prefix, path_id, Some(loaded), self.base.queued);
        let i = place(&mut self.slots, &mut self.free, slot);
        self.index.insert(key, i);
        self.queue_at(i as usize, None);
    }

    /// Queue a whole table at once, for a new session: like
    /// [`AdjRibOut::announce`] for each route (Path Identifier 0, each
    /// prefix once), in far less time and memory. Only into an empty
    /// Adj-RIB-Out; otherwise the routes are announced one by one.
    ///
    /// Routes name their attribute set by index into `sets`; an index out
    /// of range queues nothing.
    pub fn load(
        &mut self,
        sets: Vec<Attrs>,
        v4: Vec<(Ipv4Prefix, u32)>,
        v6: Vec<(Ipv6Prefix, u32)>,
    ) {
        let sources = vec![PeerId::LOCAL; sets.len()];
        self.load_from(sets, sources, v4, v6);
    }

    /// [`AdjRibOut::load`] with the source peer of each attribute set
    /// (`sources[i]` for `sets[i]`; missing entries: [`PeerId::LOCAL`]).
    pub fn load_from(
        &mut self,
        sets: Vec<Attrs>,
        mut sources: Vec<PeerId>,
        v4: Vec<(Ipv4Prefix, u32)>,
        v6: Vec<(Ipv6Prefix, u32)>,
    ) {
        sources.resize(sets.len(), PeerId::LOCAL);
        if !(self.index.is_empty() && self.base.is_empty()) {
            let one = |s: u32| Some((sets.get(s as usize)?.clone(), sources[s as usize]));
            for (p, s) in v4 {
                if let Some((a, src)) = one(s) {
                    self.announce_from(Prefix::V4(p), 0, a, src);
                }
            }
            for (p, s) in v6 {
                if let Some((a, src)) = one(s) {
                    self.announce_from(Prefix::V6(p), 0, a, src);
                }
            }
            return;
        }
        self.base = Base::new(sets, sources, v4, v6);
    }

    /// Whether changes are queued.
    pub fn has_queued(&self) -> bool {
        !self.queue.is_empty() || self.base.queued
    }

    /// Reserve room for `n` more routes (a whole table for a new peer).
    pub fn reserve(&mut self, n: usize) {
        self.index.reserve(n);
        self.slots.reserve(n);
        self.queue.reserve(n);
    }

    /// Number of queued changes (before cancellation).
    pub fn pending(&self) -> usize {
        let loaded = if self.base.queued {
            self.base.iter().count()
        } else {
            0
        };
        self.queue.len() + loaded
    }

    /// The routes last advertised: (prefix, path id, attributes).
    pub fn advertised(&self) -> impl Iterator<Item = (Prefix, u32, &Attrs)> {
        self.advertised_except(NOBODY)
    }

    /// The routes last advertised to `member` of the group: those that did
    /// not come from it.
    pub fn advertised_except(&self, member: PeerId) -> impl Iterator<Item = (Prefix, u32, &Attrs)> {
        let loaded = (!self.base.queued).then(|| {
            self.base
                .iter()
                .filter(move |(_, _, src)| *src != member)
                .map(|(p, a, _)| (p, 0, a))
        });
        self.slots
            .iter()
            .filter(move |s| s.advertised_src != member)
            .filter_map(|s| s.advertised.as_ref().map(|a| (s.prefix, s.path_id, a)))
            .chain(loaded.into_iter().flatten())
    }

    /// Record as advertised, without queueing anything, the routes `other`
    /// advertised that came from `src`: merging the group of `src`, which
    /// left them out (a peer is never sent its own routes), with another
    /// group of the same export, both drained. A route of `src` this
    /// Adj-RIB-Out still holds (from before its other members left) is
    /// replaced by the other's, which is current.
    pub(crate) fn adopt_from(&mut self, other: &AdjRibOut, src: PeerId) {
        let theirs: Vec<(Prefix, u32, Attrs)> = other
            .slots
            .iter()
            .filter(|s| s.advertised_src == src)
            .filter_map(|s| Some((s.prefix, s.path_id, s.advertised.clone()?)))
            .chain(
                (!other.base.queued)
                    .then(|| other.base.iter().filter(|r| r.2 == src))
                    .into_iter()
                    .flatten()
                    .map(|(p, a, _)| (p, 0, a.clone())),
            )
            .collect();
        for (prefix, path_id, attrs) in theirs {
            let i = self.slot(prefix, path_id, true);
            let s = &mut self.slots[i];
            debug_assert!(!s.queued, "adopt {prefix}: queued");
            if s.advertised.replace(attrs).is_none() {
                self.advertised += 1;
            } else {
                count(&mut self.by_src, s.advertised_src, false);
            }
            s.advertised_src = src;
            count(&mut self.by_src, src, true);
        }
    }

    /// Number of routes advertised to `member` of the group.
    pub fn len_except(&self, member: PeerId) -> usize {
        self.advertised - self.by_src.get(&member).copied().unwrap_or(0)
    }

    /// The attributes advertised for `(prefix, path_id)`, if any.
    pub fn get(&self, prefix: Prefix, path_id: u32) -> Option<&Attrs> {
        match self.index.get(&Key::new(prefix, path_id)) {
            Some(&i) => self.slots[i as usize].advertised.as_ref(),
            None if self.base.queued => None,
            None => self.base.get(prefix, path_id),
        }
    }

    /// Number of advertised routes.
    pub fn len(&self) -> usize {
        self.advertised
    }

    /// Whether nothing is advertised.
    pub fn is_empty(&self) -> bool {
        self.advertised == 0
    }

    /// Announcements skipped so far, by reason.
    pub fn skipped(&self) -> Skipped {
        self.skipped
    }

    /// The End-of-RIB marker for `family` (RFC 4724 §2), to send after the
    /// initial table.
    pub fn end_of_rib(family: Family) -> Update {
        Update::end_of_rib(family)
    }

    /// Release slot `i` (neither advertised nor queued any more).
    fn free_slot(&mut self, i: usize) {
        let s = &self.slots[i];
        self.index.remove(&Key::new(s.prefix, s.path_id));
        self.free.push(i as u32);
    }

    /// Drain the queue into UPDATEs for a peer whose encode context is
    /// `ctx`. Each UPDATE encodes to at most `ctx.max_message_len()`
    /// octets. The Adj-RIB-Out then holds what these UPDATEs advertise.
    pub fn take_updates(&mut self, ctx: &Context) -> Vec<Update> {
        self.take_views(ctx, &[], false).shared
    }

    /// Drain the queue into UPDATEs for the `members` of an update group,
    /// all with encode context `ctx`. The group's state holds every route
    /// whatever its source; a member is not told the routes that came from
    /// itself (RFC 4271 §9.2), so a member that is the source of a changed
    /// route gets UPDATEs of its own and the others share one list.
    ///
    /// With `wire`, a new session's whole table (when it is all there is
    /// to send) comes as encoded messages in [`Views::shared_messages`]:
    /// the same messages as the UPDATEs would encode to, built without
    /// them.
    pub fn take_views(&mut self, ctx: &Context, members: &[PeerId], wire: bool) -> Views {
        let mut groups = Groups::new(ctx);
        if self.base.queued
            && self.queue.is_empty()
            && !self.base.sources.iter().any(|s| members.contains(s))
        {
            // A new session's whole table, from none of the members: one
            // view, packed straight from the load.
            if wire {
                return Views {
                    shared_messages: Some(self.pack_load_wire(&mut groups, ctx)),
                    ..Views::default()
                };
            }
            let shared = self.pack_load(&mut groups, ctx);
            return Views {
                shared,
                ..Views::default()
            };
        }
        let queue = std::mem::take(&mut self.queue);
        // Capacity that stays untouched costs address space only.
        let (load4, load6) = if self.base.queued {
            (self.base.v4.len(), self.base.v6.len())
        } else {
            (0, 0)
        };
        let mut rec4: Vec<Rec<Ipv4Prefix>> = Vec::with_capacity(queue.len() + load4);
        let mut rec6: Vec<Rec<Ipv6Prefix>> = Vec::with_capacity(queue.len() + load6);
        let ap4 = ctx.add_path.ipv4_unicast;
        let ap6 = ctx.add_path.ipv6_unicast;
        if self.base.queued {
            self.load_records(&mut groups, ap4, ap6, &mut rec4, &mut rec6);
        }
        for &i in &queue {
            let i = i as usize;
            let s = &mut self.slots[i];
            s.queued = false;
            let ap = match s.prefix {
                Prefix::V4(_) => ap4,
                Prefix::V6(_) => ap6,
            };
            // RFC 7911 §3: the Path Identifier is on the wire only with
            // ADD-PATH; without it the peer keeps one path per prefix.
            let path_id = ap.then_some(s.path_id);
            let mut wanted = None;
            if let Some(a) = s.pending.take() {
                if !ap && s.path_id != 0 {
                    self.skipped.path_id_without_add_path += 1;
                } else {
                    match groups.admit(&a, s.prefix, ap) {
                        Ok(g) => wanted = Some((a, g)),
                        Err(reason) => reason.count(&mut self.skipped),
                    }
                }
            }
            let old_src = if s.advertised.is_some() {
                s.advertised_src
            } else {
                NOBODY
            };
            let rec = match (wanted, &s.advertised) {
                (Some((a, _)), Some(old))
                    if Arc::ptr_eq(&a, old) && s.pending_src == s.advertised_src =>
                {
                    None
                }
                (Some((a, g)), old) => {
                    let same = old.as_ref().is_some_and(|o| Arc::ptr_eq(&a, o));
                    if old.is_none() {
                        self.advertised += 1;
                    } else {
                        count(&mut self.by_src, old_src, false);
                    }
                    count(&mut self.by_src, s.pending_src, true);
                    s.advertised = Some(a);
                    s.advertised_src = s.pending_src;
                    Some((g, s.pending_src, same))
                }
                (None, Some(_)) => {
                    s.advertised = None;
                    s.advertised_src = NOBODY;
                    self.advertised -= 1;
                    count(&mut self.by_src, old_src, false);
                    Some((NO_GROUP, NOBODY, false))
                }
                (None, None) => None,
            };
            let prefix = s.prefix;
            if s.advertised.is_none() {
                self.free_slot(i);
            }
            if let Some((g, new_src, same)) = rec {
                match prefix {
                    Prefix::V4(p) => rec4.push(Rec::new(p, path_id, g, new_src, old_src, same)),
                    Prefix::V6(p) => rec6.push(Rec::new(p, path_id, g, new_src, old_src, same)),
                }
            }
        }
        // Give the queue's allocation back for the next round.
        self.queue = queue;
        self.queue.clear();
        self.maybe_compact();

        // Members whose view differs from the shared one: the sources of
        // changed routes (runs of one source are common).
        let mut touched: Vec<PeerId> = Vec::new();
        if !members.is_empty() {
            let mut last = (NOBODY, NOBODY);
            let pairs = rec4
                .iter()
                .map(Rec::sources)
                .chain(rec6.iter().map(Rec::sources));
            for pair in pairs {
                if pair == last {
                    continue;
                }
                last = pair;
                for p in [pair.0, pair.1] {
                    if p != NOBODY && members.contains(&p) && !touched.contains(&p) {
                        touched.push(p);
                    }
                }
            }
        }
        let shared = members.is_empty() || members.iter().any(|m| !touched.contains(m));
        let mut views = Views::default();
        let mut view = |m: PeerId| {
            let mut out = Vec::new();
            let (w4, w6) = groups.distribute(&rec4, &rec6, m);
            let max = ctx.max_message_len();
            pack_withdrawn4(w4, ap4, max, &mut out);
            pack_withdrawn6(w6, ap6, max, &mut out);
            groups.pack(ctx, max, &mut out);
            out
        };
        if shared {
            views.shared = view(NOBODY);
        }
        for m in touched {
            views.members.push((m, view(m)));
        }
        views
    }

    /// Check every route of a whole-table load ([`AdjRibOut::load_from`])
    /// against its attribute set, looked up once per set: routes that
    /// cannot be sent are counted and dropped from the load, the others
    /// counted as advertised. Returns each set's [`Admit`] and its numbers
    /// of sendable IPv4 and IPv6 routes.
    fn admit_load(
        &mut self,
        groups: &mut Groups<'_>,
        ap4: bool,
        ap6: bool,
    ) -> (Vec<Admit>, Vec<(u32, u32)>) {
        self.base.queued = false;
        let admits: Vec<Admit> = self.base.sets.iter().map(|a| groups.lookup(a)).collect();
        let mut counts = vec![(0u32, 0u32); admits.len()];
        let Base {
            v4, v6, sources, ..
        } = &mut self.base;
        let mut one = |set: &mut u32, limit: fn(&Admit) -> Limit, len: u8, ap: bool, v6: bool| {
            let Some(a) = admits.get(*set as usize) else {
                return;
            };
            match check(a.index, limit(a), len, ap) {
                Ok(_) if v6 => counts[*set as usize].1 += 1,
                Ok(_) => counts[*set as usize].0 += 1,
                Err(reason) => {
                    reason.count(&mut self.skipped);
                    *set = base::NONE;
                }
            }
        };
        for (p, set) in v4.iter_mut() {
            one(set, |a| a.v4, p.len(), ap4, false);
        }
        for (p, set) in v6.iter_mut() {
            one(set, |a| a.v6, p.len(), ap6, true);
        }
        for (set, &(n4, n6)) in counts.iter().enumerate() {
            let n = (n4 + n6) as usize;
            if n > 0 {
                self.advertised += n;
                *self.by_src.entry(sources[set]).or_default() += n;
            }
        }
        (admits, counts)
    }

    /// The UPDATEs of a whole-table load when nothing else is queued and
    /// every member is sent all of it: the routes go straight to their
    /// attribute sets (vectors allocated once), in load order.
    fn pack_load(&mut self, groups: &mut Groups<'_>, ctx: &Context) -> Vec<Update> {
        let (all4, start) = self.distribute_load(groups, ctx);
        for (i, g) in groups.list.iter_mut().enumerate() {
            g.nlri4
                .extend_from_slice(all4.get(start[i]..start[i + 1]).unwrap_or_default());
        }
        let mut out = Vec::new();
        groups.pack(ctx, ctx.max_message_len(), &mut out);
        out
    }

    /// [`AdjRibOut::pack_load`] into encoded messages.
    fn pack_load_wire(
        &mut self,
        groups: &mut Groups<'_>,
        ctx: &Context,
    ) -> Result<Vec<Bytes>, EncodeError> {
        let (all4, start) = self.distribute_load(groups, ctx);
        let mut msgs = wire::Messages::default();
        let max = ctx.max_message_len();
        for (i, g) in groups.list.iter_mut().enumerate() {
            let nlri4 = all4.get(start[i]..start[i + 1]).unwrap_or_default();
            g.pack_wire(ctx, max, nlri4, &mut msgs)?;
        }
        Ok(msgs.into_vec())
    }

    /// The whole-table store's routes handed to the sets they are sent
    /// with, in load order within each set. IPv4, the bulk, comes back as
    /// one list with each set's prefixes together (a counting sort by
    /// set; set `i`'s are `start[i]..start[i + 1]`) rather than a list per
    /// set; IPv6 goes into the sets.
    fn distribute_load(
        &mut self,
        groups: &mut Groups<'_>,
        ctx: &Context,
    ) -> (Vec<Nlri4>, Vec<usize>) {
        let ap4 = ctx.add_path.ipv4_unicast;
        let ap6 = ctx.add_path.ipv6_unicast;
        let (admits, counts) = self.admit_load(groups, ap4, ap6);
        let n = groups.list.len();
        let mut start = vec![0usize; n + 1];
        for (a, &(n4, n6)) in admits.iter().zip(&counts) {
            if let Some(s) = start.get_mut(a.index as usize + 1) {
                *s += n4 as usize;
            }
            groups.list[a.index as usize].nlri6.reserve(n6 as usize);
        }
        for i in 1..=n {
            start[i] += start[i - 1];
        }
        // Any prefix fills the list before its place is written.
        let mut all = match self.base.v4.first() {
            Some(&(prefix, _)) => vec![
                Nlri {
                    path_id: None,
                    prefix
                };
                start[n]
            ],
            None => Vec::new(),
        };
        let mut next = start.clone();
        let path_id = ap4.then_some(0);
        for &(prefix, set) in &self.base.v4 {
            let Some(a) = admits.get(set as usize) else {
                continue;
            };
            let k = &mut next[a.index as usize];
            if let Some(e) = all.get_mut(*k) {
                *e = Nlri { path_id, prefix };
                *k += 1;
            }
        }
        let path_id = ap6.then_some(0);
        for &(prefix, set) in &self.base.v6 {
            if let Some(a) = admits.get(set as usize) {
                groups.list[a.index as usize]
                    .nlri6
                    .push(Nlri { path_id, prefix });
            }
        }
        (all, start)
    }

    /// The records of a whole-table load: all announcements.
    fn load_records(
        &mut self,
        groups: &mut Groups<'_>,
        ap4: bool,
        ap6: bool,
        rec4: &mut Vec<Rec<Ipv4Prefix>>,
        rec6: &mut Vec<Rec<Ipv6Prefix>>,
    ) {
        let (admits, _) = self.admit_load(groups, ap4, ap6);
        let path_id = |ap: bool| ap.then_some(0);
        let base = &self.base;
        let admitted =
            |set: u32| Some((admits.get(set as usize)?.index, base.sources[set as usize]));
        for &(p, set) in &base.v4 {
            if let Some((g, src)) = admitted(set) {
                rec4.push(Rec::new(p, path_id(ap4), g, src, NOBODY, false));
            }
        }
        for &(p, set) in &base.v6 {
            if let Some((g, src)) = admitted(set) {
                rec6.push(Rec::new(p, path_id(ap6), g, src, NOBODY, false));
            }
        }
    }
}

/// Count one advertised route of `src` more (`up`) or less.
impl Slot {
    /// A new slot for a route, with what the whole-table store held of it
    /// (advertised only once the store was sent).
    fn moved(
        prefix: Prefix,
        path_id: u32,
        loaded: Option<(Attrs, PeerId)>,
        load_unsent: bool,
    ) -> Self {
        let (advertised, advertised_src) = match loaded {
            Some((a, src)) if !load_unsent => (Some(a), src),
            _ => (None, NOBODY),
        };
        Slot {
            prefix,
            path_id,
            advertised,
            advertised_src,
            pending: None,
            pending_src: NOBODY,
            queued: false,
        }
    }
}

/// Store `slot` in a free place of `slots`: its index.
fn place(slots: &mut Vec<Slot>, free: &mut Vec<u32>, slot: Slot) -> u32 {
    match free.pop() {
        Some(i) => {
            slots[i as usize] = slot;
            i
        }
        None => {
            slots.push(slot);
            (slots.len() - 1) as u32
        }
    }
}

fn count(by_src: &mut HashMap<PeerId, usize, foldhash::fast::RandomState>, src: PeerId, up: bool) {
    if up {
        *by_src.entry(src).or_default() += 1;
    } else if let Some(n) = by_src.get_mut(&src) {
        *n -= 1;
        if *n == 0 {
            by_src.remove(&src);
        }
    }
}

/// No attribute set: a record of a withdrawal.
const NO_GROUP: u32 = u32::MAX;

/// One changed route of a [`AdjRibOut::take_views`]: what the group held
/// and now holds, with the sources, from which each member's view follows.
#[derive(Debug, Clone, Copy)]
struct Rec<P> {
    nlri: Nlri<P>,
    /// The attribute set (index in [`Groups::list`]) now advertised, or
    /// [`NO_GROUP`] when the route is withdrawn.
    g: u32,
    new_src: PeerId,
    /// [`NOBODY`] when the route was not advertised.
    old_src: PeerId,
    /// The same attributes as before (only the source changed).
    same: bool,
}

/// What one member is to be sent for a [`Rec`].
enum Send {
    Nothing,
    Announce,
    Withdraw,
}

impl<P> Rec<P> {
    #[inline]
    fn new(
        prefix: P,
        path_id: Option<u32>,
        g: u32,
        new_src: PeerId,
        old_src: PeerId,
        same: bool,
    ) -> Self {
        Rec {
            nlri: Nlri { path_id, prefix },
            g,
            new_src,
            old_src,
            same,
        }
    }

    fn sources(&self) -> (PeerId, PeerId) {
        (self.old_src, self.new_src)
    }

    /// The change as seen by `member` ([`NOBODY`]: by a peer that is the
    /// source of neither route).
    #[inline]
    fn send(&self, member: PeerId) -> Send {
        let now = self.g != NO_GROUP && self.new_src != member;
        let before = self.old_src != NOBODY && self.old_src != member;
        match (now, before) {
            (true, true) if self.same => Send::Nothing,
            (true, _) => Send::Announce,
            (false, true) => Send::Withdraw,
            (false, false) => Send::Nothing,
        }
    }
}

/// Encoded size of one NLRI entry (RFC 4271 §4.3; RFC 7911 §3 adds the
/// 4-octet Path Identifier).
#[inline]
fn nlri_len(len: u8, add_path: bool) -> usize {
    1 + usize::from(len).div_ceil(8) + if add_path { 4 } else { 0 }
}

/// Size of a path attribute with a value of `value` octets: the Extended
/// Length bit gives a two-octet length past 255 (RFC 4271 §4.3).
#[inline]
fn attr_len(value: usize) -> usize {
    value + if value > 255 { 4 } else { 3 }
}

/// Split `entries` greedily, in order, into runs whose message size
/// `total(sum of entry sizes)` is at most `max`; `total` grows with the sum.
/// Returns the end index of each run. An entry that does not fit even alone
/// is left out of every run (callers filter those beforehand).
fn split<T>(
    entries: &[T],
    size: impl Fn(&T) -> usize,
    total: impl Fn(usize) -> usize,
    max: usize,
) -> Vec<(usize, usize)> {
    let mut runs = Vec::new();
    split_into(entries, size, total, max, &mut runs);
    runs
}

/// [`split`] into `runs` (cleared first), for a caller that reuses it.
fn split_into<T>(
    entries: &[T],
    size: impl Fn(&T) -> usize,
    total: impl Fn(usize) -> usize,
    max: usize,
    runs: &mut Vec<(usize, usize)>,
) {
    runs.clear();
    let mut start = 0;
    let mut sum = 0;
    for (k, e) in entries.iter().enumerate() {
        let n = size(e);
        if total(sum + n) <= max {
            sum += n;
            continue;
        }
        if k > start {
            runs.push((start, k));
        }
        if total(n) <= max {
            start = k;
            sum = n;
        } else {
            debug_assert!(false, "an NLRI entry that fits no message");
            start = k + 1;
            sum = 0;
        }
    }
    if entries.len() > start {
        runs.push((start, entries.len()));
    }
}

/// Cut `v` into the `runs` (moving it when there is one run).
fn cut<'r, T: Clone + 'r>(
    v: Vec<T>,
    runs: &'r [(usize, usize)],
) -> impl Iterator<Item = Vec<T>> + 'r {
    let whole = matches!(runs, [(0, end)] if *end == v.len());
    let mut v = Some(v);
    runs.iter().filter_map(move |&(a, b)| {
        if whole {
            v.take()
        } else {
            v.as_ref().map(|v| v[a..b].to_vec())
        }
    })
}

/// IPv4 withdrawals in the Withdrawn Routes field (RFC 4271 §4.3), alone in
/// their UPDATEs.
fn pack_withdrawn4(v: Vec<Nlri4>, ap: bool, max: usize, out: &mut Vec<Update>) {
    let runs = split(
        &v,
        |e| nlri_len(e.prefix.len(), ap),
        |n| UPDATE_FIXED + n,
        max,
    );
    for withdrawn_routes in cut(v, &runs) {
        out.push(Update {
            withdrawn_routes,
            ..Update::default()
        });
    }
}

/// IPv6 withdrawals in MP_UNREACH_NLRI (RFC 4760 §4), alone in their
/// UPDATEs (RFC 4760 §4: no other attribute is needed).
fn pack_withdrawn6(v: Vec<Nlri6>, ap: bool, max: usize, out: &mut Vec<Update>) {
    let runs = split(
        &v,
        |e| nlri_len(e.prefix.len(), ap),
        |n| UPDATE_FIXED + attr_len(MP_UNREACH_FIXED + n),
        max,
    );
    for w in cut(v, &runs) {
        out.push(Update {
            path_attributes: vec![PathAttribute::new(AttributeValue::MpUnreachNlri(
                MpUnreachNlri {
                    withdrawn: MpNlri::Ipv6Unicast(w),
                },
            ))],
            ..Update::default()
        });
    }
}

/// Why an announcement cannot be sent.
#[derive(Debug, Clone, Copy)]
enum Skip {
    Ipv4WithIpv6NextHop,
    UnusableNextHop,
    TooLarge,
}

impl Skip {
    fn count(self, s: &mut Skipped) {
        match self {
            Skip::Ipv4WithIpv6NextHop => s.ipv4_with_ipv6_next_hop += 1,
            Skip::UnusableNextHop => s.unusable_next_hop += 1,
            Skip::TooLarge => s.too_large += 1,
        }
    }
}

/// How one family of an attribute set is carried.
#[derive(Debug, Clone, Copy)]
enum Carry {
    /// IPv4 NLRI field with NEXT_HOP (RFC 4271 §4.3, §5.1.3).
    NextHop,
    /// MP_REACH_NLRI with a next hop of this many octets (RFC 4760 §3).
    MpReach { next_hop_len: usize },
    /// Not sendable.
    Skip(Skip),
}

impl Carry {
    /// Message size with `n` octets of NLRI, given `base` octets of the
    /// set's other attributes.
    #[inline]
    fn total(self, base: usize, n: usize) -> usize {
        match self {
            Carry::NextHop => UPDATE_FIXED + base + NEXT_HOP_ATTR_LEN + n,
            Carry::MpReach { next_hop_len } => {
                UPDATE_FIXED + base + attr_len(MP_REACH_FIXED + next_hop_len + n)
            }
            Carry::Skip(_) => usize::MAX,
        }
    }

    /// The largest NLRI entry that fits a message alone. Entries are at
    /// most 4 + 1 + 16 octets (RFC 7911 §3, IPv6 /128).
    fn limit(self, base: usize, max: usize) -> Limit {
        if let Carry::Skip(s) = self {
            return Limit::Skip(s);
        }
        match (1..=21u8)
            .rev()
            .find(|&e| self.total(base, usize::from(e)) <= max)
        {
            Some(e) => Limit::Upto(e),
            None => Limit::Skip(Skip::TooLarge),
        }
    }
}

/// What prefixes of one family an attribute set can carry.
#[derive(Debug, Clone, Copy)]
enum Limit {
    /// Entries of up to this many octets.
    Upto(u8),
    /// None.
    Skip(Skip),
}

/// What the per-prefix loop needs of an attribute set, kept in the lookup
/// table itself so that admitting a prefix touches one cache line.
#[derive(Debug, Clone, Copy)]
struct Admit {
    /// Index in [`Groups::list`].
    index: u32,
    v4: Limit,
    v6: Limit,
}

/// Whether a prefix of length `len` can be announced with set `index`,
/// whose room per prefix is `limit`.
#[inline]
fn check(index: u32, limit: Limit, len: u8, ap: bool) -> Result<u32, Skip> {
    match limit {
        Limit::Skip(s) => Err(s),
        Limit::Upto(e) if nlri_len(len, ap) > usize::from(e) => Err(Skip::TooLarge),
        Limit::Upto(_) => Ok(index),
    }
}

/// The MP_REACH_NLRI next hop of an IPv6 next hop (RFC 2545 §3: global,
/// then link-local when present; RFC 8950 §3 for IPv4 NLRI).
fn mp_next_hop(nh: NextHop) -> Option<MpNextHop> {
    match nh {
        NextHop::V6 { global, link_local } => Some(MpNextHop::Ipv6 { global, link_local }),
        NextHop::V4(_) | NextHop::Local => None,
    }
}

/// The announcements of one attribute set in one [`AdjRibOut::take_updates`].
#[derive(Debug)]
struct Group {
    /// The set's next hop (copied: the sets are read in the order they
    /// were first seen, their attributes in no particular order).
    next_hop: NextHop,
    /// The set; its attributes other than NEXT_HOP / MP_REACH_NLRI are
    /// `attrs.to_wire(..)`, built or encoded only when packed.
    attrs: Attrs,
    /// Encoded size of those attributes.
    wire_len: usize,
    v4: Carry,
    v6: Carry,
    nlri4: Vec<Nlri4>,
    nlri6: Vec<Nlri6>,
}

impl Group {
    fn new(attrs: &Attrs, ctx: &Context) -> Self {
        let mut wire_len = 0;
        attrs.for_each_wire(ctx.four_octet_as, |flags, v| {
            wire_len += attribute_len(flags, v, ctx);
        });
        let (v4, v6) = match attrs.next_hop {
            NextHop::V4(_) => (Carry::NextHop, Carry::Skip(Skip::UnusableNextHop)),
            NextHop::V6 { link_local, .. } => {
                // RFC 2545 §3: 16 octets, or 32 with the link-local address.
                let mp = Carry::MpReach {
                    next_hop_len: if link_local.is_some() { 32 } else { 16 },
                };
                // RFC 8950 §4: IPv4 NLRI with an IPv6 next hop only when
                // the peer advertised the capability for IPv4 unicast.
                let v4 = if ctx.extended_next_hop_ipv4 {
                    mp
                } else {
                    Carry::Skip(Skip::Ipv4WithIpv6NextHop)
                };
                (v4, mp)
            }
            NextHop::Local => (
                Carry::Skip(Skip::UnusableNextHop),
                Carry::Skip(Skip::UnusableNextHop),
            ),
        };
        Group {
            next_hop: attrs.next_hop,
            attrs: Arc::clone(attrs),
            wire_len,
            v4,
            v6,
            nlri4: Vec::new(),
            nlri6: Vec::new(),
        }
    }

    /// Cut the set's prefixes (those distributed to it since the last
    /// call) into UPDATEs, each with its own copy of the attribute list.
    fn pack(&mut self, ctx: &Context, max: usize, out: &mut Vec<Update>) {
        let (next_hop, base, v4, v6) = (self.next_hop, self.wire_len, self.v4, self.v6);
        let nlri4 = std::mem::take(&mut self.nlri4);
        let nlri6 = std::mem::take(&mut self.nlri6);
        // Per UPDATE: the next hop attribute and the NLRI field.
        let mut msgs: Vec<(PathAttribute, Vec<Nlri4>)> = Vec::new();
        if !nlri4.is_empty() {
            let ap = ctx.add_path.ipv4_unicast;
            let runs = split(
                &nlri4,
                |e| nlri_len(e.prefix.len(), ap),
                |n| v4.total(base, n),
                max,
            );
            match (v4, next_hop) {
                (Carry::NextHop, NextHop::V4(nh)) => {
                    let next_hop = PathAttribute::new(AttributeValue::NextHop(nh));
                    msgs.extend(cut(nlri4, &runs).map(|v| (next_hop.clone(), v)));
                }
                (Carry::MpReach { .. }, nh) => {
                    if let Some(next_hop) = mp_next_hop(nh) {
                        msgs.extend(cut(nlri4, &runs).map(|v| {
                            (
                                mp_reach(next_hop.clone(), MpNlri::Ipv4Unicast(v)),
                                Vec::new(),
                            )
                        }));
                    }
                }
                _ => debug_assert!(false, "IPv4 prefixes admitted for an unsendable set"),
            }
        }
        if !nlri6.is_empty() {
            let ap = ctx.add_path.ipv6_unicast;
            let runs = split(
                &nlri6,
                |e| nlri_len(e.prefix.len(), ap),
                |n| v6.total(base, n),
                max,
            );
            if let Some(next_hop) = mp_next_hop(next_hop) {
                msgs.extend(cut(nlri6, &runs).map(|v| {
                    (
                        mp_reach(next_hop.clone(), MpNlri::Ipv6Unicast(v)),
                        Vec::new(),
                    )
                }));
            }
        }
        if msgs.is_empty() {
            return;
        }
        let final_msg = msgs.len() - 1;
        let mut wire = self.attrs.to_wire(ctx.four_octet_as);
        for (k, (extra, nlri)) in msgs.into_iter().enumerate() {
            let mut path_attributes = if k == final_msg {
                std::mem::take(&mut wire)
            } else {
                wire.clone()
            };
            // RFC 4271 §5: attributes SHOULD be ordered by type code.
            let tc = extra.type_code();
            let at = path_attributes
                .iter()
                .position(|a| a.type_code() > tc)
                .unwrap_or(path_attributes.len());
            path_attributes.insert(at, extra);
            out.push(Update {
                path_attributes,
                nlri,
                ..Update::default()
            });
        }
    }
}

/// MP_REACH_NLRI (RFC 4760 §3); the UPDATE's NLRI field stays empty.
fn mp_reach(next_hop: MpNextHop, nlri: MpNlri) -> PathAttribute {
    PathAttribute::new(AttributeValue::MpReachNlri(MpReachNlri { next_hop, nlri }))
}

/// Hasher for attribute set addresses. The addresses are chosen by the
/// allocator, not by peers, so a multiplicative hash is enough; the high
/// half is folded down because heap addresses have zero low bits.
#[derive(Debug, Default)]
struct PtrHasher(u64);

impl Hasher for PtrHasher {
    fn write(&mut self, bytes: &[u8]) {
        for &b in bytes {
            self.0 = (self.0 ^ u64::from(b)).wrapping_mul(0x0100_0000_01b3);
        }
    }
    fn write_usize(&mut self, v: usize) {
        self.0 = (self.0 ^ v as u64).wrapping_mul(0x9e37_79b9_7f4a_7c15);
    }
    fn finish(&self) -> u64 {
        self.0 ^ (self.0 >> 32)
    }
}

/// The attribute sets of one [`AdjRibOut::take_updates`], in first-seen
/// order.
#[derive(Debug)]
struct Groups<'c> {
    ctx: &'c Context,
    max: usize,
    by_ptr: HashMap<usize, Admit, BuildHasherDefault<PtrHasher>>,
    list: Vec<Group>,
    /// The last set looked up: tables often list runs of prefixes with the
    /// same attributes.
    last: Option<(usize, Admit)>,
}

impl<'c> Groups<'c> {
    fn new(ctx: &'c Context) -> Self {
        Groups {
            ctx,
            max: ctx.max_message_len(),
            by_ptr: HashMap::default(),
            list: Vec::new(),
            last: None,
        }
    }

    /// The set of `attrs`, added if new.
    fn lookup(&mut self, attrs: &Attrs) -> Admit {
        let key = Arc::as_ptr(attrs) as usize;
        if let Some((k, a)) = self.last {
            if k == key {
                return a;
            }
        }
        let a = match self.by_ptr.entry(key) {
            Entry::Occupied(e) => *e.get(),
            Entry::Vacant(v) => {
                let g = Group::new(attrs, self.ctx);
                let a = Admit {
                    index: self.list.len() as u32,
                    v4: g.v4.limit(g.wire_len, self.max),
                    v6: g.v6.limit(g.wire_len, self.max),
                };
                self.list.push(g);
                *v.insert(a)
            }
        };
        self.last = Some((key, a));
        a
    }

    /// The index of the set of `attrs` if `prefix` can be announced with
    /// it (its family carried, and small enough for one message).
    fn admit(&mut self, attrs: &Attrs, prefix: Prefix, ap: bool) -> Result<u32, Skip> {
        let a = self.lookup(attrs);
        let limit = match prefix {
            Prefix::V4(_) => a.v4,
            Prefix::V6(_) => a.v6,
        };
        check(a.index, limit, prefix.len(), ap)
    }

    /// Hand `member`'s view of the records to the sets, keeping queue
    /// order, with each set's vectors allocated once at their final size;
    /// returns the withdrawals.
    fn distribute(
        &mut self,
        rec4: &[Rec<Ipv4Prefix>],
        rec6: &[Rec<Ipv6Prefix>],
        member: PeerId,
    ) -> (Vec<Nlri4>, Vec<Nlri6>) {
        let mut counts = vec![(0u32, 0u32); self.list.len()];
        let mut w4 = Vec::new();
        let mut w6 = Vec::new();
        for r in rec4 {
            match r.send(member) {
                Send::Announce => counts[r.g as usize].0 += 1,
                Send::Withdraw => w4.push(r.nlri),
                Send::Nothing => {}
            }
        }
        for r in rec6 {
            match r.send(member) {
                Send::Announce => counts[r.g as usize].1 += 1,
                Send::Withdraw => w6.push(r.nlri),
                Send::Nothing => {}
            }
        }
        for (group, &(n4, n6)) in self.list.iter_mut().zip(&counts) {
            group.nlri4.reserve_exact(n4 as usize);
            group.nlri6.reserve_exact(n6 as usize);
        }
        for r in rec4 {
            if let Send::Announce = r.send(member) {
                self.list[r.g as usize].nlri4.push(r.nlri);
            }
        }
        for r in rec6 {
            if let Send::Announce = r.send(member) {
                self.list[r.g as usize].nlri6.push(r.nlri);
            }
        }
        (w4, w6)
    }

    /// Pack what was distributed.
    fn pack(&mut self, ctx: &Context, max: usize, out: &mut Vec<Update>) {
        for g in &mut self.list {
            g.pack(ctx, max, out);
        }
    }
}
