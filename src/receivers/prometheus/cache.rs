//! The scrape cache of one target, as Prometheus' scrape loop keeps one: what each series line
//! became the first time it was scraped, keyed by the series exactly as the target writes it
//! (`name{labels}`, hashed with a fast non-keyed hash).
//!
//! A gauge or counter line seen before costs a hash, a lookup, its value (and timestamp) and the
//! data point's bytes: its labels are not parsed again, `metric_relabel_configs` do not run again
//! (a dropped series is remembered as dropped), and its attributes are already encoded. Other
//! lines (histograms, summaries, `target_info`) and the protobuf format take the full path
//! (`convert`) every scrape. A line written differently (label order, spaces, escapes) is another
//! entry that resolves to the same series.
//!
//! The series of every scrape (both paths) are tracked here too, by generation, for
//! `scrape_series_added` and the stale markers of series that disappear. After each scrape the
//! entries, families and series it did not see are evicted, so the cache holds one scrape's worth
//! (bounded by the target's size, `sample_limit` and `body_size_limit`). A change of the
//! exposition's metadata (`# TYPE`, `# HELP`, `# UNIT`) or format empties it, and a failed scrape
//! too. A target whose labels or job change is another scrape loop with its own cache.

use std::sync::Arc;

use opentelemetry_proto::tonic::metrics::v1::Exemplar;

use super::config::Job;
use super::convert::{self, NumberPoint, ScrapedSample, SeriesKey, GAUGE, SUM};
use super::{
    check_label_count, check_label_limits, count_sample, label_or, prepare_labels, resource_of,
    Group, Groups, Target,
};
use crate::prom::fasthash::{FastMap, FastSet};
use crate::prom::text::{self, Exposition, MetricType, ParseError};

/// What a cached series line resolves to.
#[derive(Debug, Clone, Copy, PartialEq)]
enum Entry {
    /// `metric_relabel_configs` drop it.
    Dropped,
    /// A gauge or counter sample: its label count (for `label_limit`), its family and the point
    /// it sets (its value, or its start time when it is a counter's `_created`).
    Number {
        labels: u32,
        family: u32,
        point: u32,
        created: bool,
    },
}

struct CachedEntry {
    seen: u64,
    entry: Entry,
}

/// A gauge or counter family of one resource.
struct FamilySlot {
    resource: Arc<(String, String)>,
    /// The family's name in the exposition (before `trim_metric_suffixes`).
    family: Box<str>,
    name: Arc<str>,
    kind: u8,
    help: String,
    unit: String,
    seen: u64,
    /// This scrape's samples, in the order scraped.
    samples: Vec<NumberSample>,
}

#[derive(Clone, Copy)]
struct NumberSample {
    point: u32,
    created: bool,
    /// Index into the scrape's exemplars, or `NONE`.
    exemplar: u32,
    ts_ms: i64,
    value: f64,
}

/// A series (a data point's identity) of the last scrape or of this one.
struct PointSlot {
    key: SeriesKey,
    /// Its attributes as protobuf fields (for gauge and counter points).
    attrs_pb: Box<[u8]>,
    /// The last scrape that produced it (0: none yet).
    seen: u64,
}

const NONE: u32 = u32::MAX;

#[derive(Default)]
pub struct ScrapeCache {
    /// The current scrape; the previous one is `gen - 1`.
    gen: u64,
    /// The comment lines of the last text scrape, each followed by `\n` (`None`: unknown), its
    /// format, and the metadata they declare (an exposition without samples).
    comments: Option<Vec<u8>>,
    openmetrics: bool,
    expo: Exposition,
    entries: FastMap<Box<[u8]>, CachedEntry>,
    entries_seen: usize,
    families: Vec<FamilySlot>,
    /// By the hash of job, instance and family (see `family_hash`): families of that hash.
    family_index: FastMap<u64, Vec<u32>>,
    families_seen: usize,
    points: Vec<PointSlot>,
    /// By `SeriesKey::hash64`: points of that hash.
    point_index: FastMap<u64, Vec<u32>>,
    points_seen: usize,
    /// Series of this scrape that were not in the previous one.
    added: usize,
}

/// One scrape's output per resource, in the order first seen.
struct ResourceOut {
    key: (String, String),
    /// The resource's families in the order first seen: a cached one by its index, `SLOW` for
    /// the next family of `slow` (their order is the order of their first samples).
    order: Vec<u32>,
    slow: Vec<ScrapedSample>,
    slow_families: FastSet<String>,
}

#[derive(Default)]
struct Resources {
    list: Vec<ResourceOut>,
    index: FastMap<(String, String), usize>,
    /// The one asked for last (consecutive samples are mostly of one resource).
    last: usize,
}

impl Resources {
    fn get(&mut self, job: &str, instance: &str) -> &mut ResourceOut {
        let last = self.last;
        let at = match self.list.get(last) {
            Some(r) if r.key.0 == job && r.key.1 == instance => last,
            _ => {
                let key = (job.to_string(), instance.to_string());
                match self.index.get(&key) {
                    Some(&i) => i,
                    None => {
                        self.index.insert(key.clone(), self.list.len());
                        self.list.push(ResourceOut {
                            key,
                            order: Vec::new(),
                            slow: Vec::new(),
                            slow_families: FastSet::default(),
                        });
                        self.list.len() - 1
                    }
                }
            }
        };
        self.last = at;
        &mut self.list[at]
    }
}

/// `order` value for a family of the full path.
const SLOW: u32 = u32::MAX;

/// What a new series line resolves to.
enum Resolved {
    Cached(Entry),
    /// Not a gauge or counter: the sample's labels after relabeling, and their count.
    Full(Vec<(String, String)>, usize),
    /// A label limit is exceeded (the scrape fails).
    Error(String),
}

/// The scrape's view of its target: the limits and the target's labels.
struct Scope<'a> {
    job: &'a Job,
    target: &'a Target,
    implicit_ok: bool,
    target_job: Option<&'a str>,
    target_instance: Option<&'a str>,
}

impl<'a> Scope<'a> {
    /// A series' resource (`job`, `instance`), as the uncached path finds it.
    fn resource_of<'l>(&self, labels: &'l [(String, String)]) -> (&'l str, &'l str)
    where
        'a: 'l,
    {
        resource_of(
            labels,
            (self.target_job, self.target_instance),
            self.implicit_ok,
        )
    }
}

impl ScrapeCache {
    pub fn new() -> Self {
        ScrapeCache {
            gen: 1,
            ..Default::default()
        }
    }

    /// Starts a scrape.
    pub fn begin(&mut self) {
        self.gen += 1;
        self.added = 0;
        self.entries_seen = 0;
        self.families_seen = 0;
        self.points_seen = 0;
    }

    /// A failed scrape: forgets every line (the series of the previous scrape stay, to be
    /// reported stale by [`ScrapeCache::finish`]).
    pub fn forget(&mut self) {
        self.comments = None;
        self.expo = Exposition::default();
        self.entries.clear();
        self.entries_seen = 0;
        self.families.clear();
        self.family_index.clear();
        self.families_seen = 0;
        for p in &mut self.points {
            if p.seen == self.gen {
                p.seen = 0;
            }
        }
        self.points_seen = 0;
        self.added = 0;
    }

    /// Ends a scrape: returns how many of its series were not in the previous scrape, and the
    /// previous scrape's series that are not in this one (for stale markers); evicts what this
    /// scrape did not see.
    pub fn finish(&mut self) -> (usize, Vec<SeriesKey>) {
        let gen = self.gen;
        let mut gone: Vec<SeriesKey> = self
            .points
            .iter()
            .filter(|p| p.seen == gen - 1)
            .map(|p| p.key.clone())
            .collect();
        gone.sort_by(|a, b| {
            (&a.resource, &a.metric, a.kind, a.attrs()).cmp(&(
                &b.resource,
                &b.metric,
                b.kind,
                b.attrs(),
            ))
        });
        let point_map = (self.points_seen < self.points.len()).then(|| {
            let map = retain_seen(&mut self.points, |p| p.seen == gen);
            remap_index(&mut self.point_index, &map);
            map
        });
        let family_map = (self.families_seen < self.families.len()).then(|| {
            let map = retain_seen(&mut self.families, |f| f.seen == gen);
            remap_index(&mut self.family_index, &map);
            map
        });
        if self.entries_seen < self.entries.len() || point_map.is_some() || family_map.is_some() {
            self.entries.retain(|_, e| {
                if e.seen != gen {
                    return false;
                }
                match &mut e.entry {
                    Entry::Dropped => true,
                    Entry::Number { family, point, .. } => {
                        point_map.as_ref().is_none_or(|m| remap(m, point))
                            && family_map.as_ref().is_none_or(|m| remap(m, family))
                    }
                }
            });
        }
        (self.added, gone)
    }

    /// The series of the last scrape (stale markers when the target goes away).
    pub fn live(&self) -> Vec<SeriesKey> {
        self.points
            .iter()
            .filter(|p| p.seen == self.gen)
            .map(|p| p.key.clone())
            .collect()
    }

    /// Records series converted by the full path (the protobuf format).
    pub fn register(&mut self, keys: Vec<SeriesKey>) {
        for k in keys {
            let id = self.point_id(k);
            self.mark(id);
        }
    }

    fn point_id(&mut self, key: SeriesKey) -> u32 {
        let ids = self.point_index.entry(key.hash64()).or_default();
        let points = &self.points;
        if let Some(&id) = ids
            .iter()
            .find(|&&id| points.get(id as usize).is_some_and(|p| p.key == key))
        {
            return id;
        }
        let id = self.points.len() as u32;
        ids.push(id);
        self.points.push(PointSlot {
            key,
            attrs_pb: Box::default(),
            seen: 0,
        });
        id
    }

    fn mark(&mut self, id: u32) {
        if let Some(p) = self.points.get_mut(id as usize) {
            mark(p, self.gen, &mut self.added, &mut self.points_seen);
        }
    }

    /// One text or OpenMetrics scrape: what `process` does for a parsed exposition, with cached
    /// series lines. Returns the groups, the samples scraped and those kept after relabeling.
    pub fn scrape_text(
        &mut self,
        job: &Job,
        target: &Target,
        body: &str,
        openmetrics: bool,
        now_ms: i64,
    ) -> Result<(Groups, usize, usize), String> {
        let lines = text::split_lines(body, openmetrics);
        let meta_error = self.metadata(&lines.comments, openmetrics);
        let stop = meta_error.as_ref().map_or(usize::MAX, |e| e.line);
        let scope = Scope {
            job,
            target,
            implicit_ok: job.metric_relabel.is_empty(),
            target_job: target.label("job"),
            target_instance: target.label("instance"),
        };
        let parse_error =
            |line: usize, message: String| format!("parse error: {}", ParseError { line, message });
        let gen = self.gen;
        let mut resources = Resources::default();
        let mut exemplars: Vec<Exemplar> = Vec::new();
        let (mut scraped, mut post) = (0usize, 0usize);
        // After a limit is exceeded the rest is only checked for parse errors, which come first.
        let mut limit_error: Option<String> = None;
        for &(line_no, line) in lines.samples.iter().take_while(|(n, _)| *n < stop) {
            let s = text::split_sample(line, openmetrics).map_err(|m| parse_error(line_no, m))?;
            scraped += 1;
            let key = s.series.as_bytes();
            if limit_error.is_some() {
                if !self.entries.contains_key(key) {
                    text::parse_series_of(line, s.series, openmetrics)
                        .map_err(|m| parse_error(line_no, m))?;
                }
                continue;
            }
            let t = match s.timestamp_ms {
                Some(t) if job.cfg.honor_timestamps => t,
                _ => now_ms,
            };
            let entry = match self.entries.get_mut(key) {
                Some(c) => {
                    if c.seen != gen {
                        c.seen = gen;
                        self.entries_seen += 1;
                    }
                    c.entry
                }
                None => {
                    let labels = text::parse_series_of(line, s.series, openmetrics)
                        .map_err(|m| parse_error(line_no, m))?;
                    match self.resolve(&scope, labels) {
                        Resolved::Cached(entry) => {
                            self.entries
                                .insert(key.into(), CachedEntry { seen: gen, entry });
                            self.entries_seen += 1;
                            entry
                        }
                        Resolved::Error(e) => {
                            limit_error = Some(e);
                            continue;
                        }
                        Resolved::Full(labels, count) => {
                            if let Err(e) = limits(job, count, &mut post) {
                                limit_error = Some(e);
                                continue;
                            }
                            let (rj, ri) = scope.resource_of(&labels);
                            let res = resources.get(rj, ri);
                            let name = label_or(&labels, "__name__", None);
                            let (family, meta) = self.expo.family_of(name);
                            let info = name == "target_info"
                                || (meta.is_some_and(|m| m.mtype == MetricType::Info)
                                    && family == "target");
                            if !info && !res.slow_families.contains(family) {
                                res.slow_families.insert(family.to_string());
                                res.order.push(SLOW);
                            }
                            res.slow.push((labels, s.value, t, s.exemplar, None));
                            continue;
                        }
                    }
                }
            };
            let Entry::Number {
                labels,
                family,
                point,
                created,
            } = entry
            else {
                continue;
            };
            if let Err(e) = limits(job, labels as usize, &mut post) {
                limit_error = Some(e);
                continue;
            }
            let Some(fam) = self.families.get_mut(family as usize) else {
                continue;
            };
            if fam.seen != gen {
                fam.seen = gen;
                self.families_seen += 1;
                fam.samples.clear();
                resources
                    .get(&fam.resource.0, &fam.resource.1)
                    .order
                    .push(family);
            }
            let exemplar = match s.exemplar {
                Some(e) if !created => {
                    exemplars.push(convert::exemplar_of(&e, t));
                    exemplars.len() as u32 - 1
                }
                _ => NONE,
            };
            fam.samples.push(NumberSample {
                point,
                created,
                exemplar,
                ts_ms: t,
                value: s.value,
            });
        }
        if let Some(e) = meta_error.or(lines.end_error) {
            return Err(format!("parse error: {e}"));
        }
        if let Some(e) = limit_error {
            return Err(e);
        }
        let mut groups = Groups::new();
        let mut dps = Vec::new();
        for res in resources.list {
            let (slow, target_info, keys) =
                convert::to_encoded_families(&res.key, job.trim_suffixes, &self.expo, res.slow);
            self.register(keys);
            let mut slow = slow.into_iter();
            let mut encoded = Vec::new();
            let mut points = 0;
            for f in res.order {
                if f == SLOW {
                    if let Some((bytes, n)) = slow.next() {
                        encoded.extend_from_slice(&bytes);
                        points += n;
                    }
                } else if let Some(fam) = self.families.get_mut(f as usize) {
                    points += encode_family(
                        fam,
                        &mut self.points,
                        gen,
                        (&mut self.added, &mut self.points_seen),
                        &exemplars,
                        &mut dps,
                        &mut encoded,
                    );
                }
            }
            groups.insert(
                res.key,
                Group {
                    encoded,
                    points,
                    metrics: vec![],
                    target_info,
                },
            );
        }
        Ok((groups, scraped, post))
    }

    /// Reads the metadata from the comment lines unless they are the last scrape's; a change
    /// empties the cache. Returns the first comment OpenMetrics rejects.
    fn metadata(&mut self, comments: &[(usize, &str)], openmetrics: bool) -> Option<ParseError> {
        if openmetrics == self.openmetrics {
            if let Some(prev) = &self.comments {
                let mut at = 0;
                let same = comments.iter().all(|(_, line)| {
                    let end = at + line.len();
                    let ok =
                        prev.get(at..end) == Some(line.as_bytes()) && prev.get(end) == Some(&b'\n');
                    at = end + 1;
                    ok
                });
                if same && at == prev.len() {
                    return None;
                }
            }
        }
        let mut metadata = FastMap::default();
        let error = text::parse_metadata(comments, openmetrics, &mut metadata).err();
        if metadata != self.expo.metadata || openmetrics != self.openmetrics {
            self.entries.clear();
            self.families.clear();
            self.family_index.clear();
        }
        self.expo.metadata = metadata;
        self.openmetrics = openmetrics;
        let mut text = Vec::with_capacity(comments.iter().map(|(_, l)| l.len() + 1).sum());
        for (_, line) in comments {
            text.extend_from_slice(line.as_bytes());
            text.push(b'\n');
        }
        self.comments = Some(text);
        error
    }

    /// A series line not seen before: relabeled, and for a gauge or counter its family and series.
    fn resolve(&mut self, scope: &Scope, labels: Vec<(String, String)>) -> Resolved {
        let Some((mut labels, implicit)) =
            prepare_labels(scope.job, scope.target, scope.implicit_ok, labels)
        else {
            return Resolved::Cached(Entry::Dropped);
        };
        if let Err(e) = check_label_limits(scope.job, scope.target, &labels, implicit) {
            return Resolved::Error(e);
        }
        let count = labels.len() + implicit;
        let name = match labels.iter().position(|(k, _)| k == "__name__") {
            Some(i) => labels.remove(i).1,
            None => String::new(),
        };
        let (family, meta) = self.expo.family_of(&name);
        let mtype = meta.map(|m| m.mtype).unwrap_or_default();
        let kind = convert::kind_of(mtype, false);
        if name == "target_info"
            || (mtype == MetricType::Info && family == "target")
            || !matches!(kind, GAUGE | SUM)
        {
            labels.insert(0, ("__name__".to_string(), name));
            return Resolved::Full(labels, count);
        }
        let created = kind != GAUGE && name.get(family.len()..) == Some("_created");
        let (rj, ri) = scope.resource_of(&labels);
        let ids = self
            .family_index
            .entry(family_hash(rj, ri, family))
            .or_default();
        let families = &self.families;
        let found = ids.iter().copied().find(|&id| {
            families
                .get(id as usize)
                .is_some_and(|f| f.resource.0 == rj && f.resource.1 == ri && &*f.family == family)
        });
        let family_id = match found {
            Some(id) => id,
            None => {
                let id = self.families.len() as u32;
                ids.push(id);
                let unit = meta.map(|m| m.unit.as_str()).unwrap_or("");
                self.families.push(FamilySlot {
                    resource: Arc::new((rj.to_string(), ri.to_string())),
                    family: family.into(),
                    name: Arc::from(if scope.job.trim_suffixes {
                        convert::trim(family, kind, unit)
                    } else {
                        family.to_string()
                    }),
                    kind,
                    help: meta.map(|m| m.help.clone()).unwrap_or_default(),
                    unit: unit.to_string(),
                    seen: 0,
                    samples: Vec::new(),
                });
                id
            }
        };
        let fam = &self.families[family_id as usize];
        let mut attrs = labels;
        attrs.retain(|(k, _)| !matches!(k.as_str(), "job" | "instance"));
        attrs.sort();
        let key = SeriesKey::new(&fam.resource, &fam.name, fam.kind, attrs);
        let point = self.point_id(key);
        let p = &mut self.points[point as usize];
        if p.attrs_pb.is_empty() && !p.key.attrs().is_empty() {
            let mut pb = Vec::new();
            convert::put_attributes(p.key.attrs(), &mut pb);
            p.attrs_pb = pb.into_boxed_slice();
        }
        Resolved::Cached(Entry::Number {
            labels: count.min(u32::MAX as usize) as u32,
            family: family_id,
            point,
            created,
        })
    }
}

/// `label_limit` and `sample_limit`, counting the sample as kept.
fn limits(job: &Job, labels: usize, post: &mut usize) -> Result<(), String> {
    check_label_count(job, labels)?;
    count_sample(job, post)
}

fn mark(p: &mut PointSlot, gen: u64, added: &mut usize, seen: &mut usize) {
    if p.seen != gen {
        if p.seen != gen - 1 {
            *added += 1;
        }
        p.seen = gen;
        *seen += 1;
    }
}

/// Keeps the items `keep` accepts, in order; returns each old index's new one (`NONE`: gone).
fn retain_seen<T>(items: &mut Vec<T>, keep: impl Fn(&T) -> bool) -> Vec<u32> {
    let mut map = Vec::with_capacity(items.len());
    let mut next = 0u32;
    for item in items.iter() {
        if keep(item) {
            map.push(next);
            next += 1;
        } else {
            map.push(NONE);
        }
    }
    items.retain(keep);
    map
}

fn family_hash(job: &str, instance: &str, family: &str) -> u64 {
    use std::hash::{Hash, Hasher};
    let mut h = crate::prom::fasthash::FastHasher::default();
    (job, instance, family).hash(&mut h);
    h.finish()
}

/// Renumbers an index after `retain_seen`, dropping what is gone.
fn remap_index(index: &mut FastMap<u64, Vec<u32>>, map: &[u32]) {
    index.retain(|_, ids| {
        ids.retain_mut(|id| remap(map, id));
        !ids.is_empty()
    });
}

fn remap(map: &[u32], id: &mut u32) -> bool {
    match map.get(*id as usize) {
        Some(&n) if n != NONE => {
            *id = n;
            true
        }
        _ => false,
    }
}

/// Appends a cached family's metric (as `convert` encodes a gauge or counter): its points in
/// the order of their attributes, the samples of one series merged as `convert` merges them (the
/// latest timestamp, the last value, the last `_created`, every exemplar). Returns its points.
fn encode_family(
    fam: &mut FamilySlot,
    points: &mut [PointSlot],
    gen: u64,
    (added, seen): (&mut usize, &mut usize),
    exemplars: &[Exemplar],
    dps: &mut Vec<u8>,
    out: &mut Vec<u8>,
) -> usize {
    let attrs = |s: &NumberSample| points.get(s.point as usize).map(|p| p.key.attrs());
    let sorted = fam.samples.windows(2).all(|w| attrs(&w[0]) < attrs(&w[1]));
    if !sorted {
        fam.samples.sort_by(|a, b| attrs(a).cmp(&attrs(b)));
    }
    dps.clear();
    let mut n = 0;
    let mut own_exemplars = Vec::new();
    let mut i = 0;
    while let Some(&first) = fam.samples.get(i) {
        let run = fam.samples[i..]
            .iter()
            .take_while(|s| s.point == first.point)
            .count();
        let mut ts_ms = 0i64;
        let mut value = 0.0;
        let mut created = None;
        own_exemplars.clear();
        for s in &fam.samples[i..i + run] {
            ts_ms = ts_ms.max(s.ts_ms);
            if s.created {
                created = Some(s.value);
            } else {
                value = s.value;
                if let Some(e) = exemplars.get(s.exemplar as usize) {
                    own_exemplars.push(e.clone());
                }
            }
        }
        i += run;
        let Some(p) = points.get_mut(first.point as usize) else {
            continue;
        };
        mark(p, gen, added, seen);
        convert::put_number_point(
            &NumberPoint {
                attrs_pb: &p.attrs_pb,
                ts_ms,
                value,
                created,
                exemplars: &own_exemplars,
            },
            dps,
        );
        n += 1;
    }
    convert::put_number_metric(&fam.name, &fam.help, &fam.unit, fam.kind, dps, out);
    n
}

#[cfg(test)]
mod tests {
    use std::collections::BTreeMap;

    use opentelemetry_proto::tonic::metrics::v1::{metric, ScopeMetrics};
    use prost::Message;

    use super::super::config::ReceiverConfig;
    use super::super::{make_target, process};
    use super::*;

    const NOW: i64 = 1_700_000_000_000;

    fn job(scrape_config: &str) -> Job {
        let c: ReceiverConfig = serde_yaml::from_str(&format!(
            "config: {{scrape_configs: [{{job_name: j, {scrape_config}}}]}}"
        ))
        .unwrap();
        c.compile("r").unwrap().0.remove(0)
    }

    /// A scrape's result as both paths return it: per resource the encoded metrics, their data
    /// points and the `target_info` labels; samples scraped and kept; series added; series gone.
    #[derive(Debug, PartialEq)]
    struct Outcome {
        groups: Vec<FlatGroup>,
        scraped: usize,
        post: usize,
        added: usize,
        gone: Vec<SeriesKey>,
    }

    fn sorted(mut keys: Vec<SeriesKey>) -> Vec<SeriesKey> {
        keys.sort_by(|a, b| {
            (&a.resource, &a.metric, a.kind, a.attrs()).cmp(&(
                &b.resource,
                &b.metric,
                b.kind,
                b.attrs(),
            ))
        });
        keys
    }

    /// A resource, its encoded metrics, their points, its `target_info` labels.
    type FlatGroup = ((String, String), Vec<u8>, usize, Vec<(String, String)>);

    fn flatten(groups: Groups) -> Vec<FlatGroup> {
        groups
            .into_iter()
            .map(|(k, g)| {
                assert!(g.metrics.is_empty());
                (k, g.encoded, g.points, g.target_info)
            })
            .collect()
    }

    /// A target scraped through the cache and, beside it, through the uncached path (`text::parse`
    /// then `process`, with the previous scrape's series in a list): every scrape must give the
    /// same result both ways.
    struct Scraper {
        job: Job,
        target: Target,
        cache: ScrapeCache,
        previous: Vec<SeriesKey>,
    }

    impl Scraper {
        fn new(scrape_config: &str) -> Self {
            Self::at(scrape_config, "h:1")
        }

        fn at(scrape_config: &str, address: &str) -> Self {
            let job = job(scrape_config);
            let mut group = BTreeMap::new();
            group.insert("team".to_string(), "infra".to_string());
            let target = make_target(&job, address, &group).unwrap();
            Scraper {
                job,
                target,
                cache: ScrapeCache::new(),
                previous: vec![],
            }
        }

        /// Scrapes `body` both ways, checks they agree, and returns the cached path's outcome.
        fn scrape(&mut self, body: &str, openmetrics: bool) -> Result<Outcome, String> {
            self.cache.begin();
            let cached = self
                .cache
                .scrape_text(&self.job, &self.target, body, openmetrics, NOW);
            if cached.is_err() {
                self.cache.forget();
            }
            let (added, gone) = self.cache.finish();
            let cached = cached.map(|(groups, scraped, post)| Outcome {
                groups: flatten(groups),
                scraped,
                post,
                added,
                gone: gone.clone(),
            });
            let uncached = text::parse(body, openmetrics)
                .map_err(|e| format!("parse error: {e}"))
                .and_then(|expo| process(&self.job, &self.target, expo, NOW));
            let keys = match &uncached {
                Ok((_, keys, _, _)) => keys.clone(),
                Err(_) => vec![],
            };
            let want_added = keys.iter().filter(|k| !self.previous.contains(k)).count();
            let want_gone: Vec<SeriesKey> = self
                .previous
                .iter()
                .filter(|k| !keys.contains(k))
                .cloned()
                .collect();
            self.previous = keys;
            let uncached = uncached.map(|(groups, _, scraped, post)| Outcome {
                groups: flatten(groups),
                scraped,
                post,
                added: want_added,
                gone: sorted(want_gone.clone()),
            });
            match (&cached, &uncached) {
                (Ok(c), Ok(u)) if c != u => {
                    // Decoded, for a readable difference.
                    let decode = |o: &Outcome| -> Vec<ScopeMetrics> {
                        o.groups
                            .iter()
                            .map(|g| ScopeMetrics::decode(&g.1[..]).unwrap())
                            .collect()
                    };
                    assert_eq!(decode(c), decode(u), "metrics, for {body:?}");
                    assert_eq!(c, u, "for {body:?}");
                }
                (Err(c), Err(u)) => assert_eq!(c, u, "errors, for {body:?}"),
                (Ok(_), Ok(_)) => {}
                _ => panic!("cached {cached:?}, uncached {uncached:?}, for {body:?}"),
            }
            if cached.is_err() {
                assert_eq!((added, sorted(gone)), (0, sorted(want_gone)));
            }
            cached
        }

        /// The values of `name`'s points in the only resource, by attributes.
        fn values(&mut self, body: &str, name: &str) -> Vec<(Vec<(String, String)>, f64)> {
            let out = self.scrape(body, false).unwrap();
            let mut values = vec![];
            for g in &out.groups {
                for m in ScopeMetrics::decode(&g.1[..]).unwrap().metrics {
                    if m.name != name {
                        continue;
                    }
                    let points = match m.data {
                        Some(metric::Data::Gauge(g)) => g.data_points,
                        Some(metric::Data::Sum(s)) => s.data_points,
                        other => panic!("{other:?}"),
                    };
                    for p in points {
                        let attrs = p
                            .attributes
                            .iter()
                            .map(|kv| match &kv.value.as_ref().unwrap().value {
                                Some(opentelemetry_proto::tonic::common::v1::any_value::Value::StringValue(s)) => {
                                    (kv.key.clone(), s.clone())
                                }
                                other => panic!("{other:?}"),
                            })
                            .collect();
                        let v = match p.value {
                            Some(opentelemetry_proto::tonic::metrics::v1::number_data_point::Value::AsDouble(v)) => v,
                            other => panic!("{other:?}"),
                        };
                        values.push((attrs, v));
                    }
                }
            }
            values
        }
    }

    fn attrs(pairs: &[(&str, &str)]) -> Vec<(String, String)> {
        pairs
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect()
    }

    const BODY: &str = "# HELP c_total Requests.\n# TYPE c_total counter\n\
        c_total{code=\"200\",path=\"/a\"} 5\nc_total{code=\"500\",path=\"/a\"} 1\n\
        # TYPE c counter\nc_total{a=\"b\"} 7\nc_created{a=\"b\"} 1520430000.5\n\
        # TYPE g gauge\n# UNIT g bytes\ng{x=\"1\"} 3\ng{x=\"0\"} 4 1600000000000\ng 2\ng{x=\"1\"} 8\n\
        untyped{y=\"a\\\\q\"} -1.5\nuntyped{y=\"\\\"\\n\"} NaN\n\
        # TYPE h histogram\nh_bucket{le=\"1\"} 2\nh_bucket{le=\"+Inf\"} 4\nh_sum 9\nh_count 4\n\
        # TYPE s summary\ns{quantile=\"0.5\"} 1\ns_sum 10\ns_count 5\n\
        target_info{env=\"prod\"} 1\nlast{team=\"x\"} 1\n";

    #[test]
    fn the_cache_gives_what_the_uncached_path_gives_scrape_after_scrape() {
        let mut s = Scraper::new("static_configs: [{targets: ['h:1']}]");
        let first = s.scrape(BODY, false).unwrap();
        assert_eq!(first.added, 12);
        let again = s.scrape(BODY, false).unwrap();
        assert_eq!((again.added, again.gone.len()), (0, 0));
        assert_eq!(
            again.groups, first.groups,
            "the same body, the same metrics"
        );
        assert!(
            s.cache.entries.len() >= 10,
            "gauge and counter lines cached"
        );
        // Values change; a series goes away and another comes; lines in another order.
        let changed = BODY
            .replace(
                "c_total{code=\"200\",path=\"/a\"} 5",
                "c_total{code=\"200\",path=\"/a\"} 6",
            )
            .replace("g 2\n", "g 20\n")
            .replace("c_total{code=\"500\",path=\"/a\"} 1\n", "")
            .replace("last{team=\"x\"} 1\n", "")
            + "g{x=\"2\"} 1\nlast{team=\"x\"} 2\n";
        let out = s.scrape(&changed, false).unwrap();
        assert_eq!(out.added, 1);
        assert_eq!(out.gone.len(), 1);
        assert_eq!(&*out.gone[0].metric, "c_total");
        assert_eq!(
            s.values(&changed, "c_total"),
            vec![
                (attrs(&[("a", "b"), ("team", "infra")]), 7.0),
                (
                    attrs(&[("code", "200"), ("path", "/a"), ("team", "infra")]),
                    6.0
                )
            ]
        );
        // It comes back.
        let out = s.scrape(BODY, false).unwrap();
        assert_eq!((out.added, out.gone.len()), (1, 1));
        assert_eq!(
            s.values(BODY, "c_total"),
            vec![
                (attrs(&[("a", "b"), ("team", "infra")]), 7.0),
                (
                    attrs(&[("code", "200"), ("path", "/a"), ("team", "infra")]),
                    5.0
                ),
                (
                    attrs(&[("code", "500"), ("path", "/a"), ("team", "infra")]),
                    1.0
                )
            ]
        );
        // Written differently: label order, spaces, another escape for the same value. Other
        // entries, the same series.
        let rewritten = BODY
            .replace(
                "c_total{code=\"200\",path=\"/a\"}",
                "c_total { path = \"/a\" , code=\"200\", }",
            )
            .replace("untyped{y=\"a\\\\q\"}", "untyped{y=\"a\\q\"}");
        let out = s.scrape(&rewritten, false).unwrap();
        assert_eq!((out.added, out.gone.len()), (0, 0));
        assert_eq!(out.groups, first.groups);
        // Both spellings in one scrape: one point, the last value.
        let both = format!("{BODY}c_total{{path=\"/a\",code=\"200\"}} 9\n");
        let out = s.scrape(&both, false).unwrap();
        assert_eq!((out.added, out.gone.len()), (0, 0));
        assert_eq!(s.values(&both, "c_total")[1].1, 9.0);
    }

    #[test]
    fn metadata_changes_empty_the_cache() {
        let mut s = Scraper::new("static_configs: [{targets: ['h:1']}]");
        s.scrape("# TYPE m gauge\nm{a=\"1\"} 1\nm_total 2\n", false)
            .unwrap();
        // The same lines, now a counter family: the series are other series (a sum).
        let out = s
            .scrape("# TYPE m counter\nm{a=\"1\"} 1\nm_total 2\n", false)
            .unwrap();
        assert_eq!((out.added, out.gone.len()), (2, 2));
        let m = ScopeMetrics::decode(&out.groups[0].1[..]).unwrap().metrics;
        assert!(matches!(m[0].data, Some(metric::Data::Sum(_))), "{m:?}");
        // Help and unit; a histogram family appears under a name that was a gauge.
        s.scrape("# HELP m other\n# TYPE m counter\nm{a=\"1\"} 1\n", false)
            .unwrap();
        s.scrape("# TYPE m counter\n# UNIT m seconds\nm{a=\"1\"} 1\n", false)
            .unwrap();
        s.scrape("m_bucket{le=\"1\"} 1\nm_count 1\n", false)
            .unwrap();
        s.scrape(
            "# TYPE m histogram\nm_bucket{le=\"1\"} 1\nm_count 1\n",
            false,
        )
        .unwrap();
        // The format: OpenMetrics names the counter family without _total.
        s.scrape("# TYPE m counter\nm_total 1\n", false).unwrap();
        let out = s
            .scrape("# TYPE m counter\nm_total 1\n# EOF\n", true)
            .unwrap();
        let m = ScopeMetrics::decode(&out.groups[0].1[..]).unwrap().metrics;
        assert_eq!(m[0].name, "m");
    }

    #[test]
    fn openmetrics_exemplars_created_and_timestamps() {
        let mut s = Scraper::new("static_configs: [{targets: ['h:1']}]");
        let body = "# TYPE foo counter\n\
            foo_total{a=\"1\"} 17 # {trace_id=\"0102030405060708090a0b0c0d0e0f10\",x=\"y\"} 1 1520879607.7\n\
            foo_created{a=\"1\"} 1520430000.5\nfoo_total{a=\"2\"} 3\n\
            # TYPE temp gauge\ntemp 1.5 1520879607.789\n# TYPE h histogram\nh_bucket{le=\"+Inf\"} 1 # {span_id=\"0102030405060708\"} 1\nh_count 1\n# EOF\n";
        for _ in 0..3 {
            s.scrape(body, true).unwrap();
        }
        let without = body.replace(
            " # {trace_id=\"0102030405060708090a0b0c0d0e0f10\",x=\"y\"} 1 1520879607.7",
            "",
        );
        s.scrape(&without, true).unwrap();
        s.scrape(body, true).unwrap();
        let mut s = Scraper::new("honor_timestamps: false, static_configs: [{targets: ['h:1']}]");
        s.scrape(body, true).unwrap();
        s.scrape(body, true).unwrap();
    }

    #[test]
    fn metric_relabel_configs_and_honor_labels() {
        let relabel = "metric_relabel_configs: [\
            {source_labels: [__name__], regex: g, action: drop},\
            {source_labels: [code], regex: '500', action: drop},\
            {source_labels: [path], target_label: route},\
            {source_labels: [__name__], regex: 'untyped', target_label: __name__, replacement: renamed}]";
        let mut s = Scraper::new(relabel);
        let first = s.scrape(BODY, false).unwrap();
        assert_eq!((first.scraped, first.post), (19, 14));
        let dropped = s
            .cache
            .entries
            .values()
            .filter(|e| e.entry == Entry::Dropped)
            .count();
        assert_eq!(dropped, 4, "g's three series lines and code 500");
        let again = s.scrape(BODY, false).unwrap();
        assert_eq!(again, Outcome { added: 0, ..first });
        assert!(s.values(BODY, "g").is_empty());
        assert_eq!(s.values(BODY, "renamed").len(), 2);
        // The scraped series name other jobs and instances, and a label the target has.
        let body = "x{job=\"other\",instance=\"i:2\",team=\"t\"} 1\nx{team=\"\"} 2\ny{instance=\"i:2\"} 3\n";
        for honor in ["true", "false"] {
            let mut s = Scraper::new(&format!("honor_labels: {honor}"));
            let out = s.scrape(body, false).unwrap();
            assert_eq!(out.groups.len(), if honor == "true" { 3 } else { 1 });
            s.scrape(body, false).unwrap();
            let mut s = Scraper::new(&format!("honor_labels: {honor}, {relabel}"));
            s.scrape(body, false).unwrap();
            s.scrape(body, false).unwrap();
        }
    }

    #[test]
    fn limits_hold_with_a_warm_cache() {
        let mut s = Scraper::new("sample_limit: 3");
        let three = "a 1\nb 2\nc{x=\"1\"} 3\n";
        s.scrape(three, false).unwrap();
        s.scrape(three, false).unwrap();
        let err = s.scrape(&format!("{three}d 4\n"), false).unwrap_err();
        assert!(err.contains("sample_limit"), "{err}");
        // Cached lines count too, and a parse error after the limit is the error reported.
        let err = s.scrape(&format!("d 4\n{three}"), false).unwrap_err();
        assert!(err.contains("sample_limit"), "{err}");
        s.scrape(three, false).unwrap();
        let err = s
            .scrape(&format!("{three}d 4\ne{{ 1\n"), false)
            .unwrap_err();
        assert!(err.starts_with("parse error: line 5"), "{err}");
        let out = s.scrape(three, false).unwrap();
        assert_eq!(out.added, 3, "after a failed scrape every series is new");
        // label_limit counts the target's labels (job, instance, team here).
        let mut s = Scraper::new("label_limit: 5");
        s.scrape(three, false).unwrap();
        s.scrape(three, false).unwrap();
        let err = s
            .scrape(&format!("{three}d{{x=\"1\",y=\"2\"}} 4\n"), false)
            .unwrap_err();
        assert!(err.contains("label_limit"), "{err}");
        let out = s.scrape(three, false).unwrap();
        assert_eq!((out.added, out.gone.len()), (3, 0));
        let mut s = Scraper::new("label_limit: 4");
        let err = s.scrape(three, false).unwrap_err();
        assert!(err.contains("label_limit"), "{err}");
    }

    #[test]
    fn label_length_limits_fail_the_scrape() {
        // `__name__` and `instance` have 8 bytes.
        let mut s = Scraper::new("label_name_length_limit: 8");
        s.scrape("a{short=\"1\"} 1\n", false).unwrap();
        let err = s
            .scrape("a{short=\"1\"} 1\nb{longer_name=\"1\"} 1\n", false)
            .unwrap_err();
        assert!(err.starts_with("label_name_length_limit exceeded"), "{err}");
        assert!(err.contains("longer_name"), "{err}");
        let out = s.scrape("a{short=\"1\"} 1\n", false).unwrap();
        assert_eq!(out.added, 1);
        // Values: the target's `team="infra"` has 5 bytes.
        let mut s = Scraper::new("label_value_length_limit: 5");
        s.scrape("a{v=\"12345\"} 1\n", false).unwrap();
        s.scrape("a{v=\"12345\"} 1\n", false).unwrap();
        let err = s.scrape("a{v=\"123456\"} 1\n", false).unwrap_err();
        assert!(
            err.starts_with("label_value_length_limit exceeded"),
            "{err}"
        );
        // The target's `instance`, whether copied into the series (with
        // metric_relabel_configs) or not.
        for config in [
            "label_value_length_limit: 9",
            "label_value_length_limit: 9, metric_relabel_configs: [{action: labeldrop, regex: x}]",
        ] {
            let mut s = Scraper::at(config, "hostname:1");
            let err = s.scrape("a 1\n", false).unwrap_err();
            assert!(err.contains("\"instance\""), "{err}");
            let mut s = Scraper::at(config, "host:1");
            s.scrape("a 1\n", false).unwrap();
        }
    }

    #[test]
    fn parse_errors_match_the_parser() {
        let mut s = Scraper::new("static_configs: [{targets: ['h:1']}]");
        for body in [
            "a 1\nb{x=\"1\" 2\n",
            "a 1\nb{x=1} 2\n",
            "a 1\nb{x=\"1\"} two\n",
            "a 1\nb 2 3 4\n",
            "a{x=\"\\\"}\"} 1\n# TYPE a gauge\n",
            "a 1\n",
            "a{x=\"}\"} 1\na{x=\"}\"} x\n",
            "a 1\nb{x=\"1\"}} 2\n",
            "a 1\nb{x=\"1\"} 2}\n",
            "a 1\r\nb{x=\"1\"} 2\r\n",
        ] {
            let _ = s.scrape(body, false);
            let _ = s.scrape(body, false);
        }
        for body in [
            "a 1\n",
            "a 1\n# EOF\nb 1\n",
            "# bad comment\na{ 1\n# EOF\n",
            "a{ 1\n# bad comment\n# EOF\n",
            "a 1\n# EOF\n",
        ] {
            let _ = s.scrape(body, true);
            let _ = s.scrape(body, true);
        }
    }

    #[test]
    fn the_cache_holds_one_scrape() {
        let mut s = Scraper::new("static_configs: [{targets: ['h:1']}]");
        let body = |from: usize| -> String {
            (from..from + 100)
                .map(|i| format!("# TYPE m{i} gauge\nm{i}{{i=\"{i}\"}} {i}\n"))
                .collect()
        };
        for round in 0..5 {
            let out = s.scrape(&body(round * 50), false).unwrap();
            if round > 0 {
                assert_eq!((out.added, out.gone.len()), (50, 50));
            }
            assert_eq!(s.cache.entries.len(), 100);
            assert_eq!(s.cache.families.len(), 100);
            assert_eq!(s.cache.points.len(), 100);
            assert_eq!(s.cache.point_index.len(), 100);
        }
        assert_eq!(s.cache.live().len(), 100);
        let _ = s.scrape("x{", false).unwrap_err();
        assert_eq!(s.cache.points.len(), 0);
        assert!(s.cache.entries.is_empty());
    }
}
