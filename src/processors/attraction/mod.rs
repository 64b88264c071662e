//! Attribute actions shared by the `attributes` and `resource` processors, with otelcol's semantics
//! (its `coreinternal/attraction`): insert, update, upsert, delete, hash, extract, convert, applied in
//! order to one attribute list.

pub mod value;

use opentelemetry_proto::tonic::common::v1::{AnyValue, KeyValue};
use opentelemetry_proto::tonic::resource::v1::Resource;
use regex::Regex;
use serde::Deserialize;

use crate::config::ConfigError;
use crate::signal::{ClientMetadata, Logs, Metrics, Signal, Traces};
use value::ConvertTo;

/// One entry of `actions:` (attributes processor) or `attributes:` (resource processor).
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ActionConfig {
    #[serde(default)]
    pub key: String,
    #[serde(default)]
    pub action: String,
    #[serde(default)]
    pub value: Option<serde_yaml::Value>,
    #[serde(default)]
    pub default_value: Option<serde_yaml::Value>,
    #[serde(default)]
    pub from_attribute: String,
    #[serde(default)]
    pub from_context: String,
    #[serde(default)]
    pub pattern: String,
    #[serde(default)]
    pub converted_type: String,
}

#[derive(Debug)]
enum Op {
    Insert,
    Update,
    Upsert,
    Delete,
    Hash,
    Extract { names: Vec<String> },
    Convert(ConvertTo),
}

#[derive(Debug)]
enum Source {
    None,
    Value(Option<AnyValue>),
    FromAttribute(String),
    FromContext(String),
}

#[derive(Debug)]
struct Action {
    key: String,
    op: Op,
    source: Source,
    default: Option<Option<AnyValue>>,
    regex: Option<Regex>,
}

/// A validated, compiled list of actions.
#[derive(Debug)]
pub struct Actions {
    actions: Vec<Action>,
    uses_context: bool,
}

impl Actions {
    /// Validates as otelcol does; `path` is the list's key path (`processors::attributes::actions`).
    pub fn compile(cfgs: &[ActionConfig], path: &str) -> Result<Actions, Vec<ConfigError>> {
        let mut errors = Vec::new();
        let mut actions = Vec::new();
        for (i, a) in cfgs.iter().enumerate() {
            let p = format!("{path}::{i}");
            match compile_one(a, &p) {
                Ok(act) => actions.push(act),
                Err(e) => errors.push(e),
            }
        }
        if !errors.is_empty() {
            return Err(errors);
        }
        let uses_context = actions
            .iter()
            .any(|a| matches!(a.source, Source::FromContext(_)));
        Ok(Actions {
            actions,
            uses_context,
        })
    }

    pub fn is_empty(&self) -> bool {
        self.actions.is_empty()
    }

    /// Whether any action reads client metadata (`from_context`).
    pub fn uses_context(&self) -> bool {
        self.uses_context
    }

    /// Applies every action, in order, to one attribute list.
    pub fn apply(&self, attrs: &mut Vec<KeyValue>, ctx: Option<&ClientMetadata>) {
        for a in &self.actions {
            match &a.op {
                Op::Delete => {
                    remove(attrs, &a.key);
                    for k in matching_keys(a.regex.as_ref(), attrs) {
                        remove(attrs, &k);
                    }
                }
                Op::Hash => {
                    if let Some(i) = find(attrs, &a.key) {
                        value::hash(&mut attrs[i].value);
                    }
                    // As otelcol: a key that also matches the pattern is hashed twice.
                    for k in matching_keys(a.regex.as_ref(), attrs) {
                        if let Some(i) = find(attrs, &k) {
                            value::hash(&mut attrs[i].value);
                        }
                    }
                }
                Op::Insert | Op::Update | Op::Upsert => {
                    let Some(v) = source_value(a, attrs, ctx) else {
                        continue;
                    };
                    match (find(attrs, &a.key), &a.op) {
                        (Some(_), Op::Insert) | (None, Op::Update) => {}
                        (Some(i), _) => attrs[i].value = v,
                        (None, _) => attrs.push(KeyValue {
                            key: a.key.clone(),
                            value: v,
                            ..Default::default()
                        }),
                    }
                }
                Op::Extract { names } => {
                    let Some(i) = find(attrs, &a.key) else {
                        continue;
                    };
                    let Some(
                        opentelemetry_proto::tonic::common::v1::any_value::Value::StringValue(s),
                    ) = attrs[i].value.as_ref().and_then(|v| v.value.as_ref())
                    else {
                        continue;
                    };
                    let Some(re) = &a.regex else { continue };
                    let Some(caps) = re.captures(s) else { continue };
                    // Every named group is set, to "" when it took no part in the match (as Go).
                    let found: Vec<(String, String)> = names
                        .iter()
                        .map(|n| {
                            (
                                n.clone(),
                                caps.name(n).map_or("", |m| m.as_str()).to_string(),
                            )
                        })
                        .collect();
                    for (k, v) in found {
                        put(attrs, &k, value::string(v));
                    }
                }
                Op::Convert(to) => {
                    if let Some(i) = find(attrs, &a.key) {
                        value::convert(&mut attrs[i].value, *to);
                    }
                }
            }
        }
    }
}

fn compile_one(a: &ActionConfig, p: &str) -> Result<Action, ConfigError> {
    let err = |field: &str, msg: String| ConfigError::new(format!("{p}::{field}"), msg);
    let action = a.action.to_ascii_lowercase();
    let sources = usize::from(a.value.as_ref().is_some_and(|v| !v.is_null()))
        + usize::from(!a.from_attribute.is_empty())
        + usize::from(!a.from_context.is_empty());
    match action.as_str() {
        "delete" | "hash" => {
            if a.key.is_empty() && a.pattern.is_empty() {
                return Err(err(
                    "key",
                    format!("action {action:?} needs \"key\" and/or \"pattern\""),
                ));
            }
        }
        "" => return Err(err("action", "missing required field \"action\"".into())),
        _ => {
            if a.key.is_empty() {
                return Err(err("key", "missing required field \"key\"".into()));
            }
        }
    }
    let compile_regex = |pat: &str| {
        Regex::new(pat).map_err(|e| err("pattern", format!("invalid pattern {pat:?}: {e}")))
    };
    let no_converted_type = || {
        if a.converted_type.is_empty() {
            Ok(())
        } else {
            Err(err(
                "converted_type",
                format!("action {action:?} does not use \"converted_type\""),
            ))
        }
    };
    let mut act = Action {
        key: a.key.clone(),
        op: Op::Delete,
        source: Source::None,
        default: None,
        regex: None,
    };
    match action.as_str() {
        "insert" | "update" | "upsert" => {
            if sources == 0 && a.default_value.is_none() {
                return Err(err(
                    "value",
                    format!("action {action:?} needs one of \"value\", \"from_attribute\", \"from_context\" or \"default_value\""),
                ));
            }
            if sources > 1 {
                return Err(err(
                    "value",
                    "only one of \"value\", \"from_attribute\" and \"from_context\" may be set"
                        .into(),
                ));
            }
            if !a.pattern.is_empty() {
                return Err(err(
                    "pattern",
                    format!("action {action:?} does not use \"pattern\""),
                ));
            }
            no_converted_type()?;
            act.op = match action.as_str() {
                "insert" => Op::Insert,
                "update" => Op::Update,
                _ => Op::Upsert,
            };
            act.source = if let Some(v) = a.value.as_ref().filter(|v| !v.is_null()) {
                Source::Value(value::from_yaml(v).map_err(|e| err("value", e))?)
            } else if !a.from_context.is_empty() {
                Source::FromContext(a.from_context.clone())
            } else if !a.from_attribute.is_empty() {
                Source::FromAttribute(a.from_attribute.clone())
            } else {
                Source::None
            };
            if let Some(d) = &a.default_value {
                act.default = Some(value::from_yaml(d).map_err(|e| err("default_value", e))?);
            }
        }
        "delete" | "hash" => {
            if a.value.is_some() || !a.from_attribute.is_empty() {
                return Err(err(
                    "value",
                    format!("action {action:?} does not use \"value\" or \"from_attribute\""),
                ));
            }
            no_converted_type()?;
            if !a.pattern.is_empty() {
                act.regex = Some(compile_regex(&a.pattern)?);
            }
            act.op = if action == "delete" {
                Op::Delete
            } else {
                Op::Hash
            };
        }
        "extract" => {
            if sources > 0 {
                return Err(err(
                    "value",
                    "action \"extract\" does not use a value source".into(),
                ));
            }
            if a.pattern.is_empty() {
                return Err(err(
                    "pattern",
                    "missing required field \"pattern\" for action \"extract\"".into(),
                ));
            }
            no_converted_type()?;
            let re = compile_regex(&a.pattern)?;
            let names: Vec<Option<&str>> = re.capture_names().skip(1).collect();
            if names.is_empty() {
                return Err(err(
                    "pattern",
                    "the pattern contains no named matcher groups".into(),
                ));
            }
            if names.iter().any(Option::is_none) {
                return Err(err(
                    "pattern",
                    "the pattern contains at least one unnamed matcher group".into(),
                ));
            }
            act.op = Op::Extract {
                names: names.into_iter().flatten().map(String::from).collect(),
            };
            act.regex = Some(re);
        }
        "convert" => {
            if sources > 0 || !a.pattern.is_empty() {
                return Err(err(
                    "value",
                    "action \"convert\" does not use value sources or \"pattern\"".into(),
                ));
            }
            act.op = Op::Convert(match a.converted_type.as_str() {
                "int" => ConvertTo::Int,
                "double" => ConvertTo::Double,
                "string" => ConvertTo::String,
                "" => {
                    return Err(err(
                        "converted_type",
                        "missing required field \"converted_type\" for action \"convert\" (int, double, string)".into(),
                    ))
                }
                other => {
                    return Err(err(
                        "converted_type",
                        format!("invalid value {other:?} (int, double, string)"),
                    ))
                }
            });
        }
        other => {
            return Err(err(
                "action",
                format!(
                    "unsupported action {other:?} (insert, update, upsert, delete, hash, extract, convert)"
                ),
            ))
        }
    }
    Ok(act)
}

/// The value an insert/update/upsert writes: the configured one, else the context's, else the
/// attribute's, else `default_value`; `None` when there is none (no change).
fn source_value(
    a: &Action,
    attrs: &[KeyValue],
    ctx: Option<&ClientMetadata>,
) -> Option<Option<AnyValue>> {
    let found = match &a.source {
        Source::Value(v) => Some(v.clone()),
        Source::FromContext(k) => from_context(k, ctx),
        Source::FromAttribute(k) => find(attrs, k).map(|i| attrs[i].value.clone()),
        Source::None => None,
    };
    found.or_else(|| a.default.clone())
}

/// `from_context`: `client.address`, `metadata.<key>` (request headers kept by a receiver with
/// `include_metadata`), or a bare metadata key; several values are joined with `;`. `auth.<attr>`
/// finds nothing until an authenticator records attributes.
fn from_context(key: &str, ctx: Option<&ClientMetadata>) -> Option<Option<AnyValue>> {
    if key == "client.address" {
        return Some(value::string(
            ctx.and_then(|c| c.address.clone()).unwrap_or_default(),
        ));
    }
    if key.starts_with("auth.") {
        return None;
    }
    let md_key = key.strip_prefix("metadata.").unwrap_or(key);
    let vals: Vec<&str> = ctx?.get(md_key).collect();
    if vals.is_empty() {
        return None;
    }
    Some(value::string(vals.join(";")))
}

fn find(attrs: &[KeyValue], key: &str) -> Option<usize> {
    attrs.iter().position(|kv| kv.key == key)
}

/// Removes the first attribute with `key` the way pdata does: the last one takes its place.
fn remove(attrs: &mut Vec<KeyValue>, key: &str) {
    if let Some(i) = find(attrs, key) {
        attrs.swap_remove(i);
    }
}

fn put(attrs: &mut Vec<KeyValue>, key: &str, v: Option<AnyValue>) {
    match find(attrs, key) {
        Some(i) => attrs[i].value = v,
        None => attrs.push(KeyValue {
            key: key.to_string(),
            value: v,
            ..Default::default()
        }),
    }
}

fn matching_keys(re: Option<&Regex>, attrs: &[KeyValue]) -> Vec<String> {
    match re {
        None => Vec::new(),
        Some(re) => attrs
            .iter()
            .filter(|kv| re.is_match(&kv.key))
            .map(|kv| kv.key.clone())
            .collect(),
    }
}

/// The resource of one signal's top-level entry (`ResourceSpans`, `ResourceMetrics`, `ResourceLogs`).
pub trait HasResource: Signal {
    fn resource(r: &Self::Resource) -> Option<&Resource>;
    fn resource_mut(r: &mut Self::Resource) -> &mut Option<Resource>;
}

impl HasResource for Traces {
    fn resource(r: &Self::Resource) -> Option<&Resource> {
        r.resource.as_ref()
    }
    fn resource_mut(r: &mut Self::Resource) -> &mut Option<Resource> {
        &mut r.resource
    }
}

impl HasResource for Metrics {
    fn resource(r: &Self::Resource) -> Option<&Resource> {
        r.resource.as_ref()
    }
    fn resource_mut(r: &mut Self::Resource) -> &mut Option<Resource> {
        &mut r.resource
    }
}

impl HasResource for Logs {
    fn resource(r: &Self::Resource) -> Option<&Resource> {
        r.resource.as_ref()
    }
    fn resource_mut(r: &mut Self::Resource) -> &mut Option<Resource> {
        &mut r.resource
    }
}

#[cfg(test)]
pub(crate) mod testutil {
    use super::*;

    /// Attributes from `(key, value)` pairs written as YAML scalars (`"x"` string, `1` int, `1.5`…).
    pub fn attrs(pairs: &[(&str, &str)]) -> Vec<KeyValue> {
        pairs
            .iter()
            .map(|(k, v)| KeyValue {
                key: k.to_string(),
                value: value::from_yaml(&serde_yaml::from_str(v).unwrap()).unwrap(),
                ..Default::default()
            })
            .collect()
    }

    pub fn actions(yaml: &str) -> Actions {
        let cfgs: Vec<ActionConfig> = serde_yaml::from_str(yaml).unwrap();
        Actions::compile(&cfgs, "actions").unwrap()
    }

    pub fn compile_err(yaml: &str) -> String {
        let cfgs: Vec<ActionConfig> = serde_yaml::from_str(yaml).unwrap();
        Actions::compile(&cfgs, "actions")
            .unwrap_err()
            .iter()
            .map(|e| e.to_string())
            .collect::<Vec<_>>()
            .join("\n")
    }

    pub fn s(v: &str) -> Option<AnyValue> {
        value::string(v)
    }
}

#[cfg(test)]
mod tests {
    use super::testutil::*;
    use super::*;

    fn md(entries: &[(&str, &str)]) -> ClientMetadata {
        ClientMetadata {
            entries: entries
                .iter()
                .map(|(k, v)| (k.to_string(), v.to_string()))
                .collect(),
            address: Some("10.1.2.3".into()),
        }
    }

    /// (name, actions, input, expected): every action, with the cases of otelcol's attraction tests.
    #[test]
    fn action_table() {
        #[allow(clippy::type_complexity)]
        let cases: Vec<(&str, &str, Vec<(&str, &str)>, Vec<(&str, &str)>)> = vec![
            (
                "insert into empty",
                "[{key: attribute1, value: 123, action: insert}]",
                vec![],
                vec![("attribute1", "123")],
            ),
            (
                "insert keeps existing",
                "[{key: attribute1, value: 123, action: insert}]",
                vec![("attribute1", "bob")],
                vec![("attribute1", "bob")],
            ),
            (
                "insert from_attribute",
                "[{key: string key, from_attribute: anotherkey, action: insert}]",
                vec![("anotherkey", "8892342")],
                vec![("anotherkey", "8892342"), ("string key", "8892342")],
            ),
            (
                "insert from missing attribute",
                "[{key: string key, from_attribute: anotherkey, action: insert}]",
                vec![("bob", "1")],
                vec![("bob", "1")],
            ),
            (
                "update existing",
                "[{key: db.secret, value: redacted, action: update}]",
                vec![("db.secret", "password1234")],
                vec![("db.secret", "redacted")],
            ),
            (
                "update absent",
                "[{key: db.secret, value: redacted, action: update}]",
                vec![("boo", "foo")],
                vec![("boo", "foo")],
            ),
            (
                "update from_attribute",
                "[{key: boo, from_attribute: foo, action: update}]",
                vec![
                    ("foo", "there is a party over here"),
                    ("boo", "not here"),
                ],
                vec![
                    ("foo", "there is a party over here"),
                    ("boo", "there is a party over here"),
                ],
            ),
            (
                "upsert inserts",
                "[{key: region, value: planet-earth, action: upsert}]",
                vec![("mission", "to mars")],
                vec![("mission", "to mars"), ("region", "planet-earth")],
            ),
            (
                "upsert updates",
                "[{key: region, value: planet-earth, action: upsert}]",
                vec![("mission", "to mars"), ("region", "solar system")],
                vec![("mission", "to mars"), ("region", "planet-earth")],
            ),
            (
                "upsert from_attribute",
                "[{key: new_user_key, from_attribute: user_key, action: upsert}]",
                vec![("user_key", "2245"), ("new_user_key", "5422")],
                vec![("user_key", "2245"), ("new_user_key", "2245")],
            ),
            (
                "delete by key and pattern (last takes the removed slot, as pdata)",
                "[{key: duplicate_key, pattern: ^duplicate_key_., action: delete}]",
                vec![
                    ("duplicate_key_a", "3245.6"),
                    ("original_key", "3245.6"),
                    ("duplicate_key", "1"),
                    ("duplicate_key_b", "3245.6"),
                    ("not_duplicate_key", "3246.6"),
                ],
                vec![("not_duplicate_key", "3246.6"), ("original_key", "3245.6")],
            ),
            (
                "delete by pattern only",
                "[{pattern: duplicate.*, action: delete}]",
                vec![("duplicate_key", "3245.6"), ("original_key", "3245.6")],
                vec![("original_key", "3245.6")],
            ),
            (
                "hash string",
                "[{key: user.email, action: hash}]",
                vec![("user.email", "foo")],
                vec![(
                    "user.email",
                    "2c26b46b68ffc68ff99b453c1d30413413422d706483bfa0f98a5e886266e7ae",
                )],
            ),
            (
                "hash int (8 little-endian bytes)",
                "[{key: n, action: hash}]",
                vec![("n", "1")],
                vec![(
                    "n",
                    "7c9fa136d4413fa6173637e883b6998d32e1d675f88cddff9dcbcf331820f4b8",
                )],
            ),
            (
                "hash by pattern",
                "[{pattern: ^secret, action: hash}]",
                vec![("secret.a", "true"), ("other", "x")],
                vec![
                    (
                        "secret.a",
                        "4bf5122f344554c53bde2ebb8cd2b7e3d1600ad631c385a5d7cce23c7785459a",
                    ),
                    ("other", "x"),
                ],
            ),
            (
                // otelcol's testdata example has an unnamed group `(\?|\&)` which otelcol refuses
                // (see validation_like_otelcol); written as a non-capturing group it works.
                "extract named groups (testdata example, group made non-capturing)",
                r#"[{key: http.url, action: extract, pattern: '^(?P<http_protocol>.*):\/\/(?P<http_domain>.*)\/(?P<http_path>.*)(?:\?|\&)(?P<http_query_params>.*)'}]"#,
                vec![(
                    "http.url",
                    "http://example.com/path?queryParam1=value1,queryParam2=value2",
                )],
                vec![
                    (
                        "http.url",
                        "http://example.com/path?queryParam1=value1,queryParam2=value2",
                    ),
                    ("http_protocol", "http"),
                    ("http_domain", "example.com"),
                    ("http_path", "path"),
                    ("http_query_params", "queryParam1=value1,queryParam2=value2"),
                ],
            ),
            (
                "extract overwrites existing keys",
                r#"[{key: user_key, action: extract, pattern: '^\/api\/v1\/document\/(?P<new_user_key>.*)\/update\/(?P<version>.*)$'}]"#,
                vec![
                    ("user_key", "/api/v1/document/12345678/update/v1"),
                    ("new_user_key", "2321"),
                ],
                vec![
                    ("user_key", "/api/v1/document/12345678/update/v1"),
                    ("new_user_key", "'12345678'"),
                    ("version", "v1"),
                ],
            ),
            (
                "extract ignores non-strings and non-matches",
                r#"[{key: user_key, action: extract, pattern: '^/x/(?P<id>\d+)$'}, {key: other, action: extract, pattern: '^/x/(?P<id2>\d+)$'}]"#,
                vec![("user_key", "1234"), ("other", "/y/1")],
                vec![("user_key", "1234"), ("other", "/y/1")],
            ),
            (
                "convert to int",
                "[{key: http.status_code, action: convert, converted_type: int}]",
                vec![("http.status_code", "'200'")],
                vec![("http.status_code", "200")],
            ),
            (
                "convert to double and string",
                "[{key: a, action: convert, converted_type: double}, {key: b, action: convert, converted_type: string}]",
                vec![("a", "'1.5'"), ("b", "7")],
                vec![("a", "1.5"), ("b", "'7'")],
            ),
            (
                "convert leaves unconvertible values",
                "[{key: a, action: convert, converted_type: int}]",
                vec![("a", "abc")],
                vec![("a", "abc")],
            ),
            (
                "default_value when the source is missing",
                "[{key: region, from_attribute: cloud.region, default_value: us-east-1, action: insert}]",
                vec![],
                vec![("region", "us-east-1")],
            ),
            (
                "default_value unused when the source exists",
                "[{key: region, from_attribute: cloud.region, default_value: us-east-1, action: insert}]",
                vec![("cloud.region", "eu-west-1")],
                vec![("cloud.region", "eu-west-1"), ("region", "eu-west-1")],
            ),
            (
                "from_context metadata, joined with ;",
                "[{key: tenant, from_context: metadata.x-tenant, action: upsert}]",
                vec![],
                vec![("tenant", "a;b")],
            ),
            (
                "from_context bare key falls back to metadata",
                "[{key: tenant, from_context: x-tenant, action: insert}]",
                vec![],
                vec![("tenant", "a;b")],
            ),
            (
                "from_context client.address",
                "[{key: peer, from_context: client.address, action: insert}]",
                vec![],
                vec![("peer", "10.1.2.3")],
            ),
            (
                "from_context missing key: no change, or default_value",
                "[{key: t, from_context: metadata.missing, action: insert}, {key: u, from_context: metadata.missing, default_value: dflt, action: insert}]",
                vec![],
                vec![("u", "dflt")],
            ),
            (
                "complex example from otelcol's testdata (insert, upsert from attribute, delete)",
                "[{key: operation, value: default, action: insert}, {key: svc.operation, from_attribute: operation, action: upsert}, {key: operation, action: delete}]",
                vec![("operation", "subtract"), ("math_value", "123")],
                vec![("svc.operation", "subtract"), ("math_value", "123")],
            ),
            (
                "README example",
                "[{key: db.table, action: delete}, {key: redacted_span, value: true, action: upsert}, {key: copy_key, from_attribute: key_original, action: update}, {key: account_id, value: 2245, action: insert}, {key: account_password, action: delete}, {key: account_email, action: hash}, {key: http.status_code, action: convert, converted_type: int}]",
                vec![
                    ("db.table", "users"),
                    ("copy_key", "old"),
                    ("key_original", "orig"),
                    ("account_password", "hunter2"),
                    ("account_email", "foo"),
                    ("http.status_code", "'404'"),
                ],
                vec![
                    ("http.status_code", "404"),
                    ("copy_key", "orig"),
                    ("key_original", "orig"),
                    ("account_id", "2245"),
                    (
                        "account_email",
                        "2c26b46b68ffc68ff99b453c1d30413413422d706483bfa0f98a5e886266e7ae",
                    ),
                    ("redacted_span", "true"),
                ],
            ),
        ];
        let ctx = md(&[("x-tenant", "a"), ("x-tenant", "b")]);
        for (name, yaml, input, want) in cases {
            let acts = actions(yaml);
            let mut got = attrs(&input);
            acts.apply(&mut got, Some(&ctx));
            assert_eq!(got, attrs(&want), "case {name:?}");
        }
    }

    #[test]
    fn hash_key_matching_its_own_pattern_is_hashed_twice_as_otelcol() {
        let acts = actions("[{key: secret, pattern: ^secret$, action: hash}]");
        let mut got = attrs(&[("secret", "foo")]);
        acts.apply(&mut got, None);
        let mut once = s("foo");
        value::hash(&mut once);
        value::hash(&mut once);
        assert_eq!(got[0].value, once);
    }

    #[test]
    fn validation_like_otelcol() {
        let cases = [
            (
                "[{action: insert, value: 1}]",
                "actions::0::key: missing required field \"key\"",
            ),
            ("[{key: a, action: insert}]", "needs one of"),
            (
                "[{key: a, action: insert, value: 1, from_attribute: b}]",
                "only one of",
            ),
            (
                "[{key: a, action: delete, value: 1}]",
                "does not use \"value\"",
            ),
            ("[{action: hash}]", "needs \"key\" and/or \"pattern\""),
            (
                "[{key: a, action: extract}]",
                "missing required field \"pattern\"",
            ),
            ("[{key: a, action: extract, pattern: '(x)'}]", "unnamed"),
            ("[{key: a, action: extract, pattern: 'x'}]", "no named"),
            (
                r#"[{key: http.url, action: extract, pattern: '^(?P<http_protocol>.*):\/\/(?P<http_domain>.*)\/(?P<http_path>.*)(\?|\&)(?P<http_query_params>.*)'}]"#,
                "unnamed",
            ),
            ("[{key: a, action: convert}]", "converted_type"),
            (
                "[{key: a, action: convert, converted_type: bool}]",
                "invalid value \"bool\"",
            ),
            (
                "[{key: a, action: rename}]",
                "unsupported action \"rename\"",
            ),
            (
                "[{key: a, action: delete, pattern: '('}]",
                "actions::0::pattern: invalid pattern",
            ),
        ];
        for (yaml, want) in cases {
            let got = compile_err(yaml);
            assert!(got.contains(want), "{yaml}: {got}");
        }
        // Actions are case-insensitive, as otelcol's.
        actions("[{key: a, action: UPSERT, value: 1}]");
    }

    #[test]
    fn no_metadata_means_no_context_values() {
        let acts = actions("[{key: t, from_context: metadata.x, action: insert}]");
        let mut got = attrs(&[]);
        acts.apply(&mut got, None);
        assert!(got.is_empty());
    }
}
