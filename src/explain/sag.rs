//! Structural explanations: small sets of segments that each suffice, alone, for the decision, and
//! the graph of what happens when one member of a set is removed (structured attention graphs,
//! Shitole et al., NeurIPS 2021, on supervoxels instead of image patches).
//!
//! A set `S` *suffices* when the cloud with every segment outside `S` removed keeps the explained
//! class's probability at or above `τ · p₀` (`p₀` that of the whole cloud). The search:
//!
//! 1. **Beam search** from the empty set, adding one segment at a time: every extension of every
//!    beam member is scored in one call; the extensions that suffice are collected
//!    and the search stops at the first size where any does (so the smallest sets the beam can
//!    reach); otherwise the `B` most probable extensions become the next beam.
//! 2. **Minimality**: a found set is pruned while some member can go (the most probable such child
//!    replaces it), so removing any one member of a returned set drops below the threshold.
//! 3. **Disjoint alternatives**: the first set is the best of the smallest found; then, while
//!    fewer than `M` sets are kept, the search runs again over the segments no kept set uses, so a
//!    second, independent way to the decision is found whenever the beam can reach one.
//! 4. **Diversity**: remaining places go to the other sufficient sets the searches met, in order
//!    of probability, when their overlap with every kept set (`|A ∩ B| / min(|A|, |B|)`) is at
//!    most the cap.
//!
//! Each returned set carries its children (the set less one member, with its probability): the
//! attention graph. Members whose removal costs most are indispensable; members whose removal
//! costs little are interchangeable with something else. The heat map this method also returns
//! (for the viewer and the faithfulness ranking) gives each segment the largest such cost over the
//! sets that contain it, 0 for segments in no set.
//!
//! Every score goes through one [`Prepared`] input, so on a max-pooled network the per-point
//! features are computed once and a set costs one K × C maximum and one pass through the head;
//! scores are cached, so no set is scored twice.

use std::collections::{HashMap, HashSet};
use std::time::Instant;

use super::attribution::{
    register, Attribution, Explanation, Method, Needs, Samples, Spec, Targets,
};
use super::config::{Config, Flag, FlagValue, SettingsSpec};
use super::input::Input;
use super::payload::Payload;
use super::score::{Cost, Prepared, Progress};
use crate::classifier::Classifier;
use crate::error::Result;
use crate::perturb::Masks;

pub use super::structure::{Child, SagConfig, Structure, SufficientSet};

/// Structural explanations: small sets of segments that each suffice alone, and what removing
/// one member costs.
pub const SAG: Method = Method::new(&SPEC);
register!(SAG);

static SPEC: Spec = Spec {
    name: "sag",
    order: 60,
    summary: "small sets of supervoxels that each suffice alone, and what removing one member \
              costs: a structured attention graph",
    random: false,
    surrogate: false,
    needs: Needs::Scores,
    settings: Some(SettingsSpec::of::<SagConfig>(&[
        Flag {
            long: "sag-threshold",
            key: "threshold",
            value_name: "TAU",
            help: "sag: a set suffices when, alone, it keeps the class's probability at or above \
                   this fraction of the whole scan's [default: 0.9]",
            value: FlagValue::Number,
        },
        Flag {
            long: "sag-beam",
            key: "beam_width",
            value_name: "B",
            help: "sag: sets kept from one size to the next in the beam search [default: 10]",
            value: FlagValue::Count,
        },
        Flag {
            long: "sag-sets",
            key: "max_sets",
            value_name: "M",
            help: "sag: sufficient sets returned at most [default: 3]",
            value: FlagValue::Count,
        },
        Flag {
            long: "sag-overlap",
            key: "max_overlap",
            value_name: "FRACTION",
            help: "sag: largest overlap |A∩B| / min(|A|,|B|) between returned sets [default: 0.5]",
            value: FlagValue::Number,
        },
        Flag {
            long: "sag-budget",
            key: "max_evaluations",
            value_name: "N",
            help: "sag: sets scored at most over the whole search [default: 20000]",
            value: FlagValue::Count,
        },
    ])),
    run: sag,
};

/// A set of segments as a bit set, the key of the score cache.
type Key = Vec<u64>;

fn key_of(segments: &[usize], n: usize) -> Key {
    let mut k = vec![0u64; n.div_ceil(64)];
    for &s in segments {
        k[s / 64] |= 1 << (s % 64);
    }
    k
}

/// `key` with `s` added (`on`) or taken out.
fn with(key: &Key, s: usize, on: bool) -> Key {
    let mut k = key.clone();
    if on {
        k[s / 64] |= 1 << (s % 64);
    } else {
        k[s / 64] &= !(1 << (s % 64));
    }
    k
}

fn contains(key: &Key, s: usize) -> bool {
    key[s / 64] >> (s % 64) & 1 == 1
}

/// The mask row of a set: 1 for kept segments.
fn row_of(key: &Key, n: usize) -> Vec<u8> {
    (0..n).map(|s| contains(key, s) as u8).collect()
}

fn members(key: &Key, n: usize) -> Vec<usize> {
    (0..n).filter(|&s| contains(key, s)).collect()
}

/// Scores sets of kept segments through one [`Prepared`] input, each at most once.
struct Scorer<'a> {
    prepared: Prepared<'a>,
    input: &'a Input<'a>,
    config: &'a Config,
    settings: SagConfig,
    progress: Option<&'a Progress>,
    n_classes: usize,
    /// Row of scores (configured output) of every set scored.
    cache: HashMap<Key, Vec<f32>>,
    /// In scoring order, for [`Samples`].
    order: Vec<Key>,
    budget: usize,
    exhausted: bool,
    cost: Option<Cost>,
    /// Every segment: the whole cloud.
    all: Key,
    /// No segment: the empty cloud, where every search starts.
    none: Key,
}

impl Scorer<'_> {
    /// Scores the sets not yet cached, in order, as far as the budget allows.
    fn score(&mut self, keys: &[Key]) -> Result<()> {
        let mut seen = HashSet::new();
        let mut new: Vec<&Key> = keys
            .iter()
            .filter(|k| !self.cache.contains_key(*k) && seen.insert(*k))
            .collect();
        let room = self.budget.saturating_sub(self.cache.len());
        if new.len() > room {
            new.truncate(room);
            self.exhausted = true;
        }
        if new.is_empty() {
            return Ok(());
        }
        let k = self.input.n_segments;
        let rows: Vec<Vec<u8>> = new.iter().map(|key| row_of(key, k)).collect();
        let masks = Masks::from_rows(k, &rows);
        let scored = self.prepared.score(&masks, self.progress)?;
        match &mut self.cost {
            Some(c) => *c += scored.cost,
            None => self.cost = Some(scored.cost),
        }
        for (key, row) in new.into_iter().zip(scored.scores.chunks(self.n_classes)) {
            self.cache.insert(key.clone(), row.to_vec());
            self.order.push(key.clone());
        }
        Ok(())
    }

    /// The probability of `target` on a scored set; `None` when the budget left it unscored.
    fn probability(&self, key: &Key, target: usize) -> Option<f64> {
        let row = self.cache.get(key)?;
        Some(self.config.scoring.probabilities(row)[target] as f64)
    }
}

/// The structural explanation of every target, one search each (scores are shared between them).
///
/// # Errors
/// [`Error::Config`](crate::Error::Config) for invalid settings, input or targets; classifier
/// errors as they come.
pub fn sag(
    classifier: &dyn Classifier,
    input: &Input,
    targets: &Targets,
    config: &Config,
    progress: Option<&Progress>,
) -> Result<Attribution> {
    config.check(input)?;
    let settings: SagConfig = config.settings()?;
    let start = Instant::now();
    let k = input.n_segments;
    let names = classifier.class_names();
    let mut scorer = Scorer {
        prepared: Prepared::new(classifier, input, &config.scoring)?,
        input,
        config,
        settings,
        progress,
        n_classes: names.len(),
        cache: HashMap::new(),
        order: Vec::new(),
        budget: settings.max_evaluations,
        exhausted: false,
        cost: None,
        all: key_of(&(0..k).collect::<Vec<_>>(), k),
        none: key_of(&[], k),
    };
    let mut cost = scorer.prepared.cost();
    scorer.score(&[scorer.all.clone(), scorer.none.clone()])?;
    let full_row = scorer.cache[&scorer.all].clone();
    let probabilities = config.scoring.probabilities(&full_row);
    let mut explanations = Vec::new();
    for target in targets.resolve(&probabilities)? {
        let structure = search(&mut scorer, target, k)?;
        let mut coefficients = vec![0.0f64; k];
        for set in &structure.sets {
            for child in &set.children {
                let c = &mut coefficients[child.removed];
                *c = c.max(set.probability - child.probability);
            }
        }
        let mut e = Explanation::plain(
            SAG,
            target,
            names,
            coefficients,
            full_row[target] as f64,
            structure.evaluations,
            config.seed,
        );
        e.payload = Some(Payload::Structure(structure));
        explanations.push(e);
    }
    if let Some(c) = scorer.cost {
        cost += c;
    }
    cost.inference_seconds = start.elapsed().as_secs_f64() - cost.sampling_seconds;
    let rows: Vec<Vec<u8>> = scorer.order.iter().map(|key| row_of(key, k)).collect();
    let scores = scorer
        .order
        .iter()
        .flat_map(|key| scorer.cache[key].iter().copied())
        .collect();
    Ok(Attribution {
        probabilities,
        explanations,
        per_point: Vec::new(),
        samples: Some(Samples {
            masks: Masks::from_rows(k, &rows),
            scores,
        }),
        cost,
    })
}

/// The search of the module docs for one target.
fn search(scorer: &mut Scorer, target: usize, k: usize) -> Result<Structure> {
    let sag = scorer.settings;
    let original = scorer.probability(&scorer.all, target).unwrap_or(f64::NAN);
    let empty = scorer.probability(&scorer.none, target).unwrap_or(f64::NAN);
    let threshold = sag.threshold * original;
    let evaluations_before = scorer.cache.len();
    let mut kept: Vec<Key> = Vec::new();
    let mut used = vec![false; k];
    // Sufficient sets the searches found but did not take, for the overlapping alternatives.
    let mut pool: Vec<Key> = Vec::new();
    // Disjoint sets first: the smallest set, then the smallest among the segments no taken set
    // uses, and so on, so that an independent second basis is always looked for.
    while kept.len() < sag.max_sets && !scorer.exhausted {
        let universe: Vec<usize> = (0..k).filter(|&s| !used[s]).collect();
        if universe.is_empty() {
            break;
        }
        let mut found = beam(scorer, target, &universe, threshold)?.into_iter();
        let mut taken = None;
        for candidate in found.by_ref() {
            if let Some(set) = minimise(scorer, target, candidate, threshold, k)? {
                taken = Some(set);
                break;
            }
        }
        pool.extend(found);
        let Some(set) = taken else { break };
        let m = members(&set, k);
        kept.push(set);
        if m.is_empty() {
            // Nothing at all is needed: the empty set is the only minimal one.
            return finish(scorer, target, kept, original, empty, evaluations_before);
        }
        for s in m {
            used[s] = true;
        }
    }
    // Then overlapping alternatives, most probable first, within the overlap cap.
    let p = |scorer: &Scorer, key: &Key| scorer.probability(key, target).unwrap_or(f64::NAN);
    pool.sort_by(|a, b| p(scorer, b).total_cmp(&p(scorer, a)).then_with(|| a.cmp(b)));
    for candidate in pool {
        if kept.len() >= sag.max_sets || scorer.exhausted {
            break;
        }
        let Some(set) = minimise(scorer, target, candidate, threshold, k)? else {
            continue;
        };
        let m = members(&set, k);
        let diverse = kept.iter().all(|other| {
            let o = members(other, k);
            let shared = m.iter().filter(|s| o.contains(s)).count();
            let smaller = m.len().min(o.len());
            smaller > 0 && shared as f64 <= sag.max_overlap * smaller as f64
        });
        if diverse && !kept.contains(&set) {
            kept.push(set);
        }
    }
    finish(scorer, target, kept, original, empty, evaluations_before)
}

/// Beam search over subsets of `universe`: the sufficient sets of the first size that has any,
/// most probable first.
fn beam(
    scorer: &mut Scorer,
    target: usize,
    universe: &[usize],
    threshold: f64,
) -> Result<Vec<Key>> {
    let width = scorer.settings.beam_width;
    let none = scorer.none.clone();
    if scorer
        .probability(&none, target)
        .is_some_and(|p| p >= threshold)
    {
        return Ok(vec![none]);
    }
    let mut frontier = vec![none];
    for _ in 0..universe.len() {
        // Extensions of the most probable members first, so that a budget cut keeps those.
        let mut candidates: Vec<Key> = Vec::new();
        let mut seen = HashSet::new();
        for b in &frontier {
            for &s in universe.iter().filter(|&&s| !contains(b, s)) {
                let c = with(b, s, true);
                if seen.insert(c.clone()) {
                    candidates.push(c);
                }
            }
        }
        scorer.score(&candidates)?;
        let mut scored: Vec<(f64, Key)> = candidates
            .into_iter()
            .filter_map(|c| scorer.probability(&c, target).map(|p| (p, c)))
            .collect();
        scored.sort_by(|a, b| b.0.total_cmp(&a.0).then_with(|| a.1.cmp(&b.1)));
        let sufficient: Vec<Key> = scored
            .iter()
            .filter(|(p, _)| *p >= threshold)
            .map(|(_, c)| c.clone())
            .collect();
        if !sufficient.is_empty() {
            return Ok(sufficient);
        }
        if scorer.exhausted || scored.is_empty() {
            return Ok(Vec::new());
        }
        frontier = scored.into_iter().take(width).map(|(_, c)| c).collect();
    }
    Ok(Vec::new())
}

/// Prunes `set` while a member can go without dropping below `threshold` (the most probable such
/// child each time); `None` when the budget left a child unscored, so minimality is unknown.
fn minimise(
    scorer: &mut Scorer,
    target: usize,
    mut set: Key,
    threshold: f64,
    k: usize,
) -> Result<Option<Key>> {
    loop {
        let children: Vec<Key> = members(&set, k)
            .into_iter()
            .map(|s| with(&set, s, false))
            .collect();
        scorer.score(&children)?;
        let mut best: Option<(f64, Key)> = None;
        for c in children {
            let Some(p) = scorer.probability(&c, target) else {
                return Ok(None);
            };
            if p >= threshold && best.as_ref().is_none_or(|(b, _)| p > *b) {
                best = Some((p, c));
            }
        }
        match best {
            Some((_, c)) => set = c,
            None => return Ok(Some(set)),
        }
    }
}

fn finish(
    scorer: &Scorer,
    target: usize,
    kept: Vec<Key>,
    original: f64,
    empty: f64,
    evaluations_before: usize,
) -> Result<Structure> {
    let k = scorer.input.n_segments;
    let p = |key: &Key| scorer.probability(key, target).unwrap_or(f64::NAN);
    let sets = kept
        .iter()
        .map(|set| {
            let segments = members(set, k);
            let children = segments
                .iter()
                .map(|&s| Child {
                    removed: s,
                    probability: p(&with(set, s, false)),
                })
                .collect();
            SufficientSet {
                segments,
                probability: p(set),
                children,
            }
        })
        .collect();
    Ok(Structure {
        threshold: scorer.settings.threshold,
        original_probability: original,
        empty_probability: empty,
        sets,
        // The whole cloud and the empty set are scored once for every target.
        evaluations: scorer.cache.len() - evaluations_before + 2,
        budget_exhausted: scorer.exhausted,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::classifier::Output;

    /// Segment `s` is three points at x = s + 1 (never the origin, where a cloud with nothing
    /// kept sits); class 0's probability is `rule` of which segments are present.
    type RuleFn = Box<dyn Fn(&[bool]) -> f32 + Send + Sync>;

    struct Rule {
        names: Vec<String>,
        k: usize,
        rule: RuleFn,
    }

    impl Classifier for Rule {
        fn class_names(&self) -> &[String] {
            &self.names
        }
        fn input_points(&self) -> usize {
            3 * self.k
        }
        fn predict(&self, clouds: &[&[[f32; 3]]], output: Output) -> Result<Vec<f32>> {
            assert_eq!(output, Output::Probability);
            Ok(clouds
                .iter()
                .flat_map(|c| {
                    let present: Vec<bool> = (0..self.k)
                        .map(|s| c.iter().any(|p| p[0] == (s + 1) as f32))
                        .collect();
                    let p = (self.rule)(&present);
                    [p, 1.0 - p]
                })
                .collect())
        }
    }

    fn cloud(k: usize) -> (Vec<[f32; 3]>, Vec<u32>) {
        (0..3 * k)
            .map(|i| ([(i / 3 + 1) as f32, (i % 3) as f32, 0.0], (i / 3) as u32))
            .unzip()
    }

    fn structure(
        k: usize,
        rule: impl Fn(&[bool]) -> f32 + Send + Sync + 'static,
        edit: impl FnOnce(&mut SagConfig),
    ) -> Structure {
        let model = Rule {
            names: vec!["yes".into(), "no".into()],
            k,
            rule: Box::new(rule),
        };
        let (points, labels) = cloud(k);
        let mut config = Config::default();
        config.scoring.output = Output::Probability;
        config.update(edit).unwrap();
        let input = Input::new(&points, &labels, k).unwrap();
        let mut a = sag(&model, &input, &Targets::Classes(vec![0]), &config, None).unwrap();
        match a.explanations.remove(0).payload {
            Some(Payload::Structure(s)) => s,
            other => panic!("sag gave {other:?}"),
        }
    }

    fn segments(s: &Structure) -> Vec<Vec<usize>> {
        s.sets.iter().map(|x| x.segments.clone()).collect()
    }

    #[test]
    fn an_or_of_two_groups_yields_both_groups() {
        let s = structure(
            8,
            |p| {
                if (p[1] && p[2]) || (p[5] && p[6]) {
                    0.95
                } else {
                    0.05
                }
            },
            |_| {},
        );
        assert_eq!(segments(&s), [vec![1, 2], vec![5, 6]]);
        assert!(s.has_disjoint_sets());
        assert_eq!(s.smallest(), Some(2));
        // Each member is indispensable within its set.
        for set in &s.sets {
            assert!(set.children.iter().all(|c| c.probability < 0.5));
        }
    }

    #[test]
    fn an_and_of_two_groups_yields_their_union() {
        let s = structure(
            8,
            |p| {
                if p[1] && p[2] && p[5] && p[6] {
                    0.95
                } else {
                    0.05
                }
            },
            |_| {},
        );
        assert_eq!(segments(&s), [vec![1, 2, 5, 6]]);
        assert!(!s.has_disjoint_sets());
    }

    #[test]
    fn a_member_the_beam_no_longer_needs_is_pruned() {
        // Segment 0 alone looks best, so a beam of one goes 0, {0, 1}, {0, 1, 2}; but {1, 2}
        // suffices without it.
        let s = structure(
            5,
            |p| match (p[0], p[1] && p[2]) {
                (_, true) => 0.95,
                (true, false) => 0.5,
                _ => 0.05,
            },
            |c| c.beam_width = 1,
        );
        assert_eq!(s.sets[0].segments, [1, 2]);
    }

    #[test]
    fn interchangeable_members_give_overlapping_sets_within_the_cap() {
        // Segment 0 and either of 3 or 4: 3 and 4 are interchangeable, 0 is indispensable.
        let s = structure(
            6,
            |p| if p[0] && (p[3] || p[4]) { 0.9 } else { 0.1 },
            |c| c.max_overlap = 0.5,
        );
        assert_eq!(segments(&s), [vec![0, 3], vec![0, 4]]);
        assert!(!s.has_disjoint_sets());
        // A stricter overlap cap keeps only one of them; with nothing left once 0 is used, the
        // search ends there.
        let strict = structure(
            6,
            |p| if p[0] && (p[3] || p[4]) { 0.9 } else { 0.1 },
            |c| c.max_overlap = 0.0,
        );
        assert_eq!(segments(&strict), [vec![0, 3]]);
    }

    /// Every minimal sufficient set of `rule` over `0..k`: sets that suffice while no proper
    /// subset does, every subset checked.
    fn exhaustive_minimal_sets(
        k: usize,
        rule: &dyn Fn(&[bool]) -> f32,
        threshold: f32,
    ) -> Vec<Vec<usize>> {
        let suffices = |m: u32| {
            let p: Vec<bool> = (0..k).map(|s| m >> s & 1 == 1).collect();
            rule(&p) >= threshold
        };
        let all = 0..1u32 << k;
        all.clone()
            .filter(|&m| suffices(m))
            .filter(|&m| {
                !all.clone()
                    .any(|sub| sub & m == sub && sub != m && suffices(sub))
            })
            .map(|m| (0..k).filter(|&s| m >> s & 1 == 1).collect())
            .collect()
    }

    #[test]
    fn returned_sets_are_minimal_and_the_smallest_is_found_exhaustively_checked() {
        use rand::{Rng, SeedableRng};
        let k = 9;
        for seed in 0..20u64 {
            let mut rng = rand_chacha::ChaCha8Rng::seed_from_u64(seed);
            let w: Vec<f32> = (0..k).map(|_| rng.random_range(0.0..2.0)).collect();
            let rule = move |p: &[bool]| {
                let z: f32 = p
                    .iter()
                    .zip(&w)
                    .map(|(&on, w)| if on { *w } else { 0.0 })
                    .sum();
                1.0 / (1.0 + (-(z - 3.0)).exp())
            };
            let full = rule(&[true; 9]);
            let s = structure(k, rule.clone(), |c| c.beam_width = 64);
            let threshold = (0.9 * full as f64) as f32;
            let minimal = exhaustive_minimal_sets(k, &rule, threshold);
            assert!(!s.sets.is_empty(), "seed {seed}");
            for set in &s.sets {
                assert!(
                    minimal.contains(&set.segments),
                    "seed {seed}: {:?} not minimal",
                    set.segments
                );
                assert!(set.probability >= 0.9 * s.original_probability);
            }
            // A beam as wide as the level finds the smallest there is.
            let smallest = minimal.iter().map(Vec::len).min().unwrap();
            assert_eq!(s.sets[0].segments.len(), smallest, "seed {seed}");
        }
    }

    #[test]
    fn the_budget_stops_the_search_and_says_so() {
        let s = structure(
            20,
            |p| {
                if p.iter().filter(|&&x| x).count() >= 10 {
                    0.9
                } else {
                    0.1
                }
            },
            |c| c.max_evaluations = 50,
        );
        assert!(s.budget_exhausted);
        assert!(s.evaluations <= 50);
        assert!(s.sets.is_empty());
    }

    #[test]
    fn when_nothing_is_needed_the_empty_set_is_the_answer() {
        let s = structure(4, |_| 0.8, |_| {});
        assert_eq!(segments(&s), [Vec::<usize>::new()]);
        assert_eq!(s.smallest(), Some(0));
    }
}
