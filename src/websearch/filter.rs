//! The admin's domain list for search results (`web.search.domain.filter_list`):
//! plain entries form an allow list, entries starting with `!` a block
//! list. A host matches an entry when it is the entry or a subdomain of it
//! (on label boundaries); an entry that is an address or a CIDR range
//! matches the result's literal address.

use std::net::IpAddr;

use super::SearchResult;

/// The allow and block entries of a filter list, cleaned.
fn split(list: &[String]) -> (Vec<String>, Vec<String>) {
    let mut allow = Vec::new();
    let mut block = Vec::new();
    for raw in list {
        let entry = raw.trim();
        let (blocked, entry) = match entry.strip_prefix('!') {
            Some(rest) => (true, rest.trim()),
            None => (false, entry),
        };
        let entry = entry.trim_end_matches('.').to_ascii_lowercase();
        if entry.is_empty() {
            continue;
        }
        if blocked {
            block.push(entry);
        } else {
            allow.push(entry);
        }
    }
    (allow, block)
}

/// An address range written as `a.b.c.d/n`, `::1/128` or a bare address.
fn network(entry: &str) -> Option<(IpAddr, u8)> {
    let (addr, bits) = match entry.split_once('/') {
        Some((a, b)) => (a, Some(b.parse::<u8>().ok()?)),
        None => (entry, None),
    };
    let ip: IpAddr = addr.trim_matches(|c| c == '[' || c == ']').parse().ok()?;
    let max = if ip.is_ipv4() { 32 } else { 128 };
    let bits = bits.unwrap_or(max);
    (bits <= max).then_some((ip, bits))
}

fn in_network(host: IpAddr, (net, bits): (IpAddr, u8)) -> bool {
    match (host, net) {
        (IpAddr::V4(h), IpAddr::V4(n)) => {
            let mask = if bits == 0 {
                0
            } else {
                u32::MAX << (32 - bits)
            };
            u32::from(h) & mask == u32::from(n) & mask
        }
        (IpAddr::V6(h), IpAddr::V6(n)) => {
            let mask = if bits == 0 {
                0
            } else {
                u128::MAX << (128 - bits)
            };
            u128::from(h) & mask == u128::from(n) & mask
        }
        _ => false,
    }
}

/// Whether `host` (lower-case, no trailing dot) matches one filter entry.
fn matches(host: &str, entry: &str) -> bool {
    if let Some(net) = network(entry) {
        return host
            .trim_matches(|c| c == '[' || c == ']')
            .parse::<IpAddr>()
            .is_ok_and(|ip| in_network(ip, net));
    }
    host == entry
        || host
            .strip_suffix(entry)
            .is_some_and(|head| head.ends_with('.'))
}

/// Whether a result's host passes the list (an empty list passes all).
pub fn host_allowed(host: &str, list: &[String]) -> bool {
    let (allow, block) = split(list);
    let host = host.trim_end_matches('.').to_ascii_lowercase();
    if !allow.is_empty() && !allow.iter().any(|e| matches(&host, e)) {
        return false;
    }
    !block.iter().any(|e| matches(&host, e))
}

/// The results whose link is an http(s) URL with a host the list allows.
pub fn apply(results: Vec<SearchResult>, list: &[String]) -> Vec<SearchResult> {
    if list
        .iter()
        .all(|e| e.trim().trim_start_matches('!').is_empty())
    {
        return results;
    }
    results
        .into_iter()
        .filter(|r| {
            reqwest::Url::parse(&r.link).ok().is_some_and(|u| {
                matches!(u.scheme(), "http" | "https")
                    && u.host_str().is_some_and(|h| host_allowed(h, list))
            })
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn list(v: &[&str]) -> Vec<String> {
        v.iter().map(|s| s.to_string()).collect()
    }

    #[test]
    fn allow_and_block_on_label_boundaries() {
        let l = list(&["corp.com", "!bad.corp.com"]);
        assert!(host_allowed("corp.com", &l));
        assert!(host_allowed("api.corp.com", &l));
        assert!(!host_allowed("evilcorp.com", &l));
        assert!(!host_allowed("x.bad.corp.com", &l));
        let only_block = list(&["!example.org"]);
        assert!(host_allowed("example.com", &only_block));
        assert!(!host_allowed("www.example.org", &only_block));
        assert!(host_allowed("anything", &[]));
    }

    #[test]
    fn address_ranges() {
        let l = list(&["!10.0.0.0/8"]);
        assert!(!host_allowed("10.2.3.4", &l));
        assert!(host_allowed("11.2.3.4", &l));
        assert!(host_allowed("10.example.com", &l));
    }

    #[test]
    fn results_without_a_usable_link_go_when_filtering() {
        let r = |l: &str| SearchResult {
            link: l.into(),
            title: None,
            snippet: None,
        };
        let kept = apply(
            vec![r("https://a.com/x"), r("notaurl"), r("https://b.com/")],
            &list(&["a.com"]),
        );
        assert_eq!(kept.len(), 1);
        assert_eq!(kept[0].link, "https://a.com/x");
        assert_eq!(apply(vec![r("notaurl")], &[]).len(), 1);
    }
}
