//! `filter` on encoded spans and log records: when every condition group is in the resource, scope
//! or item (span, log) context, the processor walks the encoded request with [`split`], decodes each
//! `Resource` and scope once, decodes of each item only the fields its conditions read (worked out at
//! prepare time from the compiled paths) into one reused message, and copies the bytes of the items
//! it keeps. Scope and resource messages left without items are left out, as the decoded path prunes
//! them. Anything else (span event conditions, metrics, a converter whose reads are unknown only
//! widens the decode to the whole item) goes the decoded way; so does a batch on which a condition
//! fails with `error_mode: propagate`, so that the error is the decoded path's.

use opentelemetry_proto::tonic::common::v1::InstrumentationScope;
use opentelemetry_proto::tonic::logs::v1::LogRecord;
use opentelemetry_proto::tonic::resource::v1::Resource;
use opentelemetry_proto::tonic::trace::v1::Span;
use prost::Message;

use super::{any_true, Filterable, Group};
use crate::ottl::context::Field;
use crate::ottl::{ContextKind, Ctx, ErrorMode};
use crate::signal::split::{self, Container, Route, Router};
use crate::signal::{Batch, DecodeError, Logs, Traces};

/// Which fields of each item the item-context conditions read.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ItemFields {
    /// A bit per protobuf field number.
    Only(u64),
    /// The whole item (a converter reads it).
    All,
}

/// How a signal's conditions run on encoded data, worked out when the config is prepared.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Plan {
    pub item_fields: ItemFields,
    /// The item attributes the conditions read, when each is named by a literal key
    /// (`attributes["x"]`): only those entries are decoded; `None` decodes them all.
    pub attribute_keys: Option<Vec<String>>,
}

/// Spans and log records: the item message and how conditions see it.
pub trait EncodedItems: Filterable {
    type Item: Message + Default;
    const ITEM_CONTEXT: ContextKind;
    /// The item's `attributes` path.
    const ATTRIBUTES: Field;
    fn ctx<'x>(
        resource: &'x mut Option<Resource>,
        resource_url: &'x mut String,
        scope: &'x mut Option<InstrumentationScope>,
        scope_url: &'x mut String,
        item: &'x mut Self::Item,
    ) -> Ctx<'x>;
}

impl EncodedItems for Traces {
    type Item = Span;
    const ITEM_CONTEXT: ContextKind = ContextKind::Span;
    const ATTRIBUTES: Field = Field::SpanAttributes;
    fn ctx<'x>(
        resource: &'x mut Option<Resource>,
        resource_url: &'x mut String,
        scope: &'x mut Option<InstrumentationScope>,
        scope_url: &'x mut String,
        item: &'x mut Span,
    ) -> Ctx<'x> {
        Ctx {
            resource: Some(resource),
            resource_schema_url: Some(resource_url),
            scope: Some(scope),
            scope_schema_url: Some(scope_url),
            span: Some(item),
            ..Default::default()
        }
    }
}

impl EncodedItems for Logs {
    type Item = LogRecord;
    const ITEM_CONTEXT: ContextKind = ContextKind::Log;
    const ATTRIBUTES: Field = Field::LogAttributes;
    fn ctx<'x>(
        resource: &'x mut Option<Resource>,
        resource_url: &'x mut String,
        scope: &'x mut Option<InstrumentationScope>,
        scope_url: &'x mut String,
        item: &'x mut LogRecord,
    ) -> Ctx<'x> {
        Ctx {
            resource: Some(resource),
            resource_schema_url: Some(resource_url),
            scope: Some(scope),
            scope_schema_url: Some(scope_url),
            log: Some(item),
            ..Default::default()
        }
    }
}

/// The plan for `groups` of a signal whose items are in `item_context`, or `None` when they must
/// run decoded: a group in another context (span events, metrics), only resource conditions (the
/// encoded-resource path does those), or `propagate` groups beside `ignore` ones (a failure falls
/// back to the decoded path, which would log the `ignore` groups' warnings a second time).
pub fn plan<S: EncodedItems>(groups: &[Group]) -> Option<Plan> {
    let item_context = S::ITEM_CONTEXT;
    use ContextKind::{Resource, Scope};
    if groups.iter().all(|g| g.context == Resource)
        || groups
            .iter()
            .any(|g| !matches!(g.context, Resource | Scope) && g.context != item_context)
    {
        return None;
    }
    let mode = |m: ErrorMode| groups.iter().any(|g| g.error_mode == m);
    if mode(ErrorMode::Propagate) && mode(ErrorMode::Ignore) {
        return None;
    }
    let mut fields = Vec::new();
    let mut all = false;
    let mut keys = Vec::new();
    let mut literal_keys = true;
    for g in groups.iter().filter(|g| g.context == item_context) {
        for c in &g.conditions {
            all |= !c.expr.fields_read(&mut fields);
            literal_keys &= c.expr.literal_keys_of(S::ATTRIBUTES, &mut keys);
        }
    }
    keys.sort();
    keys.dedup();
    let mut mask = 0u64;
    for f in fields {
        match f.owner() {
            Resource | Scope => {}
            owner if owner == item_context => match f.item_field_number() {
                Some(n) if n < 64 => mask |= 1 << n,
                _ => all = true,
            },
            _ => return None,
        }
    }
    Some(Plan {
        item_fields: if all {
            ItemFields::All
        } else {
            ItemFields::Only(mask)
        },
        attribute_keys: literal_keys.then_some(keys),
    })
}

/// Why the encoded walk stopped; either way the batch is left as it was and the decoded path runs.
enum Stop {
    Decode,
    Condition,
}

impl From<DecodeError> for Stop {
    fn from(_: DecodeError) -> Self {
        Stop::Decode
    }
}

/// Keeps (destination 0) what no condition matches.
struct Keep<'a, S: EncodedItems> {
    groups: &'a [Group],
    fields: ItemFields,
    /// The attributes to decode (see [`Plan::attribute_keys`]) and the attributes' field number.
    attribute_keys: Option<&'a [String]>,
    attributes_number: u32,
    id: &'a str,
    resource: Option<Resource>,
    resource_url: String,
    scope: Option<InstrumentationScope>,
    scope_url: String,
    item: S::Item,
}

/// Whether a group of `context` matches, given the ctx built for it.
fn matches(groups: &[Group], id: &str, context: ContextKind, ctx: &Ctx<'_>) -> Result<bool, Stop> {
    for g in groups.iter().filter(|g| g.context == context) {
        if any_true(g, ctx, id).map_err(|_| Stop::Condition)? {
            return Ok(true);
        }
    }
    Ok(false)
}

impl<S: EncodedItems> Router for Keep<'_, S> {
    type Error = Stop;

    fn resource(&mut self, msg: &Container<'_>) -> Result<Route, Stop> {
        self.resource = msg.head::<Resource>()?;
        self.resource_url = msg.schema_url()?;
        let ctx = Ctx {
            resource: Some(&mut self.resource),
            resource_schema_url: Some(&mut self.resource_url),
            ..Default::default()
        };
        Ok(
            if matches(self.groups, self.id, ContextKind::Resource, &ctx)? {
                Route::Drop
            } else {
                Route::PerItem
            },
        )
    }

    fn scope(&mut self, msg: &Container<'_>) -> Result<bool, Stop> {
        self.scope = msg.head::<InstrumentationScope>()?;
        self.scope_url = msg.schema_url()?;
        let ctx = Ctx {
            resource: Some(&mut self.resource),
            resource_schema_url: Some(&mut self.resource_url),
            scope: Some(&mut self.scope),
            scope_schema_url: Some(&mut self.scope_url),
            ..Default::default()
        };
        Ok(!matches(self.groups, self.id, ContextKind::Scope, &ctx)?)
    }

    fn item(&mut self, bytes: &[u8]) -> Result<Option<usize>, Stop> {
        self.item.clear();
        match self.fields {
            ItemFields::All => self.item.merge(bytes).map_err(DecodeError::from)?,
            ItemFields::Only(mask) => {
                let wanted = |n: u32| n < 64 && (mask >> n) & 1 == 1;
                match self.attribute_keys {
                    None => split::merge_fields(&mut self.item, bytes, &wanted)?,
                    Some(keys) => {
                        let attrs = self.attributes_number;
                        // A `KeyValue`'s key is its field 1.
                        let keep = |n: u32, kv: &[u8]| {
                            n != attrs
                                || split::last_bytes_field(kv, 1)
                                    .map_or(true, |k| keys.iter().any(|w| w.as_bytes() == k))
                        };
                        split::merge_fields_where(&mut self.item, bytes, &wanted, &keep)?
                    }
                }
            }
        }
        let ctx = S::ctx(
            &mut self.resource,
            &mut self.resource_url,
            &mut self.scope,
            &mut self.scope_url,
            &mut self.item,
        );
        Ok(if matches(self.groups, self.id, S::ITEM_CONTEXT, &ctx)? {
            None
        } else {
            Some(0)
        })
    }
}

/// Runs `groups` on `batch` while it is encoded, following `plan`; `Some(items dropped)` when done,
/// `None` (the batch untouched) when the decoded path must run instead.
pub fn run<S: EncodedItems>(
    batch: &mut Batch<S>,
    groups: &[Group],
    plan: &Plan,
    id: &str,
) -> Option<usize> {
    if !batch.is_encoded() {
        return None;
    }
    let before = batch.items();
    let mut keep = Keep::<S> {
        groups,
        fields: plan.item_fields,
        attribute_keys: plan.attribute_keys.as_deref(),
        attributes_number: S::ATTRIBUTES.item_field_number().unwrap_or_default(),
        id,
        resource: None,
        resource_url: String::new(),
        scope: None,
        scope_url: String::new(),
        item: S::Item::default(),
    };
    match batch.retain_encoded(&mut keep) {
        Ok(true) => Some(before.saturating_sub(batch.items())),
        Ok(false) | Err(Stop::Decode | Stop::Condition) => None,
    }
}
