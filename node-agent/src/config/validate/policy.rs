//! Prefix lists and policies: checked and compiled into
//! [`ribs::policy::Policy`].

use std::collections::BTreeMap;

use ribs::policy::{Action, Disposition, Match, Policy, PrefixList, PrefixListEntry, Term};
use ribs::PeerKind;

use super::{asn_problem, ACCEPT_ALL, REJECT_ALL};
use crate::config::error::ConfigErrors;
use crate::config::parse;
use crate::config::policy::{
    MatchDef, PolicyAction, PrefixRange, RouteSource, SetDef, TermAction, TermDef,
};
use crate::config::types::Config;

/// Longest AS_PATH prepend accepted.
pub const MAX_PREPEND: u8 = 32;

/// The named prefix lists that compiled.
pub(super) fn prefix_lists(c: &Config, errors: &mut ConfigErrors) -> BTreeMap<String, PrefixList> {
    let mut out = BTreeMap::new();
    let mut seen: BTreeMap<&str, usize> = BTreeMap::new();
    for (i, l) in c.prefix_lists.iter().enumerate() {
        let path = format!("prefix_lists[{i}]");
        if l.name.is_empty() {
            errors.push(format!("{path}.name"), "the name is empty");
        } else if let Some(j) = seen.insert(&l.name, i) {
            errors.push(
                format!("{path}.name"),
                format!("{:?} is also the name of prefix_lists[{j}]", l.name),
            );
        }
        let entries = ranges(&l.entries, &format!("{path}.entries"), errors);
        out.insert(l.name.clone(), PrefixList::new(entries));
    }
    out
}

/// Prefix ranges (`ge`/`le` within the family and around the prefix
/// length).
fn ranges(rs: &[PrefixRange], path: &str, errors: &mut ConfigErrors) -> Vec<PrefixListEntry> {
    let mut out = Vec::new();
    for (i, r) in rs.iter().enumerate() {
        let path = format!("{path}[{i}]");
        let p = match parse::prefix(&r.prefix) {
            Ok(p) => p,
            Err(reason) => {
                errors.push(format!("{path}.prefix"), reason);
                continue;
            }
        };
        let (max, fam) = if p.addr().is_ipv4() {
            (32, "IPv4")
        } else {
            (128, "IPv6")
        };
        let mut ok = true;
        for (field, v) in [("ge", r.ge), ("le", r.le)] {
            let Some(v) = v else { continue };
            if v > max {
                errors.push(
                    format!("{path}.{field}"),
                    format!("{v} is longer than an {fam} prefix ({max} bits)"),
                );
                ok = false;
            } else if v < p.len() {
                errors.push(
                    format!("{path}.{field}"),
                    format!("{v} is shorter than the prefix length {}", p.len()),
                );
                ok = false;
            }
        }
        if let (true, Some(ge), Some(le)) = (ok, r.ge, r.le) {
            if ge > le {
                errors.push(
                    format!("{path}.ge"),
                    format!("{ge} is greater than le {le}: the entry would match nothing"),
                );
                ok = false;
            }
        }
        if ok {
            out.push(PrefixListEntry::range(p, r.ge, r.le));
        }
    }
    out
}

/// The user's policies, compiled.
pub(super) fn policies(
    c: &Config,
    lists: &BTreeMap<String, PrefixList>,
    errors: &mut ConfigErrors,
) -> BTreeMap<String, Policy> {
    let mut out = BTreeMap::new();
    let mut seen: BTreeMap<&str, usize> = BTreeMap::new();
    for (i, p) in c.policies.iter().enumerate() {
        let path = format!("policies[{i}]");
        if p.name.is_empty() {
            errors.push(format!("{path}.name"), "the name is empty");
        } else if p.name == ACCEPT_ALL || p.name == REJECT_ALL {
            errors.push(
                format!("{path}.name"),
                format!("{:?} is a built-in policy", p.name),
            );
        } else if let Some(j) = seen.insert(&p.name, i) {
            errors.push(
                format!("{path}.name"),
                format!("{:?} is also the name of policies[{j}]", p.name),
            );
        }
        let mut policy = Policy::new(p.name.clone());
        policy.default_action = match p.default_action {
            PolicyAction::Accept => Disposition::Accept,
            PolicyAction::Reject => Disposition::Reject,
        };
        let mut names: BTreeMap<String, usize> = BTreeMap::new();
        for (k, t) in p.terms.iter().enumerate() {
            let tpath = format!("{path}.terms[{k}]");
            let name = t.name.clone().unwrap_or_else(|| format!("term-{}", k + 1));
            if let Some(j) = names.insert(name.clone(), k) {
                errors.push(
                    format!("{tpath}.name"),
                    format!("{name:?} is also the name of terms[{j}]"),
                );
            }
            policy.terms.push(term(c, t, name, &tpath, lists, errors));
        }
        out.insert(p.name.clone(), policy);
    }
    out
}

fn term(
    c: &Config,
    t: &TermDef,
    name: String,
    path: &str,
    lists: &BTreeMap<String, PrefixList>,
    errors: &mut ConfigErrors,
) -> Term {
    Term {
        name,
        matches: matches(c, &t.conditions, &format!("{path}.match"), lists, errors),
        actions: actions(c, &t.set, &format!("{path}.set"), errors),
        disposition: match t.action {
            TermAction::Accept => Disposition::Accept,
            TermAction::Reject => Disposition::Reject,
            TermAction::Continue => Disposition::Continue,
        },
    }
}

fn matches(
    c: &Config,
    m: &MatchDef,
    path: &str,
    lists: &BTreeMap<String, PrefixList>,
    errors: &mut ConfigErrors,
) -> Vec<Match> {
    let mut out = Vec::new();
    match (&m.prefix_list, m.prefixes.is_empty()) {
        (Some(_), false) => errors.push(
            format!("{path}.prefixes"),
            "prefix_list and prefixes are both set: choose one",
        ),
        (Some(name), true) => match lists.get(name) {
            Some(l) => out.push(Match::Prefix(l.clone())),
            None => errors.push(
                format!("{path}.prefix_list"),
                format!("no prefix list named {name:?}"),
            ),
        },
        (None, false) => out.push(Match::Prefix(PrefixList::new(ranges(
            &m.prefixes,
            &format!("{path}.prefixes"),
            errors,
        )))),
        (None, true) => {}
    }
    for (i, s) in m.communities.iter().enumerate() {
        match parse::community(s) {
            Ok(x) => out.push(Match::Community(x)),
            Err(r) => errors.push(format!("{path}.communities[{i}]"), r),
        }
    }
    for (i, s) in m.large_communities.iter().enumerate() {
        match parse::large_community(s) {
            Ok(x) => out.push(Match::LargeCommunity(x)),
            Err(r) => errors.push(format!("{path}.large_communities[{i}]"), r),
        }
    }
    for (field, asn, make) in [
        (
            "as_path_contains",
            m.as_path_contains,
            Match::AsPathContains as fn(u32) -> Match,
        ),
        (
            "as_path_originated_by",
            m.as_path_originated_by,
            Match::AsPathOriginatedBy,
        ),
        (
            "as_path_neighbor",
            m.as_path_neighbor,
            Match::AsPathNeighbor,
        ),
        ("neighbor_asn", m.neighbor_asn, Match::SourceAsn),
    ] {
        let Some(asn) = asn else { continue };
        match asn_problem(asn) {
            Some(r) => errors.push(format!("{path}.{field}"), r),
            None => out.push(make(asn)),
        }
    }
    if let Some(a) = m.neighbor {
        if c.neighbors.iter().any(|n| n.address == a) {
            out.push(Match::SourcePeer(a));
        } else {
            errors.push(
                format!("{path}.neighbor"),
                format!("{a} is not the address of a configured neighbour"),
            );
        }
    }
    if let Some(s) = m.source {
        out.push(Match::SourceKind(match s {
            RouteSource::Ebgp => PeerKind::Ebgp,
            RouteSource::Ibgp => PeerKind::Ibgp,
            RouteSource::Local => PeerKind::Local,
        }));
    }
    if let Some(f) = m.family {
        out.push(Match::Family(f.family()));
    }
    if let Some(s) = &m.next_hop_in {
        match parse::prefix(s) {
            Ok(p) => out.push(Match::NextHop(p)),
            Err(r) => errors.push(format!("{path}.next_hop_in"), r),
        }
    }
    out
}

fn actions(c: &Config, s: &SetDef, path: &str, errors: &mut ConfigErrors) -> Vec<Action> {
    let mut out = Vec::new();
    if let Some(v) = s.local_pref {
        out.push(Action::SetLocalPref(v));
    }
    if let Some(v) = s.med {
        out.push(Action::SetMed(v));
    }
    if s.clear_communities {
        out.push(Action::ClearCommunities);
    }
    let mut each = |field: &str, list: &[String], make: &dyn Fn(&str) -> Result<Action, String>| {
        for (i, v) in list.iter().enumerate() {
            match make(v) {
                Ok(a) => out.push(a),
                Err(r) => errors.push(format!("{path}.{field}[{i}]"), r),
            }
        }
    };
    each("remove_communities", &s.remove_communities, &|v| {
        parse::community(v).map(Action::RemoveCommunity)
    });
    each("add_communities", &s.add_communities, &|v| {
        parse::community(v).map(Action::AddCommunity)
    });
    each(
        "remove_large_communities",
        &s.remove_large_communities,
        &|v| parse::large_community(v).map(Action::RemoveLargeCommunity),
    );
    each("add_large_communities", &s.add_large_communities, &|v| {
        parse::large_community(v).map(Action::AddLargeCommunity)
    });
    if let Some(p) = &s.prepend {
        let asn = p.asn.unwrap_or(c.local_asn);
        let mut ok = true;
        if let Some(r) = p.asn.and_then(asn_problem) {
            errors.push(format!("{path}.prepend.asn"), r);
            ok = false;
        }
        if p.count == 0 || p.count > MAX_PREPEND {
            errors.push(
                format!("{path}.prepend.count"),
                format!("{} is not from 1 to {MAX_PREPEND}", p.count),
            );
            ok = false;
        }
        if ok {
            out.push(Action::PrependAs {
                asn,
                count: p.count,
            });
        }
    }
    if let Some(nh) = &s.next_hop {
        match parse::next_hop(nh) {
            Ok(ribs::NextHop::Local) => out.push(Action::SetNextHopSelf),
            Ok(x) => out.push(Action::SetNextHop(x)),
            Err(r) => errors.push(format!("{path}.next_hop"), r),
        }
    }
    out
}
