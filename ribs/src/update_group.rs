//! Update groups: Established peers whose export gives the same result
//! share one Adj-RIB-Out, so a route change is exported, packed and encoded
//! once for all of them instead of once per peer.
//!
//! Two peers get the same routes with the same attributes when everything
//! the export pipeline reads of the receiving peer is the same
//! (`same_export`: eBGP or iBGP, reflector client or not, the export
//! policy, our next hop towards it, the families, the shared subnet, how
//! many paths per prefix it is sent with ADD-PATH) and
//! the UPDATEs are encoded alike (the same negotiated encode context: AS
//! number size, ADD-PATH, extended next hop, message size). The one rule
//! that depends on the peer itself, not sending a route back to the peer it
//! came from (RFC 4271 §9.2), is applied per member when the UPDATEs are
//! built ([`crate::adj_rib_out::AdjRibOut::take_views`]).
//!
//! A peer that comes up starts its own group with the whole table queued,
//! or joins a group of the same export that was started in the same round
//! and not sent yet; peers that come up together start one group
//! ([`crate::rib::Rib::peers_up`]). Once its table is sent, it joins an
//! older group with the same export whose queue is drained too: both then
//! hold exactly the export of the same Loc-RIB.

use std::collections::HashMap;
use std::sync::{Arc, OnceLock};

use bgp::wire::{Context, EncodeError, Update};
use bytes::Bytes;

use crate::add_path::PathIds;
use crate::adj_rib_out::{encode_messages, AdjRibOut};
use crate::attrs::Attrs;
use crate::peer::PeerId;
use crate::rib::{prefix_dependent, PeerConfig};

/// Export results of a group, see [`UpdateGroup::memo`].
pub(crate) type ExportMemo =
    HashMap<ExportKey, (Attrs, Option<Attrs>), foldhash::fast::RandomState>;

/// What an export result depends on besides the group: the source
/// attribute set's address, the source peer, and whether the prefix is
/// IPv6 (the next hop depends on the family).
pub(crate) type ExportKey = (usize, PeerId, bool);

/// An update group handle.
pub(crate) type GroupId = u32;

/// The peers of one group and their common Adj-RIB-Out.
#[derive(Debug)]
pub(crate) struct UpdateGroup {
    /// The export settings of every member (those of the member that
    /// started the group).
    pub(crate) config: PeerConfig,
    /// The members' encode context, known once a member took its UPDATEs.
    pub(crate) ctx: Option<Context>,
    pub(crate) out: AdjRibOut,
    pub(crate) members: Vec<PeerId>,
    /// Started by a peer coming up, its whole-table load not taken yet:
    /// another peer of the same export that comes up may join it.
    pub(crate) fresh: bool,
    /// Looking for a group to merge with: new, or a group it may merge
    /// with was not drained when it tried (see `Rib::merge`).
    pub(crate) unmerged: bool,
    /// A group of one member whose own routes were left out of its
    /// Adj-RIB-Out (a peer sending a full table does not also hold it as
    /// routes it must never be sent). Such a group takes another member
    /// only by a merge, which adds those routes from the other group.
    pub(crate) filtered: bool,
    /// Export results by (source attribute set address, source peer, IPv6
    /// prefix), each with the source set it was computed from (held, so
    /// the address stays its own); only when `memoize`.
    pub(crate) memo: ExportMemo,
    /// The memo's last hit or insert, holding its source set (so its
    /// address stays its own); only when `memoize`.
    pub(crate) last_export: Option<(ExportKey, Attrs, Option<Attrs>)>,
    /// The export policy does not depend on the prefix.
    pub(crate) memoize: bool,
    /// The Path Identifiers given to the paths sent with ADD-PATH
    /// (RFC 7911); empty without ADD-PATH send.
    pub(crate) path_ids: PathIds,
}

impl UpdateGroup {
    /// A group of one member, with an empty Adj-RIB-Out.
    pub(crate) fn new(member: PeerId, config: PeerConfig) -> Self {
        UpdateGroup {
            memo: HashMap::default(),
            last_export: None,
            memoize: !prefix_dependent(config.export.as_ref()),
            config,
            ctx: None,
            out: AdjRibOut::new(),
            members: vec![member],
            fresh: true,
            unmerged: true,
            filtered: false,
            path_ids: PathIds::default(),
        }
    }

    /// New export settings: the remembered results go.
    pub(crate) fn set_config(&mut self, config: PeerConfig) {
        self.memo.clear();
        self.last_export = None;
        self.memoize = !prefix_dependent(config.export.as_ref());
        self.config = config;
    }

    /// Whether a route from `src` stays out of this group's Adj-RIB-Out:
    /// its only member is `src` (RFC 4271 §9.2, applied to the whole
    /// group). Marks the group filtered.
    pub(crate) fn leaves_out(&mut self, src: PeerId) -> bool {
        let out = matches!(self.members.as_slice(), [m] if *m == src);
        self.filtered |= out;
        out
    }

    /// Whether `other` may be merged into this group: the same export and
    /// encoding, and both queues drained (so both hold the export of the
    /// same Loc-RIB, each apart from its filtered member's own routes,
    /// which the other group holds).
    pub(crate) fn can_absorb(&self, other: &UpdateGroup) -> bool {
        !self.fresh
            && !other.fresh
            && !self.out.has_queued()
            && !other.out.has_queued()
            && self.may_absorb(other)
    }

    /// Whether `other` may be merged into this group once both queues are
    /// drained: the same export and encoding, and the same Path
    /// Identifiers.
    pub(crate) fn may_absorb(&self, other: &UpdateGroup) -> bool {
        self.ctx.is_some()
            && self.ctx == other.ctx
            && same_export(&self.config, &other.config)
            // Members told other Path Identifiers for the same paths
            // cannot share what they are told next (RFC 7911 §3).
            && self.path_ids == other.path_ids
    }
}

/// Whether the export pipeline gives peers `a` and `b` the same routes
/// with the same attributes (apart from each peer's own routes).
pub(crate) fn same_export(a: &PeerConfig, b: &PeerConfig) -> bool {
    a.info.kind == b.info.kind
        && a.info.rr_client == b.info.rr_client
        && a.local_next_hop == b.local_next_hop
        && a.other_family_next_hop == b.other_family_next_hop
        && a.families == b.families
        && a.next_hop_self == b.next_hop_self
        && a.shared_subnet == b.shared_subnet
        && a.export == b.export
        && a.add_path_send == b.add_path_send
}

/// The UPDATEs of one drain of a group for one or more of its members:
/// shared by every member that is sent the same, and encoded once.
#[derive(Debug)]
pub struct Batch {
    /// The UPDATEs; for a batch encoded when it was built, decoded from
    /// the messages on first use.
    updates: OnceLock<Vec<Update>>,
    encoded: OnceLock<Result<Vec<Bytes>, EncodeError>>,
    /// The encode context of a batch encoded when it was built.
    ctx: Option<Context>,
}

impl Batch {
    pub(crate) fn new(updates: Vec<Update>) -> Arc<Self> {
        Arc::new(Batch {
            updates: OnceLock::from(updates),
            encoded: OnceLock::new(),
            ctx: None,
        })
    }

    /// A batch encoded at once with `ctx`, keeping only the messages: the
    /// UPDATEs of one member's own view (the changes of a drain without
    /// the member's own routes) are its alone, and as messages take a
    /// third of the memory; a drain builds one for every member that is
    /// the source of a change, all alive until each member takes its own.
    pub(crate) fn encoded_now(updates: Vec<Update>, ctx: &Context) -> Arc<Self> {
        Arc::new(Batch {
            updates: OnceLock::new(),
            encoded: OnceLock::from(encode_messages(&updates, ctx)),
            ctx: Some(*ctx),
        })
    }

    /// A batch of messages packed and encoded with `ctx` as they were
    /// built (a whole table: [`crate::adj_rib_out::Views::shared_messages`]).
    pub(crate) fn from_messages(
        messages: Result<Vec<Bytes>, EncodeError>,
        ctx: &Context,
    ) -> Arc<Self> {
        Arc::new(Batch {
            updates: OnceLock::new(),
            encoded: OnceLock::from(messages),
            ctx: Some(*ctx),
        })
    }

    /// The UPDATEs.
    pub fn updates(&self) -> &[Update] {
        self.updates.get_or_init(|| {
            let (Some(ctx), Some(Ok(msgs))) = (&self.ctx, self.encoded.get()) else {
                return Vec::new();
            };
            // Messages this crate encoded: they decode.
            msgs.iter()
                .filter_map(|m| match bgp::wire::decode_message(m, ctx) {
                    Ok(bgp::wire::Message::Update(u)) => Some(u),
                    _ => None,
                })
                .collect()
        })
    }

    /// The UPDATEs as BGP messages (header included), encoded on first use
    /// with `ctx`, every member's encode context.
    pub fn encoded(&self, ctx: &Context) -> Result<&[Bytes], EncodeError> {
        self.encoded
            .get_or_init(|| encode_messages(self.updates(), ctx))
            .as_ref()
            .map(Vec::as_slice)
            .map_err(Clone::clone)
    }
}
