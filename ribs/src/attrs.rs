//! The attribute set of a route, and its interning.
//!
//! Routes share attribute sets: a full table of about 900,000 prefixes has
//! about 60,000 distinct sets. [`AttrTable`] stores each distinct
//! [`PathAttrs`] once, behind an [`Attrs`] handle (an `Arc`, 8 bytes per
//! route). The table hashes with `foldhash`'s `RandomState` (a random seed
//! per process): peers choose the attribute contents, so an unkeyed
//! hash would let one of them force collisions. A set is freed when the last
//! route using it is released ([`AttrTable::release`]).

use std::hash::BuildHasher;
use std::net::{Ipv4Addr, Ipv6Addr};
use std::sync::Arc;

use bgp::wire::attributes::{default_flags, flags, ValueRef};
use bgp::wire::{
    reconstruct_as4, Aggregator, AsPath, AttributeValue, Community, ExtendedCommunity,
    LargeCommunity, Origin, PathAttribute,
};

/// The next hop of a route.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum NextHop {
    /// This router (locally originated routes; replaced by our own address
    /// on export).
    Local,
    /// An IPv4 next hop (NEXT_HOP, or MP_REACH_NLRI for IPv4).
    V4(Ipv4Addr),
    /// An IPv6 next hop, with the link-local one when the peer sent it
    /// (RFC 2545 §3). Also for IPv4 NLRI under RFC 8950.
    V6 {
        /// Global address.
        global: Ipv6Addr,
        /// Link-local address.
        link_local: Option<Ipv6Addr>,
    },
}

/// The attributes of a route that the RIB keeps (RFC 4271 §5 and the
/// attributes' RFCs). NLRI-carrying attributes (MP_REACH_NLRI,
/// MP_UNREACH_NLRI) are not attributes of a route; AS4_PATH and
/// AS4_AGGREGATOR are merged into `as_path` and `aggregator` on receipt
/// (RFC 6793 §4.2.3).
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct PathAttrs {
    /// ORIGIN.
    pub origin: Origin,
    /// AS_PATH with 4-octet ASes.
    pub as_path: AsPath,
    /// Next hop.
    pub next_hop: NextHop,
    /// MULTI_EXIT_DISC.
    pub med: Option<u32>,
    /// LOCAL_PREF (iBGP only on the wire).
    pub local_pref: Option<u32>,
    /// ATOMIC_AGGREGATE.
    pub atomic_aggregate: bool,
    /// AGGREGATOR (4-octet AS).
    pub aggregator: Option<Aggregator>,
    /// COMMUNITIES, in received order.
    pub communities: Vec<Community>,
    /// EXTENDED_COMMUNITIES.
    pub extended_communities: Vec<ExtendedCommunity>,
    /// LARGE_COMMUNITY.
    pub large_communities: Vec<LargeCommunity>,
    /// ORIGINATOR_ID (RFC 4456).
    pub originator_id: Option<Ipv4Addr>,
    /// CLUSTER_LIST (RFC 4456).
    pub cluster_list: Vec<Ipv4Addr>,
    /// OTC (RFC 9234).
    pub otc: Option<u32>,
    /// Unrecognized optional transitive attributes, passed on with the
    /// Partial bit set (RFC 4271 §5). Unrecognized non-transitive ones are
    /// dropped on receipt.
    pub unknown: Vec<PathAttribute>,
}

impl PathAttrs {
    /// A copy with `as_path` in place of this set's AS_PATH, which is not
    /// copied (an eBGP export builds the prepended path itself).
    pub fn with_as_path(&self, as_path: AsPath) -> PathAttrs {
        // Every field named: a new one cannot be forgotten here.
        let PathAttrs {
            origin,
            as_path: _,
            next_hop,
            med,
            local_pref,
            atomic_aggregate,
            aggregator,
            communities,
            extended_communities,
            large_communities,
            originator_id,
            cluster_list,
            otc,
            unknown,
        } = self;
        PathAttrs {
            origin: *origin,
            as_path,
            next_hop: *next_hop,
            med: *med,
            local_pref: *local_pref,
            atomic_aggregate: *atomic_aggregate,
            aggregator: *aggregator,
            communities: communities.clone(),
            extended_communities: extended_communities.clone(),
            large_communities: large_communities.clone(),
            originator_id: *originator_id,
            cluster_list: cluster_list.clone(),
            otc: *otc,
            unknown: unknown.clone(),
        }
    }

    /// A locally originated route's attributes: ORIGIN IGP, empty AS_PATH,
    /// next hop this router.
    pub fn local() -> Self {
        PathAttrs {
            origin: Origin::Igp,
            as_path: AsPath::default(),
            next_hop: NextHop::Local,
            med: None,
            local_pref: None,
            atomic_aggregate: false,
            aggregator: None,
            communities: Vec::new(),
            extended_communities: Vec::new(),
            large_communities: Vec::new(),
            originator_id: None,
            cluster_list: Vec::new(),
            otc: None,
            unknown: Vec::new(),
        }
    }

    /// The attributes of an UPDATE's routes, from its path attributes and
    /// the next hop of the NLRI being processed. From a 2-octet-AS session
    /// (`four_octet_as` false), AS4_PATH and AS4_AGGREGATOR are merged in
    /// (RFC 6793 §4.2.3).
    pub fn from_wire(attributes: &[PathAttribute], next_hop: NextHop, four_octet_as: bool) -> Self {
        Self::from_wire_iter(
            attributes.iter().filter(|a| !carries_nlri(a)).cloned(),
            next_hop,
            four_octet_as,
        )
    }

    /// [`PathAttrs::from_wire`] of attributes the caller gives up: their
    /// lists move in, not copied.
    pub fn from_wire_iter(
        attributes: impl IntoIterator<Item = PathAttribute>,
        next_hop: NextHop,
        four_octet_as: bool,
    ) -> Self {
        let mut a = PathAttrs {
            next_hop,
            ..PathAttrs::local()
        };
        let mut as4_path = None;
        let mut as4_aggregator = None;
        for attr in attributes {
            let flags = attr.flags;
            match attr.value {
                AttributeValue::Origin(o) => a.origin = o,
                AttributeValue::AsPath(p) => a.as_path = p,
                AttributeValue::MultiExitDisc(m) => a.med = Some(m),
                AttributeValue::LocalPref(l) => a.local_pref = Some(l),
                AttributeValue::AtomicAggregate => a.atomic_aggregate = true,
                AttributeValue::Aggregator(g) => a.aggregator = Some(g),
                AttributeValue::Communities(c) => a.communities = c,
                AttributeValue::OriginatorId(o) => a.originator_id = Some(o),
                AttributeValue::ClusterList(c) => a.cluster_list = c,
                AttributeValue::ExtendedCommunities(c) => a.extended_communities = c,
                AttributeValue::LargeCommunities(c) => a.large_communities = c,
                AttributeValue::Otc(o) => a.otc = Some(o),
                AttributeValue::As4Path(p) => as4_path = Some(p),
                AttributeValue::As4Aggregator(g) => as4_aggregator = Some(g),
                value @ AttributeValue::Unknown { .. } => {
                    let ot = flags::OPTIONAL | flags::TRANSITIVE;
                    if flags & ot == ot {
                        a.unknown.push(PathAttribute { flags, value });
                    }
                }
                AttributeValue::NextHop(_)
                | AttributeValue::MpReachNlri(_)
                | AttributeValue::MpUnreachNlri(_) => {}
            }
        }
        if !four_octet_as {
            let (path, agg) = reconstruct_as4(
                &a.as_path,
                a.aggregator.as_ref(),
                as4_path.as_ref(),
                as4_aggregator.as_ref(),
            );
            a.as_path = path;
            a.aggregator = agg;
        }
        a
    }

    /// The path attributes to send, except the next hop (NEXT_HOP or
    /// MP_REACH_NLRI, which the UPDATE builder adds per family). Towards a
    /// 2-octet-AS peer, AS4_PATH and AS4_AGGREGATOR are added when an AS
    /// does not fit two octets (RFC 6793 §4.2.2).
    pub fn to_wire(&self, four_octet_as: bool) -> Vec<PathAttribute> {
        let mut v = Vec::with_capacity(8);
        self.for_each_wire(four_octet_as, |flags, value| {
            v.push(PathAttribute {
                flags,
                value: value.to_value(),
            })
        });
        v
    }

    /// What [`PathAttrs::to_wire`] returns, borrowed: `f` is handed each
    /// attribute's flags and value in the same order, nothing copied.
    pub fn for_each_wire(&self, four_octet_as: bool, mut f: impl FnMut(u8, ValueRef<'_>)) {
        let mut put = |v: ValueRef<'_>| f(default_flags(v.type_code()), v);
        put(ValueRef::Value(&AttributeValue::Origin(self.origin)));
        put(ValueRef::AsPath(&self.as_path));
        if let Some(m) = self.med {
            put(ValueRef::Value(&AttributeValue::MultiExitDisc(m)));
        }
        if let Some(l) = self.local_pref {
            put(ValueRef::Value(&AttributeValue::LocalPref(l)));
        }
        if self.atomic_aggregate {
            put(ValueRef::Value(&AttributeValue::AtomicAggregate));
        }
        if let Some(g) = self.aggregator {
            put(ValueRef::Value(&AttributeValue::Aggregator(g)));
        }
        if !self.communities.is_empty() {
            put(ValueRef::Communities(&self.communities));
        }
        if let Some(o) = self.originator_id {
            put(ValueRef::Value(&AttributeValue::OriginatorId(o)));
        }
        if !self.cluster_list.is_empty() {
            put(ValueRef::ClusterList(&self.cluster_list));
        }
        if !self.extended_communities.is_empty() {
            put(ValueRef::ExtendedCommunities(&self.extended_communities));
        }
        if !four_octet_as {
            let wide = |asn: u32| asn > u32::from(u16::MAX);
            if self
                .as_path
                .segments
                .iter()
                .any(|s| s.asns.iter().any(|&a| wide(a)))
            {
                put(ValueRef::As4Path(&self.as_path));
            }
            if let Some(g) = self.aggregator.filter(|g| wide(g.asn)) {
                put(ValueRef::Value(&AttributeValue::As4Aggregator(g)));
            }
        }
        if !self.large_communities.is_empty() {
            put(ValueRef::LargeCommunities(&self.large_communities));
        }
        if let Some(o) = self.otc {
            put(ValueRef::Value(&AttributeValue::Otc(o)));
        }
        for u in &self.unknown {
            // RFC 4271 §5: passed on with Partial set.
            f(u.flags | flags::PARTIAL, ValueRef::Value(&u.value));
        }
    }
}

/// Whether an attribute carries (or goes with) NLRI: NEXT_HOP and the
/// MP_REACH_NLRI / MP_UNREACH_NLRI attributes (RFC 4760 §3, §4), which
/// [`PathAttrs`] does not keep.
pub(crate) fn carries_nlri(a: &PathAttribute) -> bool {
    matches!(
        a.value,
        AttributeValue::NextHop(_)
            | AttributeValue::MpReachNlri(_)
            | AttributeValue::MpUnreachNlri(_)
    )
}

/// An interned attribute set.
pub type Attrs = Arc<PathAttrs>;

/// The set of distinct attribute sets in use.
#[derive(Debug, Default)]
pub struct AttrTable {
    /// Each set with its keyed hash, computed once: growing the table
    /// rehashes from the stored hashes, not from the attribute sets.
    set: hashbrown::HashTable<(u64, Attrs)>,
    hasher: foldhash::fast::RandomState,
}

impl AttrTable {
    /// An empty table.
    pub fn new() -> Self {
        AttrTable::default()
    }

    /// The shared handle for `attrs`, adding it if new.
    pub fn intern(&mut self, attrs: PathAttrs) -> Attrs {
        let hash = self.hasher.hash_one(&attrs);
        if let Some((_, a)) = self.set.find(hash, |(h, a)| *h == hash && **a == attrs) {
            return Arc::clone(a);
        }
        let a = Arc::new(attrs);
        self.set
            .insert_unique(hash, (hash, Arc::clone(&a)), |(h, _)| *h);
        a
    }

    /// Give back a handle; the set is freed when no route holds it any
    /// more (only the table's own reference is left).
    pub fn release(&mut self, attrs: Attrs) {
        if Arc::strong_count(&attrs) == 2 {
            let hash = self.hasher.hash_one(&*attrs);
            if let Ok(entry) = self.set.find_entry(hash, |(_, a)| Arc::ptr_eq(a, &attrs)) {
                entry.remove();
            }
        }
    }

    /// Free every set no route holds any more: the ones whose last holder
    /// dropped its handle without [`AttrTable::release`] (a whole
    /// Adj-RIB-Out dropped when a session goes down). Returns how many.
    pub fn sweep(&mut self) -> usize {
        let before = self.set.len();
        self.set.retain(|(_, a)| Arc::strong_count(a) > 1);
        before - self.set.len()
    }

    /// Number of distinct sets.
    pub fn len(&self) -> usize {
        self.set.len()
    }

    /// Whether no set is stored.
    pub fn is_empty(&self) -> bool {
        self.set.is_empty()
    }
}
