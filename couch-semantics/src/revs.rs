//! Revision trees, as CouchDB keeps them (`couch_key_tree`, `couch_doc`).
//!
//! Every revision of a document is `N-id`: its generation `N` and an id. A
//! document's revisions form a tree (a forest, once old revisions are stemmed):
//! an edit adds a child to a leaf, and replication (`new_edits=false`) merges a
//! whole path — a revision and its ancestors, as `_revisions` gives them — so
//! two peers that edited the same revision each add a branch: a conflict. The
//! *winner* is chosen the same way on every peer (a live leaf before a deleted
//! one, then the highest generation, then the highest id), so peers that hold
//! the same tree show the same document, whatever order they learned it in.
//!
//! ```
//! use couch_semantics::revs::{Rev, RevTree};
//! let mut t = RevTree::default();
//! t.merge(&Rev::parse("2-b").unwrap(), &["b".into(), "a".into()], false);
//! t.merge(&Rev::parse("2-c").unwrap(), &["c".into(), "a".into()], false);
//! assert_eq!(t.winner().unwrap().to_string(), "2-c");
//! assert_eq!(t.conflicts().iter().map(|r| r.to_string()).collect::<Vec<_>>(), ["2-b"]);
//! assert_eq!(t.path(&Rev::parse("2-b").unwrap()).unwrap(), ["b", "a"]);
//! ```

use serde_json::{json, Value};
use std::fmt;

/// One revision: `N-id`.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Rev {
    /// The generation (1 for a document's first revision).
    pub pos: u64,
    /// The id (CouchDB: 32 hex digits of an MD5).
    pub id: String,
}

impl Rev {
    /// `"3-abc"` read as a revision; `None` if it is not one.
    pub fn parse(s: &str) -> Option<Rev> {
        let (pos, id) = s.split_once('-')?;
        let pos = pos.parse::<u64>().ok().filter(|p| *p > 0)?;
        (!id.is_empty()).then(|| Rev { pos, id: id.to_string() })
    }
}

impl fmt::Display for Rev {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}-{}", self.pos, self.id)
    }
}

/// What the tree knows of one revision.
#[derive(Debug, Clone, PartialEq, Eq)]
struct Known {
    /// The id of its parent (of generation `pos - 1`), when that is known.
    parent: Option<String>,
    /// Whether the revision is a deletion.
    deleted: bool,
}

/// A document's revisions, each with its parent where known: a forest.
///
/// Kept as a set of `revision → parent` links, so merging is a union and the tree
/// two peers build from the same paths is the same whatever the order. The links
/// are a sorted vector: most documents have one line of a few revisions, and a
/// database holds many documents.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct RevTree {
    revs: Vec<(Rev, Known)>,
}

/// What a merge did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Merged {
    /// The revision was new: the tree grew.
    New,
    /// The tree already had the revision.
    Known,
}

/// A leaf: a revision no other revision follows.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Leaf {
    /// The revision.
    pub rev: Rev,
    /// Whether it is a deletion.
    pub deleted: bool,
}

impl RevTree {
    fn find(&self, rev: &Rev) -> Result<usize, usize> {
        self.revs.binary_search_by(|(r, _)| r.cmp(rev))
    }

    fn get(&self, rev: &Rev) -> Option<&Known> {
        self.find(rev).ok().map(|i| &self.revs[i].1)
    }

    /// A tree of one first revision.
    pub fn new(first: &Rev, deleted: bool) -> RevTree {
        let mut t = RevTree::default();
        t.merge(first, std::slice::from_ref(&first.id), deleted);
        t
    }

    /// Adds `rev` with its ancestors: `ids` are the ids of `rev` and its parents,
    /// newest first (`_revisions.ids`, `rev.pos` being `_revisions.start`). A path
    /// joins the tree wherever they share a revision; one that shares none is a root
    /// of its own (a branch whose common ancestor was stemmed away).
    pub fn merge(&mut self, rev: &Rev, ids: &[String], deleted: bool) -> Merged {
        let ids = if ids.first() == Some(&rev.id) && ids.len() as u64 <= rev.pos {
            ids
        } else {
            std::slice::from_ref(&rev.id) // not a path to `rev`: the revision alone
        };
        let merged = if self.contains(rev) { Merged::Known } else { Merged::New };
        for (i, id) in ids.iter().enumerate() {
            let at = Rev { pos: rev.pos - i as u64, id: id.clone() };
            let parent = ids.get(i + 1).cloned();
            let i_known = match self.find(&at) {
                Ok(k) => k,
                Err(k) => {
                    self.revs.insert(k, (at, Known { parent: None, deleted: false }));
                    k
                }
            };
            let known = &mut self.revs[i_known].1;
            if known.parent.is_none() {
                known.parent = parent;
            }
            if i == 0 {
                known.deleted |= deleted;
            }
        }
        merged
    }

    /// Whether the tree holds `rev`.
    pub fn contains(&self, rev: &Rev) -> bool {
        self.find(rev).is_ok()
    }

    /// Whether `rev` is a leaf of the tree.
    pub fn is_leaf(&self, rev: &Rev) -> bool {
        self.contains(rev) && !self.revs.iter().any(|(r, k)| r.pos == rev.pos + 1 && k.parent.as_ref() == Some(&rev.id))
    }

    /// Whether `rev` is a deletion.
    pub fn is_deletion(&self, rev: &Rev) -> bool {
        self.get(rev).is_some_and(|k| k.deleted)
    }

    /// The leaves that descend from `rev` (itself, if it is one), in CouchDB's
    /// order of preference: what `latest=true` answers for an older revision.
    pub fn leaves_from(&self, rev: &Rev) -> Vec<Leaf> {
        self.leaves()
            .into_iter()
            .filter(|l| {
                l.rev.pos >= rev.pos
                    && self.path(&l.rev).is_some_and(|p| p.get((l.rev.pos - rev.pos) as usize) == Some(&rev.id))
            })
            .collect()
    }

    /// The tree as JSON, to be kept: `[[pos, id, parent id or null, deleted], …]`.
    pub fn to_json(&self) -> Value {
        Value::Array(self.revs.iter().map(|(r, k)| json!([r.pos, r.id, k.parent, k.deleted])).collect())
    }

    /// A tree kept by [`RevTree::to_json`]; `None` if `v` is not one.
    pub fn from_json(v: &Value) -> Option<RevTree> {
        let mut revs = Vec::new();
        for link in v.as_array()? {
            let pos = link.get(0)?.as_u64().filter(|p| *p > 0)?;
            let id = link.get(1)?.as_str()?.to_string();
            let parent = link.get(2)?.as_str().map(str::to_string);
            let deleted = link.get(3)?.as_bool()?;
            revs.push((Rev { pos, id }, Known { parent, deleted }));
        }
        revs.sort_by(|a, b| a.0.cmp(&b.0));
        revs.dedup_by(|a, b| a.0 == b.0);
        Some(RevTree { revs })
    }

    /// The leaves, in CouchDB's order of preference (the winner first).
    pub fn leaves(&self) -> Vec<Leaf> {
        let parents: std::collections::BTreeSet<(u64, &str)> =
            self.revs.iter().filter_map(|(r, k)| k.parent.as_deref().map(|p| (r.pos - 1, p))).collect();
        let mut out: Vec<Leaf> = self
            .revs
            .iter()
            .filter(|(r, _)| !parents.contains(&(r.pos, r.id.as_str())))
            .map(|(r, k)| Leaf { rev: r.clone(), deleted: k.deleted })
            .collect();
        // A live leaf before a deleted one, then the highest generation, then the highest id.
        out.sort_by(|a, b| (!b.deleted, b.rev.pos, &b.rev.id).cmp(&(!a.deleted, a.rev.pos, &a.rev.id)));
        out
    }

    /// The revision every peer shows: CouchDB's winner.
    pub fn winner(&self) -> Option<Rev> {
        self.leaves().into_iter().next().map(|l| l.rev)
    }

    /// Whether the document is deleted (its winner is a deletion).
    pub fn is_deleted(&self) -> bool {
        self.leaves().first().is_some_and(|l| l.deleted)
    }

    /// The live leaves that lost (`_conflicts`).
    pub fn conflicts(&self) -> Vec<Rev> {
        self.leaves().into_iter().skip(1).filter(|l| !l.deleted).map(|l| l.rev).collect()
    }

    /// The deleted leaves that lost (`_deleted_conflicts`).
    pub fn deleted_conflicts(&self) -> Vec<Rev> {
        self.leaves().into_iter().skip(1).filter(|l| l.deleted).map(|l| l.rev).collect()
    }

    /// The ids of `rev` and its known ancestors, newest first (`_revisions.ids`).
    pub fn path(&self, rev: &Rev) -> Option<Vec<String>> {
        let mut out = vec![rev.id.clone()];
        let mut at = self.get(rev)?;
        let mut pos = rev.pos;
        while let Some(p) = &at.parent {
            pos -= 1;
            out.push(p.clone());
            match self.get(&Rev { pos, id: p.clone() }) {
                Some(k) => at = k,
                None => break,
            }
        }
        Some(out)
    }

    /// `_revs_diff` for one document: which of `revs` the tree lacks, and for those,
    /// the leaves that may be their ancestors (`possible_ancestors`: leaves of a lower
    /// generation than some missing revision).
    pub fn diff(&self, revs: &[Rev]) -> (Vec<Rev>, Vec<Rev>) {
        let missing: Vec<Rev> = revs.iter().filter(|r| !self.contains(r)).cloned().collect();
        let top = missing.iter().map(|r| r.pos).max().unwrap_or(0);
        let mut ancestors: Vec<Rev> = self.leaves().into_iter().map(|l| l.rev).filter(|r| r.pos < top).collect();
        ancestors.sort();
        (missing, ancestors)
    }

    /// Keeps at most `limit` revisions on the path to each leaf (`_revs_limit`),
    /// dropping older ones; a tree of many leaves may become several roots.
    pub fn stem(&mut self, limit: usize) {
        let limit = limit.max(1);
        let mut keep = std::collections::BTreeSet::new();
        for leaf in self.leaves() {
            let ids = self.path(&leaf.rev).expect("a leaf has a path");
            for (i, id) in ids.iter().take(limit).enumerate() {
                keep.insert(Rev { pos: leaf.rev.pos - i as u64, id: id.clone() });
            }
        }
        if keep.len() == self.revs.len() {
            return;
        }
        self.revs.retain(|(r, _)| keep.contains(r));
        for i in 0..self.revs.len() {
            let (r, k) = &self.revs[i];
            let gone = k.parent.as_ref().is_some_and(|p| !keep.contains(&Rev { pos: r.pos - 1, id: p.clone() }));
            if gone {
                self.revs[i].1.parent = None;
            }
        }
    }

    /// How many revisions the tree holds.
    pub fn len(&self) -> usize {
        self.revs.len()
    }

    /// Whether the tree holds no revision.
    pub fn is_empty(&self) -> bool {
        self.revs.is_empty()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn rev(s: &str) -> Rev {
        Rev::parse(s).unwrap()
    }

    fn ids(v: &[&str]) -> Vec<String> {
        v.iter().map(|s| s.to_string()).collect()
    }

    #[test]
    fn edits_conflicts_and_the_winner() {
        let mut t = RevTree::new(&rev("1-a"), false);
        assert_eq!(t.merge(&rev("2-b"), &ids(&["b", "a"]), false), Merged::New);
        assert_eq!(t.merge(&rev("2-b"), &ids(&["b", "a"]), false), Merged::Known);
        t.merge(&rev("3-c"), &ids(&["c", "b", "a"]), false);
        // Another peer edited 2-b too.
        t.merge(&rev("3-d"), &ids(&["d", "b", "a"]), false);
        assert_eq!(t.winner(), Some(rev("3-d")), "the higher id wins at the same generation");
        assert_eq!(t.conflicts(), [rev("3-c")]);
        let mut u = RevTree::new(&rev("1-a"), false);
        u.merge(&rev("2-b"), &ids(&["b", "a"]), false);
        u.merge(&rev("2-c"), &ids(&["c", "a"]), false);
        u.merge(&rev("3-x"), &ids(&["x", "c", "a"]), true);
        assert_eq!(u.winner(), Some(rev("2-b")), "a live leaf beats a deleted one of a higher generation");
        assert_eq!(u.deleted_conflicts(), [rev("3-x")]);
        assert!(!u.is_deleted());
        u.merge(&rev("3-y"), &ids(&["y", "b", "a"]), true);
        assert!(u.is_deleted(), "every leaf deleted: the document is");
        assert_eq!(u.winner(), Some(rev("3-y")));
    }

    #[test]
    fn paths_diff_and_stemming() {
        let mut t = RevTree::default();
        t.merge(&rev("4-d"), &ids(&["d", "c", "b", "a"]), false);
        assert_eq!(t.path(&rev("4-d")).unwrap(), ids(&["d", "c", "b", "a"]));
        assert_eq!(t.path(&rev("2-b")).unwrap(), ids(&["b", "a"]));
        let (missing, anc) = t.diff(&[rev("4-d"), rev("5-e"), rev("2-z")]);
        assert_eq!(missing, [rev("5-e"), rev("2-z")]);
        assert_eq!(anc, [rev("4-d")]);
        t.stem(2);
        assert_eq!(t.len(), 2);
        assert_eq!(t.path(&rev("4-d")).unwrap(), ids(&["d", "c"]));
        assert!(!t.contains(&rev("1-a")));
        // A path that reaches below the stemmed root extends it again.
        t.merge(&rev("5-e"), &ids(&["e", "d", "c", "b"]), false);
        assert_eq!(t.path(&rev("5-e")).unwrap(), ids(&["e", "d", "c", "b"]));
        // A path that meets the tree nowhere is a root of its own.
        t.merge(&rev("9-q"), &ids(&["q", "p"]), false);
        assert_eq!(t.winner(), Some(rev("9-q")));
        assert_eq!(t.conflicts(), [rev("5-e")]);
    }

    #[test]
    fn peers_that_learn_the_same_revisions_in_any_order_agree() {
        let paths: Vec<(Rev, Vec<String>, bool)> = vec![
            (rev("1-a"), ids(&["a"]), false),
            (rev("2-b"), ids(&["b", "a"]), false),
            (rev("2-c"), ids(&["c", "a"]), false),
            (rev("3-d"), ids(&["d", "c", "a"]), true),
            (rev("3-e"), ids(&["e", "b", "a"]), false),
            (rev("4-f"), ids(&["f", "e", "b"]), false),
            (rev("2-g"), ids(&["g", "a"]), false),
        ];
        let mut reference: Option<RevTree> = None;
        // Every rotation and its reverse: 14 orders.
        for start in 0..paths.len() {
            for reverse in [false, true] {
                let mut order: Vec<_> = paths.iter().cycle().skip(start).take(paths.len()).collect();
                if reverse {
                    order.reverse();
                }
                let mut t = RevTree::default();
                for (r, p, d) in order {
                    t.merge(r, p, *d);
                }
                assert_eq!(t.winner(), Some(rev("4-f")));
                assert_eq!(t.conflicts(), [rev("2-g")]);
                assert_eq!(t.deleted_conflicts(), [rev("3-d")]);
                match &reference {
                    None => reference = Some(t),
                    Some(r) => assert_eq!(&t, r, "the same tree, whatever the order"),
                }
            }
        }
    }

    #[test]
    fn latest_leaves_and_the_kept_form() {
        let mut t = RevTree::new(&rev("1-a"), false);
        t.merge(&rev("2-b"), &ids(&["b", "a"]), false);
        t.merge(&rev("3-d"), &ids(&["d", "c", "a"]), true);
        assert!(t.is_leaf(&rev("2-b")) && !t.is_leaf(&rev("1-a")) && !t.is_leaf(&rev("9-z")));
        assert!(t.is_deletion(&rev("3-d")));
        let latest: Vec<String> = t.leaves_from(&rev("1-a")).iter().map(|l| l.rev.to_string()).collect();
        assert_eq!(latest, ["2-b", "3-d"]);
        assert_eq!(t.leaves_from(&rev("2-c")).len(), 1);
        assert_eq!(RevTree::from_json(&t.to_json()), Some(t));
        assert_eq!(RevTree::from_json(&json!([[0, "a", null, false]])), None);
    }
}
