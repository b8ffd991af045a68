//! Network prefixes. Consent proofs keep only a truncated IP (/24 for IPv4, /48 for IPv6): enough
//! to show where a submission came from and to rate-limit a network, not enough to name a device.

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

/// The /24 or /48 network an address belongs to, written as CIDR (`203.0.113.0/24`).
pub fn truncated_prefix(ip: IpAddr) -> String {
    match ip {
        IpAddr::V4(v4) => {
            let [a, b, c, _] = v4.octets();
            format!("{}/24", Ipv4Addr::new(a, b, c, 0))
        }
        IpAddr::V6(v6) => {
            if let Some(v4) = v6.to_ipv4_mapped() {
                return truncated_prefix(IpAddr::V4(v4));
            }
            let s = v6.segments();
            format!("{}/48", Ipv6Addr::new(s[0], s[1], s[2], 0, 0, 0, 0, 0))
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn truncates_to_24_and_48() {
        assert_eq!(truncated_prefix("203.0.113.77".parse().unwrap()), "203.0.113.0/24");
        assert_eq!(truncated_prefix("2001:db8:1:2:3::9".parse().unwrap()), "2001:db8:1::/48");
        assert_eq!(truncated_prefix("::ffff:10.1.2.3".parse().unwrap()), "10.1.2.0/24");
    }
}
