//! What the structural search ([`super::sag`]) is given and finds: its settings and the sufficient
//! sets with their children. Plain data, apart from the search, so that the payload that carries
//! them need not import the search itself.

use serde::{Deserialize, Serialize};

use super::config::MethodSettings;
use crate::error::{Error, Result};

/// Settings of the structural search: sag's own.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct SagConfig {
    /// `τ`: a set suffices when its probability is at least `τ` times the whole cloud's. By
    /// default, 0.9 (the and the SAG paper's choice).
    pub threshold: f64,
    /// `B`: sets kept from one size to the next. By default, 10 (measured in docs/structural.md: wider
    /// beams found no smaller sets on the DALES test objects).
    pub beam_width: usize,
    /// `M`: sets returned at most. By default, 3.
    pub max_sets: usize,
    /// The largest overlap `|A ∩ B| / min(|A|, |B|)` between two returned sets. By default, 0.5.
    pub max_overlap: f64,
    /// Sets scored at most, over the whole search; when it runs out the sets found so far are
    /// returned and the report says so. By default, 20,000.
    pub max_evaluations: usize,
}

impl Default for SagConfig {
    fn default() -> Self {
        SagConfig {
            threshold: 0.9,
            beam_width: 10,
            max_sets: 3,
            max_overlap: 0.5,
            max_evaluations: 20_000,
        }
    }
}

impl MethodSettings for SagConfig {
    const METHOD: &'static str = "sag";

    fn validate(&self) -> Result<()> {
        let bad = |m: String| Err(Error::Config(m));
        if !(self.threshold > 0.0 && self.threshold <= 1.0) {
            return bad(format!(
                "the sufficiency threshold must be in (0, 1], got {}",
                self.threshold
            ));
        }
        if self.beam_width == 0 || self.max_sets == 0 {
            return bad("the beam width and the number of sets must be at least 1".into());
        }
        if !(0.0..=1.0).contains(&self.max_overlap) {
            return bad(format!(
                "the overlap cap must be in [0, 1], got {}",
                self.max_overlap
            ));
        }
        if self.max_evaluations < 2 {
            return bad("the evaluation budget must be at least 2".into());
        }
        Ok(())
    }
}

/// A child of a sufficient set in the attention graph: the set less one member.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Child {
    /// The member removed.
    pub removed: usize,
    /// The explained class's probability with only the remaining members kept.
    pub probability: f64,
}

/// One minimal sufficient set and its children.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct SufficientSet {
    /// Its segments, ascending.
    pub segments: Vec<usize>,
    /// The explained class's probability with only these segments kept.
    pub probability: f64,
    /// One child per member, in the order of `segments`; every one is below the threshold.
    pub children: Vec<Child>,
}

/// The structural explanation of one class.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Structure {
    /// `τ`, relative to `original_probability`.
    pub threshold: f64,
    /// The explained class's probability on the whole cloud (`p₀`).
    pub original_probability: f64,
    /// Its probability with every segment removed.
    pub empty_probability: f64,
    /// The sets found, in the order found: the most probable of the smallest sets the beam
    /// reached, then each disjoint alternative, then overlapping ones.
    pub sets: Vec<SufficientSet>,
    /// Sets scored (the whole cloud and the empty one included).
    pub evaluations: usize,
    /// Whether the evaluation budget ran out before the search ended.
    pub budget_exhausted: bool,
}

impl Structure {
    /// Whether two of the sets share no segment.
    pub fn has_disjoint_sets(&self) -> bool {
        self.sets.iter().enumerate().any(|(i, a)| {
            self.sets[i + 1..]
                .iter()
                .any(|b| a.segments.iter().all(|s| !b.segments.contains(s)))
        })
    }

    /// Size of the smallest set, `None` when none was found.
    pub fn smallest(&self) -> Option<usize> {
        self.sets.iter().map(|s| s.segments.len()).min()
    }
}
