//! Budgets of the records a requester may make the shelf fetch from the upstream checksum
//! database and append to its log forever (setting `sumdb_lookup_budget`, per hour), and who
//! a requester is: the signed-in user, else the client's address (an IPv6 /64 counting as
//! one), or, for a peer listed in `trusted_proxies`, the first untrusted address of
//! `X-Forwarded-For` counted from the right.

use std::collections::HashMap;
use std::net::IpAddr;
use std::sync::{Mutex, PoisonError};

/// Requesters remembered per hour at most; past it the hour's counts start again (bounded
/// memory whatever the number of clients).
const MAX_REQUESTERS: usize = 65_536;

/// An address range of `trusted_proxies`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Cidr {
    addr: IpAddr,
    prefix: u8,
}

impl Cidr {
    /// Parses `10.0.0.1`, `10.0.0.0/8`, `fd00::/8`.
    ///
    /// # Errors
    /// A one-line reason.
    pub fn parse(s: &str) -> Result<Self, String> {
        let (ip, prefix) = match s.split_once('/') {
            Some((ip, p)) => (ip, Some(p)),
            None => (s, None),
        };
        let addr: IpAddr = ip
            .trim()
            .parse()
            .map_err(|_| format!("{s}: not an address"))?;
        let max = if addr.is_ipv4() { 32 } else { 128 };
        let prefix = match prefix {
            None => max,
            Some(p) => p
                .trim()
                .parse::<u8>()
                .ok()
                .filter(|p| *p <= max)
                .ok_or_else(|| format!("{s}: bad prefix length"))?,
        };
        Ok(Self { addr, prefix })
    }

    /// Whether `ip` is in this range.
    #[must_use]
    pub fn contains(&self, ip: IpAddr) -> bool {
        match (self.addr, ip) {
            (IpAddr::V4(a), IpAddr::V4(b)) => {
                let mask = u32::MAX
                    .checked_shl(32 - u32::from(self.prefix))
                    .unwrap_or(0);
                u32::from(a) & mask == u32::from(b) & mask
            }
            (IpAddr::V6(a), IpAddr::V6(b)) => {
                let mask = u128::MAX
                    .checked_shl(128 - u32::from(self.prefix))
                    .unwrap_or(0);
                u128::from(a) & mask == u128::from(b) & mask
            }
            _ => false,
        }
    }
}

/// Parses `trusted_proxies`: comma-separated addresses and ranges.
///
/// # Errors
/// The first bad entry.
pub fn parse_trusted(list: &str) -> Result<Vec<Cidr>, String> {
    list.split(',')
        .map(str::trim)
        .filter(|s| !s.is_empty())
        .map(Cidr::parse)
        .collect()
}

/// The client address a request counts for: `peer`, unless it is a trusted proxy, then the
/// first address of `X-Forwarded-For`, from the right, that is not one.
#[must_use]
pub fn client_address(peer: IpAddr, forwarded_for: Option<&str>, trusted: &[Cidr]) -> IpAddr {
    if !trusted.iter().any(|c| c.contains(peer)) {
        return peer;
    }
    let Some(list) = forwarded_for else {
        return peer;
    };
    for hop in list.rsplit(',') {
        let Ok(ip) = hop.trim().parse::<IpAddr>() else {
            return peer; // a malformed hop: trust nothing further left
        };
        if !trusted.iter().any(|c| c.contains(ip)) {
            return ip;
        }
    }
    peer
}

/// The network one client holds, counted as one address by every per-address bound (lookup
/// budgets, the connection cap, the failed-authentication limiter): an IPv4 address itself,
/// an IPv6 address's /64 (one host is commonly given a whole /64, and may pick any address
/// in it).
#[must_use]
pub fn network_of(client: IpAddr) -> IpAddr {
    match client {
        IpAddr::V4(_) => client,
        IpAddr::V6(a) => IpAddr::V6(std::net::Ipv6Addr::from(u128::from(a) & (u128::MAX << 64))),
    }
}

/// The key a requester's budget is kept under.
#[must_use]
pub fn requester(user: Option<&str>, client: IpAddr) -> String {
    match (user, network_of(client)) {
        (Some(u), _) => format!("user {u}"),
        (None, IpAddr::V4(a)) => format!("address {a}"),
        (None, IpAddr::V6(net)) => format!("address {net}/64"),
    }
}

/// Counts per requester in the current hour.
#[derive(Debug, Default)]
pub struct Budgets {
    hour: Mutex<(u64, HashMap<String, u64>)>,
}

impl Budgets {
    fn with_hour<T>(&self, now_hour: u64, f: impl FnOnce(&mut HashMap<String, u64>) -> T) -> T {
        let mut g = self.hour.lock().unwrap_or_else(PoisonError::into_inner);
        if g.0 != now_hour || g.1.len() >= MAX_REQUESTERS {
            *g = (now_hour, HashMap::new());
        }
        f(&mut g.1)
    }

    /// Whether `who` may still cause an append this hour, with `budget` per hour (0: none).
    pub fn available(&self, who: &str, budget: u64, now_hour: u64) -> bool {
        self.with_hour(now_hour, |m| m.get(who).copied().unwrap_or(0) < budget)
    }

    /// Counts one append for `who`.
    pub fn charge(&self, who: &str, now_hour: u64) {
        self.with_hour(now_hour, |m| *m.entry(who.to_owned()).or_insert(0) += 1);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ip(s: &str) -> IpAddr {
        s.parse().unwrap()
    }

    #[test]
    fn ranges_contain_what_they_should() {
        let c = Cidr::parse("10.0.0.0/8").unwrap();
        assert!(c.contains(ip("10.200.3.4")));
        assert!(!c.contains(ip("11.0.0.1")));
        assert!(!c.contains(ip("::1")));
        assert!(Cidr::parse("192.168.1.7")
            .unwrap()
            .contains(ip("192.168.1.7")));
        assert!(!Cidr::parse("192.168.1.7")
            .unwrap()
            .contains(ip("192.168.1.8")));
        assert!(Cidr::parse("0.0.0.0/0").unwrap().contains(ip("8.8.8.8")));
        assert!(Cidr::parse("fd00::/8").unwrap().contains(ip("fd12::1")));
        assert!(!Cidr::parse("fd00::/8").unwrap().contains(ip("2001:db8::1")));
        assert!(!Cidr::parse("fd00::/8").unwrap().contains(ip("10.0.0.1")));
        assert!(Cidr::parse("::/0").unwrap().contains(ip("2001:db8::1")));
        for bad in ["10.0.0.0/33", "nope", "::/129", "1.2.3.4/x"] {
            assert!(Cidr::parse(bad).is_err(), "{bad}");
        }
        assert_eq!(parse_trusted(" 10.0.0.1 , fd00::/8,").unwrap().len(), 2);
    }

    #[test]
    fn forwarded_for_counts_only_behind_a_trusted_proxy() {
        let trusted = parse_trusted("10.0.0.1").unwrap();
        let xff = Some("1.2.3.4, 5.6.7.8, 10.0.0.1");
        // A trusted proxy: the first untrusted hop from the right.
        assert_eq!(client_address(ip("10.0.0.1"), xff, &trusted), ip("5.6.7.8"));
        // Anyone else's header is ignored.
        assert_eq!(client_address(ip("9.9.9.9"), xff, &trusted), ip("9.9.9.9"));
        assert_eq!(
            client_address(ip("10.0.0.1"), None, &trusted),
            ip("10.0.0.1")
        );
        assert_eq!(
            client_address(ip("10.0.0.1"), Some("junk, 5.6.7.8"), &trusted),
            ip("5.6.7.8")
        );
        assert_eq!(
            client_address(ip("10.0.0.1"), Some("5.6.7.8, junk"), &trusted),
            ip("10.0.0.1")
        );
    }

    #[test]
    fn an_ipv6_64_is_one_requester_and_users_are_by_name() {
        assert_eq!(
            requester(None, ip("2001:db8:1:2:aaaa::1")),
            requester(None, ip("2001:db8:1:2:bbbb::9"))
        );
        assert_ne!(
            requester(None, ip("2001:db8:1:2::1")),
            requester(None, ip("2001:db8:1:3::1"))
        );
        assert_eq!(requester(Some("bob"), ip("1.2.3.4")), "user bob");
    }

    #[test]
    fn budgets_count_per_hour() {
        let b = Budgets::default();
        assert!(b.available("a", 2, 7));
        b.charge("a", 7);
        b.charge("a", 7);
        assert!(!b.available("a", 2, 7));
        assert!(b.available("b", 2, 7));
        assert!(b.available("a", 2, 8), "a new hour starts afresh");
        assert!(!b.available("a", 0, 9), "a budget of 0 allows nothing");
    }
}

/// Who a request is charged to: `who` as `requester` names it, and the signed-in user (whose
/// own budget an admin may have set).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Requester {
    pub who: String,
    pub user: Option<String>,
}

impl Requester {
    /// The requester of a request from `peer` (none: in-process) with these headers and
    /// this viewer; `X-Forwarded-For` counts only from `trusted` proxies.
    #[must_use]
    pub fn of(
        peer: Option<IpAddr>,
        forwarded_for: Option<&str>,
        trusted: &[Cidr],
        user: Option<&str>,
    ) -> Self {
        let who = peer.map_or_else(
            || "in-process".to_owned(),
            |p| requester(user, client_address(p, forwarded_for, trusted)),
        );
        Requester {
            who,
            user: user.map(str::to_owned),
        }
    }
}
