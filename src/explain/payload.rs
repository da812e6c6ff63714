//! What a method finds beyond one value per segment, behind one enum, so that the attribution
//! types name no method: a method with a result of its own adds its variant here.

use serde::{Deserialize, Serialize};

use super::structure::Structure;
use super::tree::TreeFit;

/// A method's result beyond one value per segment, written in reports under its variant's name
/// (`"payload": {"structure": …}`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Payload {
    /// sag: the sufficient sets and their attention graph.
    Structure(Structure),
    /// LIME with `--surrogate tree`: the tree; the explanation's coefficients are its per-segment
    /// effects, the intercept its prediction with every segment removed.
    Tree(TreeFit),
}

impl Payload {
    /// sag's sufficient sets, if this is them.
    pub fn structure(&self) -> Option<&Structure> {
        match self {
            Payload::Structure(s) => Some(s),
            Payload::Tree(_) => None,
        }
    }

    /// LIME's tree, if this is it.
    pub fn tree(&self) -> Option<&TreeFit> {
        match self {
            Payload::Tree(t) => Some(t),
            Payload::Structure(_) => None,
        }
    }
}
