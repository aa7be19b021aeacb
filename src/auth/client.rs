//! The client address a request came from, for throttling (the extractor is
//! `ClientIp` in src/api/client.rs).
//!
//! It is the TCP peer, unless the peer is a proxy listed in
//! `FORWARDED_ALLOW_IPS`: then the right-most `X-Forwarded-For` entry that is
//! not itself a trusted proxy (the left-most when all are), as uvicorn reads it.

use std::net::IpAddr;

fn trusted(list: &[String], ip: &str) -> bool {
    list.iter().any(|t| t == "*" || t == ip)
}

/// The client of a request from `peer` carrying `forwarded_for`.
pub fn client_ip(peer: IpAddr, forwarded_for: Option<&str>, trusted_proxies: &[String]) -> IpAddr {
    if !trusted(trusted_proxies, &peer.to_string()) {
        return peer;
    }
    let Some(header) = forwarded_for else {
        return peer;
    };
    let hops: Vec<&str> = header
        .split(',')
        .map(str::trim)
        .filter(|h| !h.is_empty())
        .collect();
    let chosen = hops
        .iter()
        .rev()
        .find(|h| !trusted(trusted_proxies, h))
        .or(hops.first());
    chosen.and_then(|h| h.parse().ok()).unwrap_or(peer)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn forwarded_for_only_from_trusted_proxies() {
        let peer: IpAddr = "10.0.0.1".parse().unwrap();
        let none: Vec<String> = vec![];
        assert_eq!(client_ip(peer, Some("1.2.3.4"), &none), peer);
        let proxy = vec!["10.0.0.1".to_string()];
        let c = client_ip(peer, Some("9.9.9.9, 1.2.3.4"), &proxy);
        assert_eq!(c, "1.2.3.4".parse::<IpAddr>().unwrap());
        let any = vec!["*".to_string()];
        assert_eq!(
            client_ip(peer, Some("9.9.9.9, 1.2.3.4"), &any),
            "9.9.9.9".parse::<IpAddr>().unwrap()
        );
        assert_eq!(client_ip(peer, Some("garbage"), &proxy), peer);
        assert_eq!(client_ip(peer, None, &proxy), peer);
    }
}
