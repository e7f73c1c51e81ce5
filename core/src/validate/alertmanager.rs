//! Checks of `spec.observability.alertmanager`: Alertmanager needs the addon
//! Prometheus, and its receivers must be stated (a webhook, email through a
//! site relay, or explicitly none). Every value becomes a value of
//! Alertmanager's configuration, so URLs, host names and addresses are
//! checked strictly; credentials are refused here, as they belong in the
//! secrets file.

use std::net::Ipv4Addr;

use super::values::{host_port_problem, is_dns_subdomain, quantity};
use crate::diag::{Code, Diagnostics};
use crate::spec::Site;

const P: &str = "spec.observability.alertmanager";

/// Why a webhook URL is not one Alertmanager should be given, if it is not:
/// `http(s)://HOST[:PORT][/PATH]`, HOST a lowercase DNS name or an IPv4
/// address, PATH of unreserved characters, `/` and `%XX` escapes, no user
/// name, password, query or fragment.
pub fn webhook_url_problem(url: &str) -> Option<String> {
    let Some((scheme, rest)) = url.split_once("://") else {
        return Some("it is not a URL: write it as https://host[:port]/path".into());
    };
    if scheme != "http" && scheme != "https" {
        return Some(format!("the scheme `{scheme}` is not http or https"));
    }
    let (authority, path) = match rest.find('/') {
        Some(i) => (&rest[..i], &rest[i..]),
        None => (rest, ""),
    };
    if authority.contains('@') {
        return Some("it carries a user name or password: put a token in the secrets file (alertmanager.webhookBearerToken) and set bearerToken: true".into());
    }
    if url.contains('?') || url.contains('#') {
        return Some("it has a query or fragment: Alertmanager's configuration would show any token in it; use bearerToken instead".into());
    }
    let host = match authority.rsplit_once(':') {
        Some((h, port)) => {
            if !matches!(port.parse::<u32>(), Ok(p) if (1..=65535).contains(&p)) {
                return Some(format!("`{port}` is not a port number (1 to 65535)"));
            }
            h
        }
        None => authority,
    };
    if host.parse::<Ipv4Addr>().is_err() && !is_dns_subdomain(host) {
        return Some(format!("`{host}` is neither an IPv4 address nor a lowercase DNS name"));
    }
    let b = path.as_bytes();
    let mut i = 0;
    while i < b.len() {
        let c = b[i];
        if c == b'%' {
            if !(b.get(i + 1).is_some_and(u8::is_ascii_hexdigit) && b.get(i + 2).is_some_and(u8::is_ascii_hexdigit)) {
                return Some("a `%` in the path is not followed by two hex digits".into());
            }
            i += 3;
            continue;
        }
        if !(c.is_ascii_alphanumeric() || b"-._~/".contains(&c)) {
            return Some(format!(
                "the path has `{}`: use letters, digits, `-._~/` and %XX escapes",
                c as char
            ));
        }
        i += 1;
    }
    None
}

/// A mail address as Alertmanager's `from` and `to` take it here: a local
/// part of letters, digits and `.!#$%&'*+-/=?^_{|}~` (not starting or ending
/// with a dot), `@`, a lowercase DNS name.
pub fn is_mail_address(s: &str) -> bool {
    let Some((local, domain)) = s.rsplit_once('@') else {
        return false;
    };
    !local.is_empty()
        && local.len() <= 64
        && !local.starts_with('.')
        && !local.ends_with('.')
        && !local.contains("..")
        && local
            .bytes()
            .all(|c| c.is_ascii_alphanumeric() || b".!#$%&'*+-/=?^_{|}~".contains(&c))
        && is_dns_subdomain(domain)
}

fn check_ca(d: &mut Diagnostics, path: String, pem: &Option<String>) {
    if let Some(pem) = pem
        && let Err(e) = crate::pki::cert::from_pem(pem)
    {
        d.error(
            Code::Alertmanager,
            path,
            format!("not a PEM certificate: {}", crate::error_text(&e)),
            "paste the CA certificate, from -----BEGIN CERTIFICATE----- to -----END CERTIFICATE-----",
        );
    }
}

pub(super) fn check(site: &Site, d: &mut Diagnostics) {
    let obs = &site.spec.observability;
    let am = &obs.alertmanager;
    // Off, the README says that the alerts reach no one (a warning here would
    // fire on every lab spec).
    if !am.enabled {
        return;
    }
    if !obs.addons.prometheus {
        d.error(
            Code::Alertmanager,
            format!("{P}.enabled"),
            "Alertmanager receives its alerts from the addon Prometheus, which is off",
            "turn spec.observability.addons.prometheus on, or Alertmanager off",
        );
    }
    if !(1..=7).contains(&am.replicas) {
        d.error(
            Code::Alertmanager,
            format!("{P}.replicas"),
            format!("{} replicas: Alertmanager needs 1 to 7", am.replicas),
            "use 2 or 3: the pods form a cluster that shares silences and sends each notification once",
        );
    } else if am.replicas == 1 {
        d.warning(
            Code::Alertmanager,
            format!("{P}.replicas"),
            "a single Alertmanager: while it restarts or its node is down, no alert is delivered",
            "use 2 or 3 replicas",
        );
    }
    let r = &am.receivers;
    if r.none {
        if r.webhook.is_some() || r.email.is_some() {
            d.error(
                Code::Alertmanager,
                format!("{P}.receivers.none"),
                "`none: true` is given together with a receiver",
                "remove `none: true` to deliver to the receiver given, or remove the receiver",
            );
        } else {
            d.warning(
                Code::Alertmanager,
                format!("{P}.receivers.none"),
                "alerts are delivered to no one: they show only in Alertmanager's UI",
                "add a webhook or an email receiver for a production site",
            );
        }
    } else if r.webhook.is_none() && r.email.is_none() {
        d.error(
            Code::Alertmanager,
            format!("{P}.receivers"),
            "Alertmanager runs but no receiver is stated",
            "state where alerts go: `webhook: {url: https://...}`, `email: {smarthost: relay:587, from: ..., to: [...]}`, \
             or `none: true` to keep them in Alertmanager's UI only",
        );
    }
    if let Some(w) = &r.webhook {
        let path = format!("{P}.receivers.webhook");
        if let Some(why) = webhook_url_problem(&w.url) {
            d.error(
                Code::Alertmanager,
                format!("{path}.url"),
                format!("`{}` is not a webhook URL Alertmanager can use: {why}", w.url),
                "write it as https://host[:port]/path",
            );
        } else if w.bearer_token && w.url.starts_with("http://") {
            d.error(
                Code::Alertmanager,
                format!("{path}.bearerToken"),
                "the bearer token would cross the network in clear over http://",
                "use an https:// URL (with caCertificate for a site CA), or no token",
            );
        }
        if w.ca_certificate.is_some() && w.url.starts_with("http://") {
            d.error(
                Code::Alertmanager,
                format!("{path}.caCertificate"),
                "a CA certificate for an http:// URL",
                "use an https:// URL, or remove caCertificate",
            );
        }
        check_ca(d, format!("{path}.caCertificate"), &w.ca_certificate);
    }
    if let Some(e) = &r.email {
        let path = format!("{P}.receivers.email");
        if let Some(why) = host_port_problem(&e.smarthost) {
            d.error(
                Code::Alertmanager,
                format!("{path}.smarthost"),
                format!("`{}` is not a relay address: {why}", e.smarthost),
                "write the site's SMTP relay as host:port, e.g. `smtp.example.internal:587`",
            );
        }
        if !is_mail_address(&e.from) {
            d.error(
                Code::Alertmanager,
                format!("{path}.from"),
                format!("`{}` is not a mail address", e.from),
                "write it as name@domain, e.g. `alertmanager@example.internal`",
            );
        }
        if e.to.is_empty() {
            d.error(
                Code::Alertmanager,
                format!("{path}.to"),
                "no recipient",
                "list who gets the alerts, e.g. `[oncall@example.internal]`",
            );
        }
        for (i, to) in e.to.iter().enumerate() {
            if !is_mail_address(to) {
                d.error(
                    Code::Alertmanager,
                    format!("{path}.to[{i}]"),
                    format!("`{to}` is not a mail address"),
                    "write it as name@domain, e.g. `oncall@example.internal`",
                );
            }
        }
        if let Some(u) = &e.auth_username
            && (!(1..=256).contains(&u.len()) || !u.bytes().all(|c| c.is_ascii_graphic()))
        {
            d.error(
                Code::Alertmanager,
                format!("{path}.authUsername"),
                format!("`{u}` is not a user name"),
                "1 to 256 printable characters without spaces; the password goes in the secrets file",
            );
        }
        if !e.require_tls && e.auth_username.is_some() {
            d.warning(
                Code::Alertmanager,
                format!("{path}.requireTLS"),
                "the relay login may cross the network in clear (requireTLS is false)",
                "set requireTLS: true; the relay must then offer STARTTLS (or listen with TLS on 465)",
            );
        }
        if e.ca_certificate.is_some() && !e.require_tls {
            d.error(
                Code::Alertmanager,
                format!("{path}.caCertificate"),
                "a CA certificate while requireTLS is false",
                "set requireTLS: true, or remove caCertificate",
            );
        }
        check_ca(d, format!("{path}.caCertificate"), &e.ca_certificate);
    }
    let s = &am.storage;
    if let Some(class) = &s.storage_class_name
        && !is_dns_subdomain(class)
    {
        d.error(
            Code::Alertmanager,
            format!("{P}.storage.storageClassName"),
            format!("`{class}` is not a StorageClass name"),
            "use the name of a StorageClass of the cluster (`kubectl get storageclass`): lowercase letters, digits, `-` and `.`",
        );
    }
    match quantity(&s.size) {
        Some(b) if b >= 1024.0 * 1024.0 && s.size.bytes().all(|c| c.is_ascii_alphanumeric() || c == b'.') => {}
        _ => d.error(
            Code::Alertmanager,
            format!("{P}.storage.size"),
            format!("`{}` is not a volume size", s.size),
            "write a Kubernetes quantity of at least 1Mi, e.g. `1Gi`",
        ),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn webhook_urls() {
        for ok in [
            "https://alerts.example.internal/hook",
            "http://10.0.0.7:8080/api/v1/alerts",
            "https://hooks.ops.corp:8443",
            "https://h.example/a%2Fb",
        ] {
            assert_eq!(webhook_url_problem(ok), None, "{ok}");
        }
        for bad in [
            "alerts.example.internal/hook",
            "ftp://h/x",
            "https://user:pw@h/x",
            "https://h/x?token=1",
            "https://h/x#f",
            "https://H.example/x",
            "https://h:0/x",
            "https://h:99999/x",
            "https://h/a b",
            "https://h/a\nb",
            "https://h/a%zz",
            "https://h/a%2",
            "https:///x",
            "https://h/$(reboot)",
        ] {
            assert!(webhook_url_problem(bad).is_some(), "{bad}");
        }
    }

    #[test]
    fn mail_addresses() {
        for ok in ["oncall@example.internal", "a.b+c@x", "alertmanager@mail.site.corp"] {
            assert!(is_mail_address(ok), "{ok}");
        }
        for bad in [
            "",
            "x",
            "@x",
            "a@",
            "a@B.example",
            "a b@x",
            ".a@x",
            "a..b@x",
            "a@x\nBcc: y@z",
            "<a@x>",
            "a@x,b@y",
        ] {
            assert!(!is_mail_address(bad), "{bad}");
        }
    }
}
