//! A configuration value that must never be shown: tokens, passwords, private keys (otelcol's
//! `configopaque.String`). It prints as `[REDACTED]` in logs, `Debug` output and error messages, and
//! accepts any YAML scalar so that a wrong-typed secret cannot be echoed back by a type error.

use std::fmt;

use serde::de::{self, Deserializer, Visitor};
use serde::Deserialize;

#[derive(Clone, Default, PartialEq, Eq)]
pub struct Secret(String);

pub const REDACTED: &str = "[REDACTED]";

impl Secret {
    pub fn new(s: impl Into<String>) -> Self {
        Secret(s.into())
    }

    /// The secret itself, for the one place that uses it (a header, a comparison, a key parser).
    pub fn expose(&self) -> &str {
        &self.0
    }

    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }
}

impl fmt::Debug for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(REDACTED)
    }
}

impl fmt::Display for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(REDACTED)
    }
}

impl<'de> Deserialize<'de> for Secret {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V;
        impl<'de> Visitor<'de> for V {
            type Value = Secret;
            fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
                f.write_str("a string")
            }
            fn visit_str<E: de::Error>(self, v: &str) -> Result<Secret, E> {
                Ok(Secret(v.to_string()))
            }
            fn visit_string<E: de::Error>(self, v: String) -> Result<Secret, E> {
                Ok(Secret(v))
            }
            fn visit_i64<E: de::Error>(self, v: i64) -> Result<Secret, E> {
                Ok(Secret(v.to_string()))
            }
            fn visit_u64<E: de::Error>(self, v: u64) -> Result<Secret, E> {
                Ok(Secret(v.to_string()))
            }
            fn visit_f64<E: de::Error>(self, v: f64) -> Result<Secret, E> {
                Ok(Secret(v.to_string()))
            }
            fn visit_bool<E: de::Error>(self, v: bool) -> Result<Secret, E> {
                Ok(Secret(v.to_string()))
            }
            fn visit_unit<E: de::Error>(self) -> Result<Secret, E> {
                Ok(Secret(String::new()))
            }
            // Maps and lists are refused without echoing their contents.
            fn visit_map<A: de::MapAccess<'de>>(self, _: A) -> Result<Secret, A::Error> {
                Err(de::Error::custom("expected a string, found a map"))
            }
            fn visit_seq<A: de::SeqAccess<'de>>(self, _: A) -> Result<Secret, A::Error> {
                Err(de::Error::custom("expected a string, found a list"))
            }
        }
        d.deserialize_any(V)
    }
}

/// Key names whose values are secrets wherever they appear, for `print-config`.
const SECRET_KEYS: &[&str] = &[
    "token",
    "tokens",
    "password",
    "key_pem",
    "inline",
    "secret",
    "authorization",
];

fn is_secret_key(k: &str) -> bool {
    let k = k.to_ascii_lowercase();
    SECRET_KEYS.contains(&k.as_str())
        || k.ends_with("_token")
        || k.ends_with("_password")
        || k.ends_with("api_key")
}

/// Every scalar under `v` becomes `[REDACTED]`.
fn redact_all(v: &mut serde_yaml::Value) {
    match v {
        serde_yaml::Value::Null => {}
        serde_yaml::Value::Mapping(m) => m.iter_mut().for_each(|(_, v)| redact_all(v)),
        serde_yaml::Value::Sequence(s) => s.iter_mut().for_each(redact_all),
        serde_yaml::Value::Tagged(t) => redact_all(&mut t.value),
        other => *other = serde_yaml::Value::String(REDACTED.into()),
    }
}

/// Replaces every secret value in a configuration tree by `[REDACTED]`, for printing it: values of
/// secret-named keys, header values (exporters' `headers` map, `headers_setter`'s `value` and
/// `default_value`), which often carry API keys.
pub fn redact(v: &mut serde_yaml::Value) {
    match v {
        serde_yaml::Value::Mapping(m) => {
            for (k, val) in m.iter_mut() {
                let key = k.as_str().unwrap_or_default();
                if is_secret_key(key) {
                    redact_all(val);
                } else if key == "headers" {
                    match val {
                        serde_yaml::Value::Mapping(h) => {
                            h.iter_mut().for_each(|(_, v)| redact_all(v))
                        }
                        serde_yaml::Value::Sequence(rules) => {
                            for r in rules.iter_mut() {
                                if let serde_yaml::Value::Mapping(r) = r {
                                    for (k, v) in r.iter_mut() {
                                        if matches!(k.as_str(), Some("value" | "default_value")) {
                                            redact_all(v);
                                        }
                                    }
                                }
                            }
                        }
                        _ => {}
                    }
                } else {
                    redact(val);
                }
            }
        }
        serde_yaml::Value::Sequence(s) => s.iter_mut().for_each(redact),
        serde_yaml::Value::Tagged(t) => redact(&mut t.value),
        _ => {}
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn never_printed() {
        let s: Secret = serde_yaml::from_str("hunter2").unwrap();
        assert_eq!(s.expose(), "hunter2");
        assert_eq!(format!("{s} {s:?}"), "[REDACTED] [REDACTED]");
        let n: Secret = serde_yaml::from_str("12345").unwrap();
        assert_eq!(n.expose(), "12345");
        let e = serde_yaml::from_str::<Secret>("{a: hunter2}").unwrap_err();
        assert!(!e.to_string().contains("hunter2"), "{e}");
    }

    #[test]
    fn redacts_tree() {
        let mut v: serde_yaml::Value = serde_yaml::from_str(
            "extensions: {bearertokenauth: {token: abc}, basicauth: {client_auth: {username: u, password: p}, htpasswd: {inline: 'u:x'}}}\nexporters: {otlp: {headers: {Authorization: Bearer abc, x: y}}}",
        )
        .unwrap();
        redact(&mut v);
        let s = serde_yaml::to_string(&v).unwrap();
        assert!(
            !s.contains("abc") && !s.contains("u:x") && !s.contains(": p\n"),
            "{s}"
        );
        assert!(s.contains("username: u") && !s.contains("x: y"), "{s}");
    }
}
