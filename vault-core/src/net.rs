//! CIDR blocks, for roles and tokens bound to the networks they may be used from.

use std::net::IpAddr;

/// A network: an address and a prefix length.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Cidr {
    addr: IpAddr,
    prefix: u8,
}

impl Cidr {
    /// Parses `10.0.0.0/8`, `::1/128`, or a bare address (a /32 or /128).
    pub fn parse(text: &str) -> Result<Cidr, String> {
        let text = text.trim();
        let (addr, prefix) = match text.split_once('/') {
            Some((a, p)) => (a, Some(p)),
            None => (text, None),
        };
        let addr: IpAddr = addr
            .parse()
            .map_err(|_| format!("{text:?} is not an IP address or CIDR block"))?;
        let max = if addr.is_ipv4() { 32 } else { 128 };
        let prefix = match prefix {
            Some(p) => p
                .parse::<u8>()
                .ok()
                .filter(|p| *p <= max)
                .ok_or_else(|| format!("{text:?} has an invalid prefix length"))?,
            None => max,
        };
        Ok(Cidr { addr, prefix })
    }

    /// True if `ip` is inside this block.
    pub fn contains(&self, ip: IpAddr) -> bool {
        let ip = match ip {
            IpAddr::V6(v6) => v6
                .to_ipv4_mapped()
                .map(IpAddr::V4)
                .unwrap_or(IpAddr::V6(v6)),
            v4 => v4,
        };
        match (self.addr, ip) {
            (IpAddr::V4(net), IpAddr::V4(ip)) => {
                let mask = u32::MAX
                    .checked_shl(32 - u32::from(self.prefix))
                    .unwrap_or(0);
                u32::from(net) & mask == u32::from(ip) & mask
            }
            (IpAddr::V6(net), IpAddr::V6(ip)) => {
                let mask = u128::MAX
                    .checked_shl(128 - u32::from(self.prefix))
                    .unwrap_or(0);
                u128::from(net) & mask == u128::from(ip) & mask
            }
            _ => false,
        }
    }

    /// True if every address of this block is inside `outer` (a child token's
    /// blocks must be, to narrow its parent's binding and never widen it).
    /// IPv4-mapped IPv6 blocks count as the IPv4 blocks they map.
    pub fn within(&self, outer: &Cidr) -> bool {
        let (inner, outer) = (self.unmapped(), outer.unmapped());
        inner.addr.is_ipv4() == outer.addr.is_ipv4()
            && inner.prefix >= outer.prefix
            && outer.contains(inner.addr)
    }

    /// `::ffff:a.b.c.d/n` (n >= 96) as `a.b.c.d/(n - 96)`; any other block as it is.
    fn unmapped(self) -> Cidr {
        match self.addr {
            IpAddr::V6(v6) if self.prefix >= 96 => match v6.to_ipv4_mapped() {
                Some(v4) => Cidr {
                    addr: IpAddr::V4(v4),
                    prefix: self.prefix - 96,
                },
                None => self,
            },
            _ => self,
        }
    }
}

/// True if `ip` is in any of `blocks`; a block that does not parse matches nothing.
pub fn any_contains(blocks: &[String], ip: IpAddr) -> bool {
    blocks
        .iter()
        .filter_map(|b| Cidr::parse(b).ok())
        .any(|c| c.contains(ip))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn membership() {
        let ip = |s: &str| s.parse::<IpAddr>().unwrap();
        let lan = Cidr::parse("10.1.0.0/16").unwrap();
        assert!(lan.contains(ip("10.1.200.3")));
        assert!(!lan.contains(ip("10.2.0.1")));
        assert!(Cidr::parse("127.0.0.1").unwrap().contains(ip("127.0.0.1")));
        assert!(
            Cidr::parse("127.0.0.1")
                .unwrap()
                .contains(ip("::ffff:127.0.0.1"))
        );
        assert!(Cidr::parse("0.0.0.0/0").unwrap().contains(ip("8.8.8.8")));
        assert!(Cidr::parse("::1/128").unwrap().contains(ip("::1")));
        assert!(Cidr::parse("10.0.0.0/33").is_err());
        assert!(Cidr::parse("nonsense").is_err());
        assert!(!any_contains(&["bad".into()], ip("10.0.0.1")));
    }

    #[test]
    fn nesting() {
        let c = |s: &str| Cidr::parse(s).unwrap();
        assert!(c("10.1.0.0/16").within(&c("10.0.0.0/8")));
        assert!(c("10.0.0.0/8").within(&c("10.0.0.0/8")));
        assert!(c("10.1.2.3").within(&c("10.1.0.0/16")));
        assert!(!c("10.0.0.0/8").within(&c("10.1.0.0/16")), "wider");
        assert!(!c("11.0.0.0/16").within(&c("10.0.0.0/8")), "elsewhere");
        assert!(!c("0.0.0.0/0").within(&c("127.0.0.1")));
        // Host bits do not make a wide block look narrow.
        assert!(!c("10.1.2.3/8").within(&c("10.1.0.0/16")));
        assert!(c("::ffff:10.1.0.0/112").within(&c("10.0.0.0/8")));
        assert!(c("10.1.0.0/16").within(&c("::ffff:10.0.0.0/104")));
        assert!(!c("::1").within(&c("127.0.0.0/8")));
        assert!(c("fd00::1").within(&c("fd00::/8")));
        assert!(!c("fd00::/8").within(&c("fd00::1")));
    }
}
