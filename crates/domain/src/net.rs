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

/// Whether `ip` is a public unicast address: not loopback, private (RFC 1918, IPv6 unique
/// local), link-local (which holds the cloud metadata service, 169.254.169.254 and
/// fd00:ec2::254), shared (CGNAT), documentation, benchmarking, multicast, reserved or
/// unspecified. IPv4 inside IPv6 (mapped, NAT64) is judged as the IPv4 address. What a webhook may
/// be delivered to (server-side request forgery, OWASP ASVS 5.0 V1.3.6).
pub fn is_public(ip: IpAddr) -> bool {
    match ip {
        IpAddr::V4(v4) => {
            let [a, b, c, _] = v4.octets();
            !(v4.is_unspecified()
                || v4.is_loopback()
                || v4.is_private()
                || v4.is_link_local()
                || v4.is_broadcast()
                || v4.is_multicast()
                || v4.is_documentation()
                || a == 0
                || (a == 100 && (64..128).contains(&b))
                || (a == 192 && b == 0 && c == 0)
                || (a == 198 && (18..20).contains(&b))
                || a >= 240)
        }
        IpAddr::V6(v6) => {
            if let Some(v4) = v6.to_ipv4_mapped() {
                return is_public(IpAddr::V4(v4));
            }
            let s = v6.segments();
            if s[0] == 0x64 && s[1] == 0xff9b && s[2..6] == [0, 0, 0, 0] {
                let [a, b] = s[6].to_be_bytes();
                let [c, d] = s[7].to_be_bytes();
                return is_public(IpAddr::V4(Ipv4Addr::new(a, b, c, d)));
            }
            !(v6.is_unspecified()
                || v6.is_loopback()
                || v6.is_multicast()
                || (s[0] & 0xfe00) == 0xfc00
                || (s[0] & 0xffc0) == 0xfe80
                || (s[0] == 0x2001 && s[1] == 0x0db8)
                || s[0] == 0
                || v6.to_ipv4().is_some())
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ssrf_only_public_unicast_addresses_are_public() {
        for private in [
            "127.0.0.1",
            "10.0.0.1",
            "172.16.5.4",
            "192.168.1.1",
            "169.254.169.254",
            "100.64.0.1",
            "0.0.0.0",
            "224.0.0.1",
            "255.255.255.255",
            "192.0.0.8",
            "198.18.0.1",
            "240.0.0.1",
            "::1",
            "::",
            "fd00:ec2::254",
            "fe80::1",
            "ff02::1",
            "::ffff:10.0.0.1",
            "::ffff:169.254.169.254",
            "64:ff9b::a00:1",
            "2001:db8::1",
            "::127.0.0.1",
        ] {
            assert!(!is_public(private.parse().unwrap()), "{private} counted as public");
        }
        for public in ["93.184.215.14", "1.1.1.1", "2a00:1450:4001:80b::200e", "::ffff:8.8.8.8", "64:ff9b::808:808"] {
            assert!(is_public(public.parse().unwrap()), "{public} counted as not public");
        }
    }

    #[test]
    fn truncates_to_24_and_48() {
        assert_eq!(truncated_prefix("203.0.113.77".parse().unwrap()), "203.0.113.0/24");
        assert_eq!(truncated_prefix("2001:db8:1:2:3::9".parse().unwrap()), "2001:db8:1::/48");
        assert_eq!(truncated_prefix("::ffff:10.1.2.3".parse().unwrap()), "10.1.2.0/24");
    }
}
