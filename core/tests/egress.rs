//! What the rendered egress means: for each egress host, a call from a
//! sidecar with the host's SNI on port 443 is followed through the rendered
//! VirtualServices, DestinationRule and Gateway the way Istio routes it
//! (sidecar: `tls` route by SNI, then the subset's TLS settings; gateway: the
//! server chosen by SNI, then `tcp` routes for a server that terminates TLS
//! and `tls` routes for a PASSTHROUGH one) to where it leaves the mesh.

use meshbundle_core::examples::example;
use meshbundle_core::render::{Inputs, render};
use meshbundle_core::spec::load::load;
use serde_json::Value;

const GW_NS: &str = "istio-egress";
const GW_FQDN: &str = "istio-egressgateway.istio-egress.svc.cluster.local";

fn spec(hosts: &[&str], istio: Option<&str>) -> String {
    let mut s = example("production").unwrap().to_string();
    let anchor = "      namespace: istio-egress\n";
    assert!(s.contains(anchor));
    let list: String = hosts.iter().map(|h| format!("        - {h}\n")).collect();
    s = s.replacen(anchor, &format!("{anchor}      hosts:\n{list}"), 1);
    if let Some(v) = istio {
        assert!(s.contains("  istio:\n    version: 1.30.3\n"));
        s = s.replacen(
            "  istio:\n    version: 1.30.3\n",
            &format!("  istio:\n    version: {v}\n"),
            1,
        );
        // A Kubernetes every catalogued Istio supports.
        s = s.replacen("version: 1.36.5", "version: 1.34.12", 1);
    }
    s
}

fn docs(spec_text: &str) -> Vec<Value> {
    let loaded = load(spec_text);
    let site = loaded.site.unwrap_or_else(|| panic!("{:?}", loaded.diagnostics));
    let tree = render(&site, &Inputs::default()).unwrap();
    let text = String::from_utf8(
        tree.get("manifests/traffic/egress.yaml")
            .expect("egress.yaml")
            .bytes
            .clone(),
    )
    .unwrap();
    text.split("\n---\n")
        .skip(1)
        .map(|d| meshbundle_core::yaml::from_str::<Value>(d).unwrap())
        .collect()
}

fn kind<'a>(docs: &'a [Value], k: &str) -> Vec<&'a Value> {
    docs.iter().filter(|d| d["kind"] == k).collect()
}

fn strs(v: &Value) -> Vec<String> {
    v.as_array()
        .map(|a| a.iter().map(|s| s.as_str().unwrap().to_string()).collect())
        .unwrap_or_default()
}

fn port_of(v: &Value) -> u64 {
    v.as_u64().unwrap()
}

/// Where the stream the gateway receives goes, as Istio's gateway routes it.
fn at_gateway(docs: &[Value], sni: &str, port: u64) -> (String, u64) {
    let gw = kind(docs, "Gateway");
    assert_eq!(gw.len(), 1);
    let gw = gw[0];
    assert_eq!(gw["metadata"]["namespace"], GW_NS);
    assert_eq!(
        gw["spec"]["selector"]["istio"], "egressgateway",
        "the Gateway selects the egress gateway's pods"
    );
    let gw_ref = format!("{GW_NS}/{}", gw["metadata"]["name"].as_str().unwrap());
    // The filter chain is chosen by SNI among the servers on the port.
    let servers: Vec<&Value> = gw["spec"]["servers"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|s| port_of(&s["port"]["number"]) == port && strs(&s["hosts"]).iter().any(|h| h == sni))
        .collect();
    assert_eq!(servers.len(), 1, "exactly one server on port {port} takes SNI {sni}");
    let server = servers[0];
    assert_eq!(server["port"]["protocol"], "TLS");
    let mode = server["tls"]["mode"].as_str().unwrap();
    assert_eq!(
        mode, "ISTIO_MUTUAL",
        "the gateway terminates the sidecar's Istio mTLS, so it knows the caller"
    );
    let server_hosts = strs(&server["hosts"]);
    // A terminated TLS server is routed by the tcp routes of the
    // VirtualServices bound to the gateway whose hosts match the server's;
    // the first matching route wins.
    for vs in kind(docs, "VirtualService") {
        if !strs(&vs["spec"]["gateways"]).contains(&gw_ref)
            || !strs(&vs["spec"]["hosts"]).iter().any(|h| server_hosts.contains(h))
        {
            continue;
        }
        for route in vs["spec"]["tcp"].as_array().into_iter().flatten() {
            let hit = route["match"].as_array().unwrap().iter().any(|m| {
                strs(&m["gateways"]).contains(&gw_ref)
                    && m.get("port").is_none_or(|p| port_of(p) == port)
                    && m.get("sniHosts").is_none()
            });
            if hit {
                let d = &route["route"][0]["destination"];
                return (d["host"].as_str().unwrap().to_string(), port_of(&d["port"]["number"]));
            }
        }
    }
    panic!("no tcp route at the gateway for {sni} on {port}");
}

/// Follows a call from a sidecar to `host:443` with SNI `host`.
fn chain(docs: &[Value], host: &str, gateway_ports: &[u64]) -> (String, u64) {
    let vs: Vec<&Value> = kind(docs, "VirtualService")
        .into_iter()
        .filter(|v| {
            strs(&v["spec"]["gateways"]).iter().any(|g| g == "mesh")
                && strs(&v["spec"]["hosts"]).iter().any(|h| h == host)
        })
        .collect();
    assert_eq!(vs.len(), 1, "one mesh VirtualService for {host}");
    let route = vs[0]["spec"]["tls"]
        .as_array()
        .unwrap()
        .iter()
        .find(|r| {
            r["match"].as_array().unwrap().iter().any(|m| {
                strs(&m["gateways"]).iter().any(|g| g == "mesh")
                    && port_of(&m["port"]) == 443
                    && strs(&m["sniHosts"]).iter().any(|h| h == host)
            })
        })
        .unwrap_or_else(|| panic!("no mesh tls route for {host}"));
    let d = &route["route"][0]["destination"];
    assert_eq!(d["host"], GW_FQDN, "the sidecar sends {host} to the egress gateway");
    let port = port_of(&d["port"]["number"]);
    assert!(
        gateway_ports.contains(&port),
        "port {port} is a port of the gateway's Service {gateway_ports:?}"
    );
    let subset = d["subset"]
        .as_str()
        .unwrap_or_else(|| panic!("the route to the gateway names a subset: {d}"));
    assert!(
        subset.len() <= 63
            && subset
                .bytes()
                .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-'),
        "subset `{subset}` is a DNS label"
    );
    // The sidecar's TLS towards the gateway: the DestinationRule for the
    // gateway's service, subset and port.
    let drs: Vec<&Value> = kind(docs, "DestinationRule")
        .into_iter()
        .filter(|r| r["spec"]["host"] == GW_FQDN)
        .collect();
    assert_eq!(drs.len(), 1);
    let s = drs[0]["spec"]["subsets"]
        .as_array()
        .unwrap()
        .iter()
        .find(|s| s["name"] == subset)
        .expect("the subset exists");
    let pls = s["trafficPolicy"]["portLevelSettings"].as_array().unwrap();
    let tls = &pls
        .iter()
        .find(|p| port_of(&p["port"]["number"]) == port)
        .expect("settings for the port")["tls"];
    assert_eq!(tls["mode"], "ISTIO_MUTUAL", "sidecar to gateway is Istio mTLS");
    assert_eq!(
        tls["sni"], host,
        "the outer SNI names the host, which picks the gateway server"
    );
    at_gateway(docs, tls["sni"].as_str().unwrap(), port)
}

fn check(hosts: &[&str], istio: Option<&str>, api: &str) {
    let d = docs(&spec(hosts, istio));
    for doc in &d {
        assert_eq!(doc["apiVersion"], api, "{istio:?}: {doc}");
    }
    for host in hosts {
        assert_eq!(
            chain(&d, host, &[80, 443]),
            (host.to_string(), 443),
            "{host} leaves the mesh to itself on 443"
        );
        let se: Vec<&Value> = kind(&d, "ServiceEntry")
            .into_iter()
            .filter(|s| strs(&s["spec"]["hosts"]) == [host.to_string()])
            .collect();
        assert_eq!(se.len(), 1, "Istio knows {host}");
        let spec = &se[0]["spec"];
        assert_eq!(spec["location"], "MESH_EXTERNAL");
        assert_eq!(spec["resolution"], "DNS");
        assert_eq!(
            spec["ports"],
            serde_json::json!([{"number": 443, "name": "tls", "protocol": "TLS"}])
        );
    }
    let names: Vec<String> = kind(&d, "Gateway")[0]["spec"]["servers"]
        .as_array()
        .unwrap()
        .iter()
        .map(|s| s["port"]["name"].as_str().unwrap().to_string())
        .collect();
    let mut unique = names.clone();
    unique.sort();
    unique.dedup();
    assert_eq!(
        unique.len(),
        names.len(),
        "Istio requires server port names unique within a Gateway: {names:?}"
    );
}

#[test]
fn each_egress_host_goes_sidecar_to_gateway_in_istio_mtls_then_to_itself() {
    check(&["api.partner.example"], None, "networking.istio.io/v1");
}

#[test]
fn several_egress_hosts_each_reach_their_own_host() {
    let long = "a-very-long-label-for-an-external-partner-api.region-one.partner-two.example";
    check(
        &["api.partner.example", "files.vendor.example", long],
        None,
        "networking.istio.io/v1",
    );
}

#[test]
fn egress_on_istio_1_28_uses_v1() {
    check(
        &["api.partner.example", "files.vendor.example"],
        Some("1.28.10"),
        "networking.istio.io/v1",
    );
}
