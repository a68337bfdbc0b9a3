//! The upstream address guard (SSRF): unless `allow_private_upstreams` is on, upstream requests
//! may not reach private, loopback, link-local or otherwise internal addresses. The check runs on
//! the addresses a host name resolves to when connecting (a DNS answer can change after a channel
//! was saved), and on IP literals before sending.

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};

use reqwest::dns::{Addrs, Name, Resolve, Resolving};

/// Whether an address is internal: private, loopback, link-local, CGNAT, unspecified, multicast,
/// broadcast, documentation or unique-local. An IPv6 address that carries an IPv4 one
/// (IPv4-mapped or -compatible, NAT64 `64:ff9b::/96`, 6to4 `2002::/16`) is checked as that
/// IPv4 address: through a NAT64 gateway `[64:ff9b::a9fe:a9fe]` is 169.254.169.254.
pub fn is_internal(ip: IpAddr) -> bool {
    match ip {
        IpAddr::V4(v4) => is_internal_v4(v4),
        IpAddr::V6(v6) => match embedded_v4(v6) {
            Some(v4) => is_internal_v4(v4),
            None => is_internal_v6(v6),
        },
    }
}

/// The IPv4 address an IPv6 address carries, if it is one of the forms that do.
fn embedded_v4(ip: Ipv6Addr) -> Option<Ipv4Addr> {
    let v4 = |high: u16, low: u16| {
        let [a, b] = high.to_be_bytes();
        let [c, d] = low.to_be_bytes();
        Ipv4Addr::new(a, b, c, d)
    };
    match ip.segments() {
        // IPv4-mapped `::ffff:a.b.c.d`, the deprecated IPv4-compatible `::a.b.c.d` and
        // SIIT's IPv4-translated `::ffff:0:a.b.c.d`
        [0, 0, 0, 0, 0, 0xffff | 0, high, low] | [0, 0, 0, 0, 0xffff, 0, high, low] => {
            Some(v4(high, low))
        }
        // NAT64, the well-known prefix
        [0x0064, 0xff9b, 0, 0, 0, 0, high, low] => Some(v4(high, low)),
        // 6to4
        [0x2002, high, low, ..] => Some(v4(high, low)),
        _ => None,
    }
}

fn is_internal_v4(ip: Ipv4Addr) -> bool {
    let [a, b, ..] = ip.octets();
    ip.is_private()
        || ip.is_loopback()
        || ip.is_link_local()
        || ip.is_unspecified()
        || ip.is_broadcast()
        || ip.is_multicast()
        || ip.is_documentation()
        || a == 0
        || (a == 100 && (64..128).contains(&b)) // carrier-grade NAT 100.64.0.0/10
        || (a == 192 && b == 0 && ip.octets()[2] == 0) // IETF protocol assignments
        || (a == 198 && (b & 0xfe) == 18) // benchmarking 198.18.0.0/15 (fake-IP proxies use it)
        || a >= 240 // reserved
}

fn is_internal_v6(ip: Ipv6Addr) -> bool {
    let first = ip.segments()[0];
    ip.is_loopback()
        || ip.is_unspecified()
        || ip.is_multicast()
        || (first & 0xfe00) == 0xfc00 // unique local fc00::/7
        || (first & 0xffc0) == 0xfe80 // link local fe80::/10
        || (first & 0xffc0) == 0xfec0 // site local fec0::/10 (deprecated, still routed inside)
        || (first == 0x0100 && ip.segments()[1..4] == [0, 0, 0]) // discard-only 100::/64
        || (first == 0x2001 && ip.segments()[1] == 0x0db8) // documentation
        || (first == 0x2001 && ip.segments()[1] == 0) // Teredo: an IPv4 address, obfuscated
        || (first == 0x0064 && ip.segments()[1] == 0xff9b && ip.segments()[2] == 1) // local NAT64
}

/// A resolver that drops internal addresses; a host resolving only to such addresses fails.
#[derive(Debug, Clone, Copy, Default)]
pub struct PublicOnlyResolver;

impl Resolve for PublicOnlyResolver {
    fn resolve(&self, name: Name) -> Resolving {
        Box::pin(async move {
            let host = name.as_str().to_owned();
            let found: Vec<SocketAddr> =
                tokio::net::lookup_host((host.as_str(), 0)).await?.collect();
            let public = public_only(&host, found)?;
            let addrs: Addrs = Box::new(public.into_iter());
            Ok(addrs)
        })
    }
}

/// The public addresses among those `host` resolved to; an error when there are none.
pub fn public_only(host: &str, found: Vec<SocketAddr>) -> Result<Vec<SocketAddr>, String> {
    let public: Vec<SocketAddr> = found.into_iter().filter(|a| !is_internal(a.ip())).collect();
    if public.is_empty() {
        return Err(format!(
            "upstream host `{host}` resolves only to private or internal addresses, which \
             `allow_private_upstreams` does not allow"
        ));
    }
    Ok(public)
}

/// Checks a URL's host when it is an IP literal (which no resolver sees).
pub fn check_literal_host(url: &reqwest::Url) -> Result<(), String> {
    let ip = match url.host() {
        Some(url::Host::Ipv4(v4)) => IpAddr::V4(v4),
        Some(url::Host::Ipv6(v6)) => IpAddr::V6(v6),
        _ => return Ok(()),
    };
    if is_internal(ip) {
        return Err(format!(
            "upstream address {ip} is private or internal, which `allow_private_upstreams` does not allow"
        ));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn internal_ranges_are_recognised() {
        for internal in [
            "127.0.0.1",
            "10.1.2.3",
            "172.16.0.1",
            "192.168.1.1",
            "169.254.169.254",
            "100.64.0.1",
            "0.0.0.0",
            "::1",
            "fe80::1",
            "fd00::1",
            "::ffff:127.0.0.1",
            "::ffff:10.0.0.1",
            "::7f00:1",
            "64:ff9b::a9fe:a9fe",
            "64:ff9b::10.0.0.1",
            "64:ff9b:1::1",
            "2002:7f00:1::1",
            "2001:0:4136:e378::1",
            "198.18.0.1",
            "198.19.255.254",
            "fec0::1",
            "::ffff:0:127.0.0.1",
            "100::1",
        ] {
            assert!(
                is_internal(internal.parse().expect("ip")),
                "{internal} is internal"
            );
        }
        for public in [
            "8.8.8.8",
            "1.1.1.1",
            "2606:4700::1111",
            "172.32.0.1",
            "100.128.0.1",
            "64:ff9b::808:808",
            "2002:808:808::1",
            "198.20.0.1",
            "100:1::1",
        ] {
            assert!(
                !is_internal(public.parse().expect("ip")),
                "{public} is public"
            );
        }
    }

    #[tokio::test]
    async fn localhost_does_not_resolve_through_the_guard() {
        let name: Name = "localhost".parse().expect("name");
        let result = PublicOnlyResolver.resolve(name).await;
        assert!(result.is_err(), "localhost resolves only to loopback");
    }

    #[test]
    fn literal_hosts_are_checked() {
        let url: reqwest::Url = "http://169.254.169.254/latest".parse().expect("url");
        assert!(check_literal_host(&url).is_err());
        let url: reqwest::Url = "https://8.8.8.8/v1".parse().expect("url");
        assert!(check_literal_host(&url).is_ok());
    }
}
