//! The rule a recipient's `notify_url` must meet to be published: an
//! absolute `https` URL with a host and no credentials, or plain `http` to
//! a loopback host (a development setup). Which addresses a host may
//! resolve to is decided at delivery, where the operator's configuration
//! is known (`consumers/src/recipient_address.rs`): this rule is only what
//! holds everywhere.

use url::{Host, Url};

/// Why a `notify_url` is refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{0}")]
pub struct NotifyUrlDefect(pub String);

/// Checks `text` against the rule above.
pub fn check_notify_url(text: &str) -> Result<Url, NotifyUrlDefect> {
    let defect = |s: &str| Err(NotifyUrlDefect(s.to_owned()));
    let Ok(url) = Url::parse(text) else {
        return defect("not an absolute URL");
    };
    if !url.username().is_empty() || url.password().is_some() {
        return defect("a notify_url may not carry credentials (user:password@)");
    }
    if url.fragment().is_some() {
        return defect("a notify_url may not have a fragment");
    }
    let Some(host) = url.host() else {
        return defect("a notify_url needs a host");
    };
    match url.scheme() {
        "https" => Ok(url),
        "http" if is_loopback_host(&host) => Ok(url),
        "http" => defect("plain http is allowed only to a loopback host; use https"),
        _ => defect("only https (or http to a loopback host) URLs are delivered to"),
    }
}

/// `localhost`, 127.0.0.0/8 or ::1.
pub fn is_loopback_host(host: &Host<&str>) -> bool {
    match host {
        Host::Domain(d) => d.eq_ignore_ascii_case("localhost"),
        Host::Ipv4(ip) => ip.is_loopback(),
        Host::Ipv6(ip) => ip.is_loopback(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn https_anywhere_and_http_only_to_loopback() {
        for ok in [
            "https://partner.example/hooks/consent",
            "https://10.0.0.5:8443/x",
            "http://127.0.0.1:9000/hook",
            "http://localhost/hook",
            "http://[::1]:80/",
        ] {
            assert!(check_notify_url(ok).is_ok(), "{ok}");
        }
        for bad in [
            "http://169.254.169.254/latest/meta-data/",
            "file:///etc/passwd",
            "gopher://example.com/",
            "http://partner.example/hook",
            "https://user:pw@partner.example/",
            "https://partner.example/#frag",
            "partner.example/hook",
            "https://",
        ] {
            assert!(check_notify_url(bad).is_err(), "{bad}");
        }
    }
}
