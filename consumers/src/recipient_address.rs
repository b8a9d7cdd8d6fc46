//! Which addresses the notifier may call: the defence against a policy
//! (or a DNS record) that points a webhook at the ledger's own network.
//!
//! A recipient URL must be `https`, or plain `http` to a loopback host when
//! the operator allows it (`--notify-allow-loopback-http`). Every address
//! a host resolves to is checked when the request is made, inside the HTTP
//! client's resolver, so a name that resolves elsewhere between publication
//! and delivery (DNS rebinding) is caught too; redirects are not followed.
//! Refused unless inside a network the operator allows
//! (`--notify-allow-network CIDR`): loopback (unless the loopback flag),
//! unspecified, link-local (which holds cloud metadata services such as
//! 169.254.169.254 and fd00:ec2::254's fe80 peers), private (RFC 1918,
//! unique-local fc00::/7), shared (100.64.0.0/10), multicast, broadcast
//! and reserved ranges.

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};
use std::sync::Arc;

use ipnet::IpNet;
use reqwest::dns::{Addrs, Name, Resolve, Resolving};
use url::Url;

/// The operator's choices; the default allows public addresses only.
#[derive(Debug, Clone, Default)]
pub struct AddressPolicy {
    /// Plain `http` (and any scheme) to loopback addresses: for tests and
    /// a recipient on the same host.
    pub allow_loopback_http: bool,
    /// Networks allowed although private, link-local or reserved.
    pub allowed_networks: Vec<IpNet>,
}

impl AddressPolicy {
    /// Whether `url` may be called at all (scheme, credentials, literal
    /// addresses); names are checked again as they resolve.
    pub fn check_url(&self, text: &str) -> Result<Url, String> {
        let url = Url::parse(text).map_err(|_| "not an absolute URL".to_owned())?;
        if !url.username().is_empty() || url.password().is_some() {
            return Err("a recipient URL may not carry credentials".into());
        }
        let host = url.host().ok_or("a recipient URL needs a host")?;
        let loopback = consent_domain::notify_url::is_loopback_host(&host);
        match url.scheme() {
            "https" => {}
            "http" if loopback && self.allow_loopback_http => {}
            "http" if loopback => {
                return Err("plain http to loopback is refused unless the notifier runs with --notify-allow-loopback-http".into())
            }
            "http" => return Err("plain http is refused: recipients must use https".into()),
            other => return Err(format!("the {other:?} scheme is refused: recipients must use https")),
        }
        match host {
            url::Host::Ipv4(ip) => self.check_ip(IpAddr::V4(ip))?,
            url::Host::Ipv6(ip) => self.check_ip(IpAddr::V6(ip))?,
            url::Host::Domain(_) => {}
        }
        Ok(url)
    }

    /// Whether an address (literal or resolved) may be called.
    pub fn check_ip(&self, ip: IpAddr) -> Result<(), String> {
        let ip = match ip {
            IpAddr::V6(v6) => v6.to_ipv4_mapped().map_or(ip, IpAddr::V4),
            v4 => v4,
        };
        if self.allowed_networks.iter().any(|n| n.contains(&ip)) {
            return Ok(());
        }
        if ip.is_loopback() {
            return if self.allow_loopback_http {
                Ok(())
            } else {
                Err(format!("{ip} is a loopback address"))
            };
        }
        let kind = match ip {
            IpAddr::V4(v4) => v4_kind(v4),
            IpAddr::V6(v6) => v6_kind(v6),
        };
        match kind {
            None => Ok(()),
            Some(kind) => Err(format!(
                "{ip} is a {kind} address (allow its network with --notify-allow-network if it is meant)"
            )),
        }
    }

    /// The HTTP client's resolver, refusing names that resolve to a
    /// refused address.
    pub fn resolver(self: &Arc<Self>) -> Arc<GuardedResolver> {
        Arc::new(GuardedResolver(self.clone()))
    }
}

fn v4_kind(ip: Ipv4Addr) -> Option<&'static str> {
    let [a, b, ..] = ip.octets();
    if ip.is_unspecified() || a == 0 {
        Some("unspecified")
    } else if ip.is_link_local() {
        Some("link-local (cloud metadata)")
    } else if ip.is_private() {
        Some("private")
    } else if a == 100 && (64..128).contains(&b) {
        Some("shared (carrier-grade NAT)")
    } else if ip.is_multicast() || ip.is_broadcast() || a >= 240 {
        Some("multicast, broadcast or reserved")
    } else if ip.is_documentation() || (a == 198 && (b == 18 || b == 19)) {
        Some("documentation or benchmarking")
    } else {
        None
    }
}

fn v6_kind(ip: Ipv6Addr) -> Option<&'static str> {
    let first = ip.segments()[0];
    if ip.is_unspecified() {
        Some("unspecified")
    } else if first & 0xffc0 == 0xfe80 {
        Some("link-local")
    } else if first & 0xfe00 == 0xfc00 {
        Some("unique-local (private)")
    } else if ip.is_multicast() {
        Some("multicast")
    } else if first == 0x2001 && ip.segments()[1] == 0x0db8 {
        Some("documentation")
    } else {
        None
    }
}

/// A [`Resolve`] that resolves with the system resolver and refuses the
/// whole name if any of its addresses is refused.
pub struct GuardedResolver(Arc<AddressPolicy>);

impl Resolve for GuardedResolver {
    fn resolve(&self, name: Name) -> Resolving {
        let policy = self.0.clone();
        Box::pin(async move {
            let found: Vec<SocketAddr> =
                tokio::net::lookup_host((name.as_str(), 0)).await?.collect();
            for addr in &found {
                policy.check_ip(addr.ip()).map_err(|reason| {
                    Box::new(std::io::Error::new(
                        std::io::ErrorKind::PermissionDenied,
                        format!("{} resolves to a refused address: {reason}", name.as_str()),
                    )) as Box<dyn std::error::Error + Send + Sync>
                })?;
            }
            Ok(Box::new(found.into_iter()) as Addrs)
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn public_https_passes_and_the_ledger_network_does_not() {
        let p = AddressPolicy::default();
        assert!(p.check_url("https://93.184.215.14/hook").is_ok());
        for bad in [
            "http://169.254.169.254/latest/meta-data/",
            "https://169.254.169.254/",
            "https://10.1.2.3/",
            "https://192.168.0.1/",
            "https://172.20.0.1/",
            "https://100.64.0.1/",
            "https://127.0.0.1/",
            "https://[::1]/",
            "https://[fe80::1]/",
            "https://[fd00:ec2::254]/",
            "https://[::ffff:10.0.0.1]/",
            "https://0.0.0.0/",
            "file:///etc/passwd",
            "http://example.com/",
        ] {
            assert!(p.check_url(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn the_operator_can_allow_loopback_http_and_named_networks() {
        let p = AddressPolicy {
            allow_loopback_http: true,
            allowed_networks: vec!["10.0.0.0/8".parse().unwrap()],
        };
        assert!(p.check_url("http://127.0.0.1:9000/hook").is_ok());
        assert!(p.check_url("https://10.1.2.3/").is_ok());
        assert!(
            p.check_url("http://10.1.2.3/").is_err(),
            "http stays loopback-only"
        );
        assert!(p.check_url("https://169.254.169.254/").is_err());
    }
}
