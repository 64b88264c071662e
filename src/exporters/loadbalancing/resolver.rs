//! Where the backend list comes from: `static`, `dns` (re-resolved every `interval`) and `k8s`
//! (EndpointSlice list + watch). Each hands the sorted endpoint list to [`Balancer::set_backends`].

use std::collections::BTreeMap;
use std::net::{IpAddr, SocketAddr};
use std::sync::Weak;
use std::time::Duration;

use serde::Deserialize;
use serde_yaml::Value;

use super::Balancer;
use crate::config::duration::opt_duration;
use crate::config::ConfigError;
use crate::telemetry::events;

#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ResolverConfig {
    #[serde(default, rename = "static")]
    pub static_: Option<StaticCfg>,
    #[serde(default)]
    pub dns: Option<DnsCfg>,
    #[serde(default)]
    pub k8s: Option<K8sCfg>,
    #[serde(default)]
    pub aws_cloud_map: Option<Value>,
}

#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct StaticCfg {
    #[serde(default)]
    pub hostnames: Vec<String>,
}

#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct DnsCfg {
    pub hostname: String,
    /// A number or a string, as otelcol's YAML decoding takes either.
    #[serde(default, deserialize_with = "port_text")]
    pub port: Option<String>,
    #[serde(default, with = "opt_duration")]
    pub interval: Option<Duration>,
    #[serde(default, with = "opt_duration")]
    pub timeout: Option<Duration>,
    /// ferrotel only: ask this DNS server (`ip` or `ip:port`, UDP) instead of the system resolver.
    /// otelcol's `dns` resolver has no such key; it lets a test (or a sidecar DNS) serve the names.
    #[serde(default)]
    pub nameserver: Option<String>,
}

impl DnsCfg {
    /// `nameserver` as an address (port 53 when missing).
    pub fn nameserver_addr(&self) -> Option<Result<SocketAddr, String>> {
        let ns = self.nameserver.as_deref()?;
        Some(
            ns.parse::<SocketAddr>()
                .or_else(|_| ns.parse::<IpAddr>().map(|ip| SocketAddr::new(ip, 53)))
                .map_err(|_| format!("invalid nameserver {ns:?} (expected ip or ip:port)")),
        )
    }
}

#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct K8sCfg {
    /// `name` or `name.namespace` (namespace defaults to the pod's, else `default`).
    pub service: String,
    #[serde(default)]
    pub ports: Vec<u16>,
    #[serde(default, with = "opt_duration")]
    pub timeout: Option<Duration>,
    #[serde(default)]
    pub return_hostnames: bool,
    /// ferrotel only: the API server URL; default in-cluster (`KUBERNETES_SERVICE_HOST`, the service
    /// account token and CA).
    #[serde(default)]
    pub api_server: Option<String>,
}

const DEFAULT_PORT: &str = "4317";

impl ResolverConfig {
    pub fn validate(&self, path: &str, errors: &mut Vec<ConfigError>) {
        if self.aws_cloud_map.is_some() {
            errors.push(ConfigError::new(
                format!("{path}::aws_cloud_map"),
                "the aws_cloud_map resolver is not supported by ferrotel (use static, dns or k8s)",
            ));
            return;
        }
        let n = [
            self.static_.is_some(),
            self.dns.is_some(),
            self.k8s.is_some(),
        ]
        .iter()
        .filter(|x| **x)
        .count();
        if n != 1 {
            errors.push(ConfigError::new(
                path.to_string(),
                "exactly one resolver is needed: static, dns or k8s",
            ));
        }
        if let Some(s) = &self.static_ {
            if s.hostnames.is_empty() {
                errors.push(ConfigError::new(
                    format!("{path}::static::hostnames"),
                    "at least one hostname is needed",
                ));
            }
        }
        if let Some(d) = &self.dns {
            if d.hostname.is_empty() {
                errors.push(ConfigError::new(
                    format!("{path}::dns::hostname"),
                    "must not be empty",
                ));
            }
            if let Some(Err(e)) = d.nameserver_addr() {
                errors.push(ConfigError::new(format!("{path}::dns::nameserver"), e));
            }
            if let Some(p) = &d.port {
                if p.parse::<u16>().is_err() {
                    errors.push(ConfigError::new(
                        format!("{path}::dns::port"),
                        format!("invalid port {p:?}"),
                    ));
                }
            }
        }
        if let Some(k) = &self.k8s {
            if k.service.is_empty() {
                errors.push(ConfigError::new(
                    format!("{path}::k8s::service"),
                    "must not be empty",
                ));
            }
        }
    }

    /// The endpoints of a static resolver (`host` gets port 4317).
    pub fn static_endpoints(&self) -> Option<Vec<String>> {
        self.static_.as_ref().map(|s| {
            s.hostnames
                .iter()
                .map(|h| {
                    if h.rsplit_once(':')
                        .is_some_and(|(_, p)| p.parse::<u16>().is_ok())
                    {
                        h.clone()
                    } else {
                        format!("{h}:{DEFAULT_PORT}")
                    }
                })
                .collect()
        })
    }

    /// Runs a dynamic resolver until the balancer is gone.
    pub async fn run(self, id: String, balancer: Weak<Balancer>) {
        if let Some(d) = self.dns {
            run_dns(id, d, balancer).await;
        } else if let Some(k) = self.k8s {
            run_k8s(id, k, balancer).await;
        }
    }
}

async fn run_dns(id: String, d: DnsCfg, balancer: Weak<Balancer>) {
    let interval = d
        .interval
        .unwrap_or(Duration::from_secs(5))
        .max(Duration::from_millis(10));
    let timeout = d.timeout.unwrap_or(Duration::from_secs(1));
    let port = d.port.clone().unwrap_or_else(|| DEFAULT_PORT.into());
    let nameserver = d.nameserver_addr().and_then(Result::ok);
    let port_num: u16 = port.parse().unwrap_or(4317);
    loop {
        let lookup = async {
            match nameserver {
                Some(ns) => super::dns::lookup(ns, &d.hostname).await.map(|ips| {
                    ips.into_iter()
                        .map(|ip| SocketAddr::new(ip, port_num))
                        .collect::<Vec<_>>()
                }),
                None => tokio::net::lookup_host(format!("{}:{port}", d.hostname))
                    .await
                    .map(|a| a.collect::<Vec<_>>()),
            }
        };
        match tokio::time::timeout(timeout, lookup).await {
            Ok(Ok(addrs)) => {
                let mut eps: Vec<String> = addrs.iter().map(|a| a.to_string()).collect();
                eps.sort();
                eps.dedup();
                events::loadbalancer_num_resolutions(&id, "dns", true);
                let Some(b) = balancer.upgrade() else { return };
                b.set_backends(&eps);
            }
            Ok(Err(e)) => {
                events::loadbalancer_num_resolutions(&id, "dns", false);
                tracing::warn!(exporter = %id, error = %e, "loadbalancing: DNS resolution failed; keeping the backends");
            }
            Err(_) => {
                events::loadbalancer_num_resolutions(&id, "dns", false);
                tracing::warn!(exporter = %id, "loadbalancing: DNS resolution timed out; keeping the backends");
            }
        }
        if balancer.strong_count() == 0 {
            return;
        }
        tokio::time::sleep(interval).await;
    }
}

/// A Kubernetes EndpointSlice, the fields we read.
#[derive(Debug, Deserialize, Default)]
struct Slice {
    #[serde(default)]
    metadata: Meta,
    #[serde(default)]
    endpoints: Option<Vec<SliceEndpoint>>,
}

#[derive(Debug, Deserialize, Default)]
struct Meta {
    #[serde(default)]
    name: String,
    #[serde(default, rename = "resourceVersion")]
    resource_version: String,
}

#[derive(Debug, Deserialize)]
struct SliceEndpoint {
    #[serde(default)]
    addresses: Vec<String>,
    #[serde(default)]
    conditions: Option<Conditions>,
    #[serde(default)]
    hostname: Option<String>,
}

#[derive(Debug, Deserialize)]
struct Conditions {
    #[serde(default)]
    ready: Option<bool>,
}

#[derive(Debug, Deserialize)]
struct SliceList {
    #[serde(default)]
    metadata: Meta,
    #[serde(default)]
    items: Vec<Slice>,
}

#[derive(Debug, Deserialize)]
struct WatchEvent {
    #[serde(rename = "type")]
    kind: String,
    #[serde(default)]
    object: serde_json::Value,
}

struct K8sApi {
    client: reqwest::Client,
    base: String,
    token: Option<String>,
}

impl K8sApi {
    fn new(k: &K8sCfg) -> Result<K8sApi, String> {
        const SA: &str = "/var/run/secrets/kubernetes.io/serviceaccount";
        let mut builder = reqwest::Client::builder();
        let (base, token) = match &k.api_server {
            Some(url) => (url.trim_end_matches('/').to_string(), None),
            None => {
                let host = std::env::var("KUBERNETES_SERVICE_HOST").map_err(|_| {
                    "not in a cluster (KUBERNETES_SERVICE_HOST unset) and no api_server set"
                })?;
                let port =
                    std::env::var("KUBERNETES_SERVICE_PORT").unwrap_or_else(|_| "443".into());
                if let Ok(ca) = std::fs::read(format!("{SA}/ca.crt")) {
                    let cert = reqwest::Certificate::from_pem(&ca).map_err(|e| e.to_string())?;
                    builder = builder.add_root_certificate(cert);
                }
                let token = std::fs::read_to_string(format!("{SA}/token")).ok();
                (
                    format!("https://{host}:{port}"),
                    token.map(|t| t.trim().to_string()),
                )
            }
        };
        Ok(K8sApi {
            client: builder.build().map_err(|e| e.to_string())?,
            base,
            token,
        })
    }

    fn get(&self, url: String) -> reqwest::RequestBuilder {
        let r = self.client.get(url);
        match &self.token {
            Some(t) => r.bearer_auth(t),
            None => r,
        }
    }
}

fn slice_endpoints(k: &K8sCfg, svc: &str, ns: &str, s: &Slice) -> Vec<String> {
    let ports: Vec<u16> = if k.ports.is_empty() {
        vec![4317]
    } else {
        k.ports.clone()
    };
    let mut out = Vec::new();
    for e in s.endpoints.iter().flatten() {
        // otelcol counts an endpoint without conditions as ready.
        if e.conditions.as_ref().and_then(|c| c.ready) == Some(false) {
            continue;
        }
        let hosts: Vec<String> = match (&e.hostname, k.return_hostnames) {
            (Some(h), true) => vec![format!("{h}.{svc}.{ns}")],
            _ => e.addresses.clone(),
        };
        for h in hosts {
            for p in &ports {
                out.push(if h.contains(':') {
                    format!("[{h}]:{p}")
                } else {
                    format!("{h}:{p}")
                });
            }
        }
    }
    out
}

async fn run_k8s(id: String, k: K8sCfg, balancer: Weak<Balancer>) {
    let (svc, ns) = match k.service.split_once('.') {
        Some((s, n)) => (s.to_string(), n.to_string()),
        None => (
            k.service.clone(),
            std::fs::read_to_string("/var/run/secrets/kubernetes.io/serviceaccount/namespace")
                .map(|s| s.trim().to_string())
                .unwrap_or_else(|_| "default".into()),
        ),
    };
    let api = match K8sApi::new(&k) {
        Ok(a) => a,
        Err(e) => {
            tracing::error!(exporter = %id, error = %e, "loadbalancing: k8s resolver cannot start");
            return;
        }
    };
    let timeout = k.timeout.unwrap_or(Duration::from_secs(1));
    let url = format!(
        "{}/apis/discovery.k8s.io/v1/namespaces/{ns}/endpointslices?labelSelector=kubernetes.io%2Fservice-name%3D{svc}",
        api.base
    );
    let apply = |slices: &BTreeMap<String, Vec<String>>| -> bool {
        let mut eps: Vec<String> = slices.values().flatten().cloned().collect();
        eps.sort();
        eps.dedup();
        match balancer.upgrade() {
            Some(b) => {
                b.set_backends(&eps);
                true
            }
            None => false,
        }
    };
    loop {
        // List, then watch from the list's resourceVersion; on any failure list again.
        let list = async {
            let resp = api
                .get(url.clone())
                .send()
                .await
                .map_err(|e| e.to_string())?;
            if !resp.status().is_success() {
                return Err(format!("list: HTTP {}", resp.status()));
            }
            let body = resp.bytes().await.map_err(|e| e.to_string())?;
            serde_json::from_slice::<SliceList>(&body).map_err(|e| e.to_string())
        };
        let listed = match tokio::time::timeout(timeout.max(Duration::from_secs(1)), list).await {
            Ok(r) => r,
            Err(_) => Err("timed out".to_string()),
        };
        let list = match listed {
            Ok(l) => l,
            Err(e) => {
                events::loadbalancer_num_resolutions(&id, "k8s", false);
                tracing::warn!(exporter = %id, error = %e, "loadbalancing: EndpointSlice list failed");
                if balancer.strong_count() == 0 {
                    return;
                }
                tokio::time::sleep(Duration::from_secs(1)).await;
                continue;
            }
        };
        let mut slices: BTreeMap<String, Vec<String>> = list
            .items
            .iter()
            .map(|s| (s.metadata.name.clone(), slice_endpoints(&k, &svc, &ns, s)))
            .collect();
        events::loadbalancer_num_resolutions(&id, "k8s", true);
        if !apply(&slices) {
            return;
        }
        let watch_url = format!(
            "{url}&watch=true&allowWatchBookmarks=true&resourceVersion={}",
            list.metadata.resource_version
        );
        let Ok(mut resp) = api.get(watch_url).send().await else {
            tokio::time::sleep(Duration::from_secs(1)).await;
            continue;
        };
        let mut buf: Vec<u8> = Vec::new();
        while let Ok(Some(chunk)) = resp.chunk().await {
            buf.extend_from_slice(&chunk);
            while let Some(nl) = buf.iter().position(|b| *b == b'\n') {
                let line: Vec<u8> = buf.drain(..=nl).collect();
                let Ok(ev) = serde_json::from_slice::<WatchEvent>(&line) else {
                    continue;
                };
                let Ok(slice) = serde_json::from_value::<Slice>(ev.object) else {
                    continue;
                };
                match ev.kind.as_str() {
                    "ADDED" | "MODIFIED" => {
                        slices.insert(
                            slice.metadata.name.clone(),
                            slice_endpoints(&k, &svc, &ns, &slice),
                        );
                    }
                    "DELETED" => {
                        slices.remove(&slice.metadata.name);
                    }
                    _ => continue,
                }
                events::loadbalancer_num_resolutions(&id, "k8s", true);
                if !apply(&slices) {
                    return;
                }
            }
        }
        if balancer.strong_count() == 0 {
            return;
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}

fn port_text<'de, D: serde::Deserializer<'de>>(d: D) -> Result<Option<String>, D::Error> {
    use serde::Deserialize;
    Ok(match Option::<serde_yaml::Value>::deserialize(d)? {
        None | Some(serde_yaml::Value::Null) => None,
        Some(serde_yaml::Value::String(s)) => Some(s),
        Some(serde_yaml::Value::Number(n)) => Some(n.to_string()),
        Some(other) => {
            return Err(serde::de::Error::custom(format!(
                "expected a port number, got {other:?}"
            )))
        }
    })
}
