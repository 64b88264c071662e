//! `${…}` expansion as otelcol's confmap resolver does it: `${env:VAR}`, `${env:VAR:-default}`, bare
//! `${VAR}` (env), `${file:path}`, `${yaml:inline}`, and `$$` for a literal `$`. A value that is exactly
//! one reference takes the referenced text's YAML type (so `port: ${env:PORT}` is an integer).

use serde_yaml::Value;

pub fn expand_value(v: &mut Value, errors: &mut Vec<String>, path: &str) {
    match v {
        Value::String(s) => {
            if !s.contains('$') {
                return;
            }
            let whole = is_single_reference(s);
            match expand_str(s) {
                Ok(expanded) => {
                    *v = if whole {
                        serde_yaml::from_str::<Value>(&expanded)
                            .ok()
                            .filter(|p| {
                                !matches!(p, Value::Mapping(_) | Value::Sequence(_))
                                    || expanded.contains('\n')
                            })
                            .unwrap_or(Value::String(expanded))
                    } else {
                        Value::String(expanded)
                    };
                    if let Value::Null = v {
                        *v = Value::String(String::new());
                    }
                }
                Err(e) => errors.push(format!("{path}: {e}")),
            }
        }
        Value::Mapping(m) => {
            for (k, val) in m.iter_mut() {
                let key = k
                    .as_str()
                    .map(str::to_string)
                    .unwrap_or_else(|| format!("{k:?}"));
                let p = if path.is_empty() {
                    key
                } else {
                    format!("{path}::{key}")
                };
                expand_value(val, errors, &p);
            }
        }
        Value::Sequence(seq) => {
            for (i, val) in seq.iter_mut().enumerate() {
                expand_value(val, errors, &format!("{path}::{i}"));
            }
        }
        _ => {}
    }
}

fn is_single_reference(s: &str) -> bool {
    s.starts_with("${") && s.ends_with('}') && s[2..].find('}') == Some(s.len() - 3)
}

pub fn expand_str(s: &str) -> Result<String, String> {
    let mut out = String::with_capacity(s.len());
    let mut rest = s;
    while let Some(i) = rest.find('$') {
        out.push_str(&rest[..i]);
        let after = &rest[i + 1..];
        if let Some(tail) = after.strip_prefix('$') {
            out.push('$');
            rest = tail;
        } else if let Some(body) = after.strip_prefix('{') {
            let end = body
                .find('}')
                .ok_or_else(|| format!("unterminated reference in {s:?}"))?;
            out.push_str(&resolve(&body[..end])?);
            rest = &body[end + 1..];
        } else {
            out.push('$');
            rest = after;
        }
    }
    out.push_str(rest);
    Ok(out)
}

fn resolve(reference: &str) -> Result<String, String> {
    let (scheme, rest) = match reference.split_once(':') {
        Some((scheme, rest))
            if scheme
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || c == '_')
                && !scheme.is_empty() =>
        {
            (scheme, rest)
        }
        _ => ("env", reference),
    };
    match scheme {
        "env" => {
            let (name, default) = match rest.split_once(":-") {
                Some((n, d)) => (n, Some(d)),
                None => (rest, None),
            };
            if name.is_empty() || !name.chars().all(|c| c.is_ascii_alphanumeric() || c == '_') {
                return Err(format!("invalid environment variable name {name:?} in ${{{reference}}}"));
            }
            match std::env::var(name) {
                Ok(v) if !v.is_empty() || default.is_none() => Ok(v),
                _ => match default {
                    Some(d) => Ok(d.to_string()),
                    None => {
                        tracing::warn!(variable = name, "environment variable is not set; using an empty value");
                        Ok(String::new())
                    }
                },
            }
        }
        "file" => std::fs::read_to_string(rest)
            .map(|s| s.trim_end_matches('\n').to_string())
            .map_err(|e| format!("cannot read ${{file:{rest}}}: {e}")),
        "yaml" => Ok(rest.to_string()),
        other => Err(format!("unsupported config provider {other:?} in ${{{reference}}} (supported: env, file, yaml)")),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn env_forms_and_escapes() {
        std::env::set_var("FERROTEL_T_PORT", "4317");
        assert_eq!(expand_str("h:${env:FERROTEL_T_PORT}").unwrap(), "h:4317");
        assert_eq!(expand_str("h:${FERROTEL_T_PORT}").unwrap(), "h:4317");
        assert_eq!(expand_str("${env:FERROTEL_T_UNSET:-dflt}").unwrap(), "dflt");
        assert_eq!(expand_str("a$$b").unwrap(), "a$b");
        assert_eq!(expand_str("$${env:X}").unwrap(), "${env:X}");
        let mut v: Value = serde_yaml::from_str("port: ${env:FERROTEL_T_PORT}").unwrap();
        let mut errs = vec![];
        expand_value(&mut v, &mut errs, "");
        assert_eq!(v["port"], Value::Number(4317.into()));
        assert!(expand_str("${bogus:x}")
            .unwrap_err()
            .contains("unsupported config provider"));
    }
}
