//! `headers_setter` (client side): sets headers on outgoing requests from static values or from the
//! incoming request's metadata (`from_context`, which needs `include_metadata: true` on the receiver),
//! e.g. to forward a tenant id from the agent to the backend.
//!
//! Each rule applies its `action` to the request's headers — which already hold the exporter's own
//! `headers:` and what earlier rules did — in the order listed, as otelcol's `headerssetter` does:
//! `insert` sets the header only where it is absent, `update` only where it is present, `upsert`
//! (the default) always, `delete` removes it. A rule whose source yields nothing (`from_context` key
//! absent and no `default_value`) does nothing. Reference: `docs/components/extensions/headers_setter.md`.

use std::any::Any;
use std::sync::Arc;

use async_trait::async_trait;
use http::{HeaderMap, HeaderName, HeaderValue};
use serde::Deserialize;
use serde_yaml::Value;

use crate::component::{
    ConfigResult, Extension, ExtensionFactory, Host, PreparedExtension, StartError,
};
use crate::config::secret::Secret;
use crate::config::{ComponentId, ConfigError};
use crate::extensions::auth::ClientAuthenticator;
use crate::signal::ClientMetadata;

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Config {
    #[serde(default)]
    pub headers: Vec<HeaderRule>,
    /// Filled in by `prepare`: what the rules' keys mean for this config (warnings).
    #[serde(skip)]
    warnings: Vec<String>,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct HeaderRule {
    pub key: String,
    #[serde(default = "default_action")]
    pub action: String,
    /// May be a credential (an API key), so never printed.
    #[serde(default)]
    pub value: Option<Secret>,
    #[serde(default)]
    pub from_context: Option<String>,
    /// An attribute the server authenticator recorded for the client (otelcol's `client.Auth`).
    #[serde(default)]
    pub from_attribute: Option<String>,
    #[serde(default)]
    pub default_value: Option<Secret>,
}

fn default_action() -> String {
    "upsert".into()
}

/// What a rule does to the header it names.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Action {
    /// Set only if the header is absent.
    Insert,
    /// Set only if the header is present.
    Update,
    /// Set, replacing any value.
    Upsert,
    /// Remove.
    Delete,
}

impl Action {
    fn parse(s: &str) -> Option<Action> {
        Some(match s.to_ascii_lowercase().as_str() {
            "insert" => Action::Insert,
            "update" => Action::Update,
            "upsert" => Action::Upsert,
            "delete" => Action::Delete,
            _ => return None,
        })
    }

    /// Applies the action for `name` with `value` (`None`: the source yielded nothing).
    pub fn apply(self, headers: &mut HeaderMap, name: &HeaderName, value: Option<HeaderValue>) {
        match (self, value) {
            (Action::Delete, _) => {
                headers.remove(name);
            }
            (_, None) => {}
            (Action::Insert, Some(v)) => {
                if !headers.contains_key(name) {
                    headers.insert(name.clone(), v);
                }
            }
            (Action::Update, Some(v)) => {
                if headers.contains_key(name) {
                    headers.insert(name.clone(), v);
                }
            }
            (Action::Upsert, Some(v)) => {
                headers.insert(name.clone(), v);
            }
        }
    }
}

pub struct Factory;

impl ExtensionFactory for Factory {
    fn type_name(&self) -> &'static str {
        "headers_setter"
    }

    fn prepare(&self, cfg: &Value, path: &str) -> ConfigResult<Arc<dyn PreparedExtension>> {
        let mut c: Config = crate::config::parse(cfg, path).map_err(|e| vec![e])?;
        let mut errors = Vec::new();
        let mut warnings = Vec::new();
        if c.headers.is_empty() {
            errors.push(ConfigError::new(
                format!("{path}::headers"),
                "must not be empty",
            ));
        }
        for (i, h) in c.headers.iter().enumerate() {
            let p = format!("{path}::headers::{i}");
            if h.key.is_empty() || HeaderName::from_bytes(h.key.as_bytes()).is_err() {
                errors.push(ConfigError::new(
                    format!("{p}::key"),
                    format!("{:?} is not a valid header name", h.key),
                ));
            }
            let action = Action::parse(&h.action);
            if action.is_none() {
                errors.push(ConfigError::new(
                    format!("{p}::action"),
                    format!(
                        "unsupported action {:?} (insert, update, upsert, delete)",
                        h.action
                    ),
                ));
            }
            let sources = [
                ("value", h.value.is_some()),
                ("from_context", h.from_context.is_some()),
                ("from_attribute", h.from_attribute.is_some()),
            ];
            let set: Vec<&str> = sources.iter().filter(|s| s.1).map(|s| s.0).collect();
            if action == Some(Action::Delete) {
                for key in set
                    .iter()
                    .copied()
                    .chain(h.default_value.is_some().then_some("default_value"))
                {
                    warnings.push(format!(
                        "{p}::{key} is ignored: action delete removes the header"
                    ));
                }
            } else if set.len() != 1 {
                errors.push(ConfigError::new(
                    &p,
                    format!(
                        "set exactly one of value, from_context or from_attribute (set: {})",
                        if set.is_empty() {
                            "none".to_string()
                        } else {
                            set.join(", ")
                        }
                    ),
                ));
            } else if h.value.is_some() && h.default_value.is_some() {
                warnings.push(format!(
                    "{p}::default_value is ignored: it applies to from_context and from_attribute, not to value"
                ));
            }
            if h.from_attribute.is_some() && action != Some(Action::Delete) {
                warnings.push(format!(
                    "{p}::from_attribute finds nothing: ferrotel's server authenticators record no client attributes yet, so only default_value is used"
                ));
            }
            for v in [&h.value, &h.default_value].into_iter().flatten() {
                if HeaderValue::from_str(v.expose()).is_err() {
                    errors.push(ConfigError::new(
                        &p,
                        "the value holds characters not allowed in a header",
                    ));
                }
            }
        }
        if !errors.is_empty() {
            return Err(errors);
        }
        c.warnings = warnings;
        Ok(Arc::new(c))
    }
}

impl PreparedExtension for Config {
    fn warnings(&self) -> Vec<String> {
        self.warnings.clone()
    }

    fn create(&self, _id: &ComponentId) -> Result<Arc<dyn Extension>, StartError> {
        Ok(Arc::new(HeadersSetter(Arc::new(self.clone()))))
    }
}

pub struct HeadersSetter(Arc<Config>);

impl HeaderRule {
    /// The value this rule sets for the request carrying `metadata`; `None` when its source yields
    /// nothing. Several values for a `from_context` key are an error, as otelcol: which one is meant
    /// cannot be told.
    fn value(&self, metadata: Option<&ClientMetadata>) -> Result<Option<String>, String> {
        let found = if let Some(v) = &self.value {
            return Ok(Some(v.expose().to_string()));
        } else if let Some(key) = &self.from_context {
            let vals: Vec<&str> = metadata.map(|m| m.get(key).collect()).unwrap_or_default();
            if vals.len() > 1 {
                return Err(format!(
                    "headers_setter: {} values for {key:?} in the request's metadata; cannot tell which to use for header {:?}",
                    vals.len(),
                    self.key
                ));
            }
            vals.first().map(|v| v.to_string())
        } else {
            // from_attribute: no server authenticator records attributes yet (warned at start).
            None
        };
        Ok(found
            .filter(|v| !v.is_empty())
            .or_else(|| self.default_value.as_ref().map(|d| d.expose().to_string())))
    }
}

impl ClientAuthenticator for Config {
    fn headers(
        &self,
        metadata: Option<&ClientMetadata>,
    ) -> Result<Vec<(HeaderName, HeaderValue)>, String> {
        let mut h = HeaderMap::new();
        self.apply(&mut h, metadata)?;
        Ok(h.into_iter().filter_map(|(k, v)| Some((k?, v))).collect())
    }

    fn apply(
        &self,
        headers: &mut HeaderMap,
        metadata: Option<&ClientMetadata>,
    ) -> Result<(), String> {
        for h in &self.headers {
            let (Ok(name), Some(action)) = (
                HeaderName::from_bytes(h.key.as_bytes()),
                Action::parse(&h.action),
            ) else {
                continue;
            };
            let value = if action == Action::Delete {
                None
            } else {
                match h.value(metadata)? {
                    Some(v) => Some(HeaderValue::from_str(&v).map_err(|_| {
                        format!(
                            "headers_setter: the value for header {:?} holds characters not allowed in a header",
                            h.key
                        )
                    })?),
                    None => None,
                }
            };
            action.apply(headers, &name, value);
        }
        Ok(())
    }
}

#[async_trait]
impl Extension for HeadersSetter {
    async fn start(&self, _host: &Host) -> Result<(), StartError> {
        Ok(())
    }
    async fn shutdown(&self) {}
    fn as_any(&self) -> &dyn Any {
        self
    }
    fn client_authenticator(&self) -> Option<Arc<dyn ClientAuthenticator>> {
        Some(self.0.clone())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn setter(yaml: &str) -> Arc<dyn ClientAuthenticator> {
        let v: Value = serde_yaml::from_str(yaml).unwrap();
        Factory
            .prepare(&v, "extensions::headers_setter")
            .map_err(|e| format!("{e:?}"))
            .unwrap()
            .create(&ComponentId::parse("headers_setter").unwrap())
            .map_err(|e| e.to_string())
            .unwrap()
            .client_authenticator()
            .unwrap()
    }

    fn errors(yaml: &str) -> String {
        let v: Value = serde_yaml::from_str(yaml).unwrap();
        match Factory.prepare(&v, "extensions::headers_setter") {
            Ok(_) => panic!("accepted {yaml}"),
            Err(e) => e
                .iter()
                .map(|e| e.to_string())
                .collect::<Vec<_>>()
                .join("\n"),
        }
    }

    fn warnings(yaml: &str) -> String {
        let v: Value = serde_yaml::from_str(yaml).unwrap();
        Factory
            .prepare(&v, "extensions::headers_setter")
            .map_err(|e| format!("{e:?}"))
            .unwrap()
            .warnings()
            .join("\n")
    }

    fn md(entries: &[(&str, &str)]) -> ClientMetadata {
        ClientMetadata {
            entries: entries
                .iter()
                .map(|(k, v)| (k.to_string(), v.to_string()))
                .collect(),
            address: None,
        }
    }

    /// The exporter's own headers: `x-present: old`.
    fn existing() -> HeaderMap {
        let mut h = HeaderMap::new();
        h.insert("x-present", HeaderValue::from_static("old"));
        h
    }

    fn applied(yaml: &str, metadata: Option<&ClientMetadata>) -> HeaderMap {
        let mut h = existing();
        setter(yaml).apply(&mut h, metadata).unwrap();
        h
    }

    fn get<'a>(h: &'a HeaderMap, k: &str) -> Option<&'a str> {
        h.get(k).and_then(|v| v.to_str().ok())
    }

    #[test]
    fn static_and_from_context() {
        let c = setter(
            "headers: [{key: X-Scope-OrgID, from_context: tenant, default_value: none}, {key: X-Static, value: abc}]",
        );
        let h = c.headers(Some(&md(&[("tenant", "acme")]))).unwrap();
        assert_eq!(h[0].0.as_str(), "x-scope-orgid");
        assert_eq!(h[0].1, "acme");
        assert_eq!(h[1].1, "abc");
        let h = c.headers(None).unwrap();
        assert_eq!(h[0].1, "none");
    }

    #[test]
    fn insert_sets_only_an_absent_header() {
        let h = applied(
            "headers: [{key: x-present, action: insert, value: new}, {key: x-absent, action: insert, value: new}]",
            None,
        );
        assert_eq!(get(&h, "x-present"), Some("old"));
        assert_eq!(get(&h, "x-absent"), Some("new"));
    }

    #[test]
    fn update_sets_only_a_present_header() {
        let h = applied(
            "headers: [{key: x-present, action: update, value: new}, {key: x-absent, action: update, value: new}]",
            None,
        );
        assert_eq!(get(&h, "x-present"), Some("new"));
        assert_eq!(get(&h, "x-absent"), None);
    }

    #[test]
    fn upsert_is_the_default_and_always_sets() {
        let h = applied(
            "headers: [{key: x-present, value: new}, {key: x-absent, action: UPSERT, value: new}]",
            None,
        );
        assert_eq!(get(&h, "x-present"), Some("new"));
        assert_eq!(get(&h, "x-absent"), Some("new"));
        assert_eq!(h.get_all("x-present").iter().count(), 1);
    }

    #[test]
    fn delete_removes_the_header_and_needs_no_source() {
        let h = applied("headers: [{key: X-Present, action: delete}]", None);
        assert_eq!(get(&h, "x-present"), None);
        assert!(warnings("headers: [{key: x, action: delete}]").is_empty());
        let w = warnings("headers: [{key: x, action: delete, value: v}]");
        assert!(
            w.contains("extensions::headers_setter::headers::0::value is ignored"),
            "{w}"
        );
    }

    #[test]
    fn rules_apply_in_order() {
        // An insert after an upsert of the same key sees it present; an update after an insert too.
        let h = applied(
            "headers: [{key: x-a, action: insert, value: one}, {key: x-a, action: update, value: two}, {key: x-a, action: insert, value: three}]",
            None,
        );
        assert_eq!(get(&h, "x-a"), Some("two"));
    }

    #[test]
    fn from_context_with_default_value() {
        let yaml =
            "headers: [{key: x-tenant, action: upsert, from_context: tenant, default_value: anon}]";
        assert_eq!(
            get(&applied(yaml, Some(&md(&[("tenant", "acme")]))), "x-tenant"),
            Some("acme")
        );
        assert_eq!(
            get(&applied(yaml, Some(&md(&[]))), "x-tenant"),
            Some("anon")
        );
        assert_eq!(get(&applied(yaml, None), "x-tenant"), Some("anon"));
        // An empty value counts as absent, as otelcol.
        assert_eq!(
            get(&applied(yaml, Some(&md(&[("tenant", "")]))), "x-tenant"),
            Some("anon")
        );
        // Without a default, an absent key sets nothing, whatever the action.
        let h = applied(
            "headers: [{key: x-present, action: upsert, from_context: tenant}]",
            None,
        );
        assert_eq!(get(&h, "x-present"), Some("old"));
    }

    #[test]
    fn several_context_values_are_an_error() {
        let c = setter("headers: [{key: x-tenant, from_context: tenant}]");
        let err = c
            .apply(
                &mut HeaderMap::new(),
                Some(&md(&[("tenant", "a"), ("tenant", "b")])),
            )
            .unwrap_err();
        assert!(err.contains("2 values") && err.contains("tenant"), "{err}");
    }

    #[test]
    fn from_attribute_uses_the_default_and_is_warned() {
        let yaml = "headers: [{key: x-user, from_attribute: username, default_value: nobody}]";
        assert_eq!(get(&applied(yaml, None), "x-user"), Some("nobody"));
        let w = warnings(yaml);
        assert!(
            w.contains("extensions::headers_setter::headers::0::from_attribute"),
            "{w}"
        );
    }

    #[test]
    fn config_errors_name_their_key() {
        let e = errors("headers: [{key: x, action: replace, value: v}]");
        assert!(
            e.contains("extensions::headers_setter::headers::0::action") && e.contains("delete"),
            "{e}"
        );
        let e = errors("headers: [{key: x, value: v, from_context: t}]");
        assert!(
            e.contains("headers::0") && e.contains("value, from_context"),
            "{e}"
        );
        let e = errors("headers: [{key: x, action: insert}]");
        assert!(e.contains("set: none"), "{e}");
        let e = errors("headers: [{key: '', value: v}]");
        assert!(e.contains("headers::0::key"), "{e}");
        let w = warnings("headers: [{key: x, value: v, default_value: d}]");
        assert!(w.contains("headers::0::default_value is ignored"), "{w}");
    }
}
