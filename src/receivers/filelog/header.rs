//! `header`, as otelcol's fileconsumer reads it: the lines at the start of a file that match
//! `pattern` are the header; each goes through the `metadata_operators` pipeline, the attributes of
//! what comes out are merged (later lines overwrite earlier ones), and once the first line that does
//! not match is reached, the merged attributes are added to every record of the file. Header lines
//! are not passed on. Only files read from their first byte have a header (otelcol requires
//! `start_at: beginning`).

use serde::Deserialize;
use serde_json::{Map, Value};
use serde_yaml::Value as Yaml;

use crate::config::ConfigError;
use crate::stanza::{Entry, Pipeline};

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct HeaderConfig {
    #[serde(default)]
    pub pattern: String,
    #[serde(default)]
    pub metadata_operators: Vec<Yaml>,
}

/// The compiled `header`.
#[derive(Debug, Clone)]
pub struct Header {
    pattern: regex::Regex,
    operators: Vec<Yaml>,
    at: String,
}

impl HeaderConfig {
    pub fn build(
        &self,
        path: &str,
        start_at: &str,
        errors: &mut Vec<ConfigError>,
    ) -> Option<Header> {
        let before = errors.len();
        if start_at != "beginning" {
            errors.push(ConfigError::new(
                path.to_string(),
                "header requires start_at: beginning (as in otelcol)",
            ));
        }
        let pattern = match regex::Regex::new(&self.pattern) {
            Ok(_) if self.pattern.is_empty() => {
                errors.push(ConfigError::new(
                    format!("{path}::pattern"),
                    "pattern must be specified",
                ));
                None
            }
            Ok(r) => Some(r),
            Err(e) => {
                errors.push(ConfigError::new(
                    format!("{path}::pattern"),
                    format!("invalid regular expression: {e}"),
                ));
                None
            }
        };
        let at = format!("{path}::metadata_operators");
        if self.metadata_operators.is_empty() {
            errors.push(ConfigError::new(
                at.clone(),
                "at least one metadata operator is required",
            ));
        } else if let Err(es) = Pipeline::build(&self.metadata_operators, &at) {
            for (p, m) in es {
                errors.push(ConfigError::new(p, m));
            }
        }
        if errors.len() != before {
            return None;
        }
        Some(Header {
            pattern: pattern?,
            operators: self.metadata_operators.clone(),
            at,
        })
    }
}

impl Header {
    /// The state for one file read from its start.
    pub fn start(&self) -> Option<HeaderState> {
        let (pipeline, _) = Pipeline::build(&self.operators, &self.at).ok()?;
        Some(HeaderState {
            pattern: self.pattern.clone(),
            pipeline,
            attrs: Map::new(),
            end: None,
        })
    }
}

/// A file's header as far as it was read.
pub struct HeaderState {
    pattern: regex::Regex,
    pipeline: Pipeline,
    /// The merged attributes of the header lines read so far.
    pub attrs: Map<String, Value>,
    /// Where the first line after the header starts, once it was reached.
    end: Option<u64>,
}

impl HeaderState {
    /// Takes the line starting at byte `start` if it belongs to the header (true: it is not passed
    /// on). Lines read again after a refused batch are recognised by their position.
    pub fn take(&mut self, line: &str, start: u64) -> bool {
        if let Some(end) = self.end {
            return start < end;
        }
        if !self.pattern.is_match(line) {
            self.end = Some(start);
            return false;
        }
        let mut out = Vec::new();
        self.pipeline
            .process(Entry::new(Value::String(line.to_string())), &mut out);
        for e in out {
            self.attrs.extend(e.attributes);
        }
        true
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn header_lines_merge_their_attributes_until_the_first_other_line() {
        let c: HeaderConfig = serde_yaml::from_str(
            r#"{pattern: '^#', metadata_operators: [{type: regex_parser, regex: '^#(?P<k>[a-z]+)=(?P<v>\S+)$'}, {type: move, from: 'attributes.v', to: 'attributes.value'}]}"#,
        )
        .unwrap();
        let mut errors = Vec::new();
        let h = c.build("h", "beginning", &mut errors).unwrap();
        assert!(errors.is_empty(), "{errors:?}");
        let mut s = h.start().unwrap();
        assert!(s.take("#user=alice", 0));
        assert!(s.take("#user=bob", 12));
        assert!(!s.take("record 1", 22));
        assert!(!s.take("#not=header-any-more", 31));
        // Read again from the start after a refusal: still the header, still not passed on.
        assert!(s.take("#user=alice", 0));
        assert_eq!(s.attrs.get("value"), Some(&Value::from("bob")));
        assert_eq!(s.attrs.get("k"), Some(&Value::from("user")));
    }

    #[test]
    fn bad_header_config_names_its_keys() {
        let c: HeaderConfig =
            serde_yaml::from_str("{pattern: '(', metadata_operators: []}").unwrap();
        let mut errors = Vec::new();
        assert!(c.build("h", "end", &mut errors).is_none());
        let e: Vec<String> = errors.iter().map(|e| e.to_string()).collect();
        assert!(e.iter().any(|e| e.starts_with("h: ")), "{e:?}");
        for k in ["h::pattern", "h::metadata_operators"] {
            assert!(e.iter().any(|e| e.contains(k)), "{k}: {e:?}");
        }
    }
}
