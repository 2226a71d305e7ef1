//! ROUTE-REFRESH message (RFC 2918 §3) with the Enhanced Route Refresh
//! subtypes (RFC 7313 §3.2).
//!
//! ```text
//!  0       7      15      23      31
//! +-------+-------+-------+-------+
//! |      AFI      | Subt. | SAFI  |
//! +-------+-------+-------+-------+
//! ```

use bytes::{BufMut, BytesMut};

use super::context::Family;
use super::error::{code, route_refresh_subcode, ErrorKind};
use super::parse::{PResult, Section};

/// The "Message Subtype" octet, RFC 7313 §3.2 (reserved in RFC 2918).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum RouteRefreshSubtype {
    /// 0: a normal route refresh request.
    Request,
    /// 1: Beginning of Route Refresh (BoRR).
    BeginningOfRouteRefresh,
    /// 2: End of Route Refresh (EoRR).
    EndOfRouteRefresh,
    /// 3..=255: reserved; RFC 7313 §5 says to ignore such a message.
    Reserved(u8),
}

impl RouteRefreshSubtype {
    fn from_u8(v: u8) -> Self {
        match v {
            0 => Self::Request,
            1 => Self::BeginningOfRouteRefresh,
            2 => Self::EndOfRouteRefresh,
            v => Self::Reserved(v),
        }
    }

    /// The octet on the wire.
    pub fn to_u8(self) -> u8 {
        match self {
            Self::Request => 0,
            Self::BeginningOfRouteRefresh => 1,
            Self::EndOfRouteRefresh => 2,
            Self::Reserved(v) => v,
        }
    }
}

/// A ROUTE-REFRESH message.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct RouteRefresh {
    /// The family to refresh.
    pub family: Family,
    /// Request, BoRR or EoRR.
    pub subtype: RouteRefreshSubtype,
}

/// ROUTE-REFRESH body length (the message is always 23 octets).
pub(crate) const BODY_LEN: usize = 4;

impl RouteRefresh {
    /// A plain refresh request for `family`.
    pub fn request(family: Family) -> Self {
        RouteRefresh {
            family,
            subtype: RouteRefreshSubtype::Request,
        }
    }

    pub(crate) fn encode_body(&self, buf: &mut BytesMut) {
        buf.put_u16(self.family.afi);
        buf.put_u8(self.subtype.to_u8());
        buf.put_u8(self.family.safi);
    }

    /// Decode the 4-octet body. The length itself is checked by framing
    /// (RFC 7313 §5: not 23 octets is a ROUTE-REFRESH Message Error).
    pub(crate) fn decode_body(body: &[u8]) -> PResult<'_, RouteRefresh> {
        let sect = Section::reset(
            code::ROUTE_REFRESH_MESSAGE,
            route_refresh_subcode::INVALID_MESSAGE_LENGTH,
        );
        let (i, afi) = sect.u16(body, "route_refresh.afi")?;
        let (i, subtype) = sect.u8(i, "route_refresh.subtype")?;
        let (i, safi) = sect.u8(i, "route_refresh.safi")?;
        if !i.is_empty() {
            return Err(sect.fail(
                i,
                "route_refresh",
                ErrorKind::TrailingBytes { count: i.len() },
            ));
        }
        Ok((
            i,
            RouteRefresh {
                family: Family::new(afi, safi),
                subtype: RouteRefreshSubtype::from_u8(subtype),
            },
        ))
    }
}
