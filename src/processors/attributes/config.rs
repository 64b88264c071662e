//! `processors::attributes` settings, as otelcol's attributes processor.

use serde::Deserialize;

use super::filter::MatchProperties;
use crate::processors::attraction::ActionConfig;

#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Config {
    /// Applied in order to every matching span, metric data point or log record. Required.
    #[serde(default)]
    pub actions: Vec<ActionConfig>,
    /// Only data matching these properties is processed.
    #[serde(default)]
    pub include: Option<MatchProperties>,
    /// Data matching these properties is not processed (checked after `include`).
    #[serde(default)]
    pub exclude: Option<MatchProperties>,
}
