//! Databases and their documents: revisions, conflicts, tombstones.

use couch_semantics::revs::{Rev, RevTree};
use redb::ReadableTable;
use serde_json::{json, Map, Value};
use std::collections::BTreeMap;
use std::sync::Arc;

/// An error answered as CouchDB does: an HTTP status and `{"error", "reason"}`.
#[derive(Debug, Clone)]
pub struct ApiError {
    /// The HTTP status.
    pub status: u16,
    /// CouchDB's `error` (`not_found`, `conflict`, …).
    pub error: String,
    /// CouchDB's `reason`.
    pub reason: String,
}

impl From<couch_semantics::mango::Invalid> for ApiError {
    /// CouchDB's 400 for a selector it refuses.
    fn from(e: couch_semantics::mango::Invalid) -> Self {
        ApiError::new(400, e.error(), e.0)
    }
}

impl ApiError {
    /// An error with this status, `error` and `reason`.
    pub fn new(status: u16, error: &str, reason: impl Into<String>) -> Self {
        ApiError { status, error: error.into(), reason: reason.into() }
    }

    /// 400 `bad_request`.
    pub fn bad_request(reason: impl Into<String>) -> Self {
        ApiError::new(400, "bad_request", reason)
    }

    /// 404 `not_found` (`missing`, `deleted`, …).
    pub fn not_found(reason: &str) -> Self {
        ApiError::new(404, "not_found", reason)
    }

    /// 409 `conflict`: a stale or missing `_rev`.
    pub fn conflict() -> Self {
        ApiError::new(409, "conflict", "Document update conflict.")
    }

    /// `{"error": …, "reason": …}`.
    pub fn body(&self) -> Value {
        json!({ "error": self.error, "reason": self.reason })
    }
}

/// One document: its winning revision's body (or a tombstone), its revision tree,
/// and the bodies of the other leaves (its conflicts).
#[derive(Debug, Clone)]
pub struct Doc {
    /// The winning revision (CouchDB's choice, the same on every peer). A `_local/`
    /// document's is `0-N`.
    pub winner: Rev,
    /// The body without `_id` and `_rev`, shared: a query takes the bodies it will
    /// read and lets the database go (writers replace a body, never change one).
    pub body: Arc<Map<String, Value>>,
    pub deleted: bool,
    /// Every revision known, stemmed to `_revs_limit` (empty for a `_local/` document).
    pub tree: RevTree,
    /// The leaves that lost, in CouchDB's order of preference, with their bodies.
    pub losers: Vec<Leaf>,
    /// The bytes of the leaves' attachments, by digest (their bodies hold stubs).
    pub blobs: crate::attachments::Blobs,
}

/// A leaf revision and its body.
#[derive(Debug, Clone)]
pub struct Leaf {
    pub rev: Rev,
    pub body: Arc<Map<String, Value>>,
    pub deleted: bool,
}

impl Doc {
    pub fn rev(&self) -> String {
        self.winner.to_string()
    }

    /// A `_local/` document at `0-n`.
    fn local(n: u64, body: Map<String, Value>) -> Doc {
        let winner = Rev { pos: 0, id: n.to_string() };
        let (tree, losers, blobs) = Default::default();
        Doc { winner, body: Arc::new(body), deleted: false, tree, losers, blobs }
    }

    /// The document as `GET /db/id` returns it.
    pub fn to_json(&self, id: &str) -> Value {
        render(id, &self.winner, &self.body, self.deleted)
    }

    /// The body of leaf `rev` and whether it is a deletion; `None` for a revision
    /// that is not a leaf (CouchDB keeps leaves' bodies only, once compacted).
    pub fn leaf(&self, rev: &Rev) -> Option<(&Arc<Map<String, Value>>, bool)> {
        if *rev == self.winner {
            return Some((&self.body, self.deleted));
        }
        self.losers.iter().find(|l| l.rev == *rev).map(|l| (&l.body, l.deleted))
    }

    /// The losing leaves that are live (`deleted: false`, its `_conflicts`) or
    /// deletions (`true`, its `_deleted_conflicts`), as JSON strings.
    pub fn losing_revs(&self, deleted: bool) -> Vec<Value> {
        self.losers.iter().filter(|l| l.deleted == deleted).map(|l| Value::String(l.rev.to_string())).collect()
    }

    /// Every leaf, the winner first.
    pub fn leaves(&self) -> impl Iterator<Item = (&Rev, &Arc<Map<String, Value>>, bool)> {
        std::iter::once((&self.winner, &self.body, self.deleted))
            .chain(self.losers.iter().map(|l| (&l.rev, &l.body, l.deleted)))
    }
}

/// A revision of a document as CouchDB answers it: `_id`, `_rev`, the body, `_deleted`.
pub fn render(id: &str, rev: &Rev, body: &Map<String, Value>, deleted: bool) -> Value {
    let mut m = Map::with_capacity(body.len() + 3);
    m.insert("_id".into(), Value::String(id.to_string()));
    m.insert("_rev".into(), Value::String(rev.to_string()));
    for (k, v) in body.iter() {
        m.insert(k.clone(), v.clone());
    }
    if deleted {
        m.insert("_deleted".into(), Value::Bool(true));
    }
    Value::Object(m)
}

/// A json index's entries `(key, id)`, sorted by key then id.
pub type IndexEntries = std::sync::Arc<Vec<(Vec<Value>, String)>>;

/// A database: documents by id (raw order, as `_all_docs`), and its update sequence.
#[derive(Debug, Default)]
pub struct Db {
    pub docs: BTreeMap<String, Doc>,
    pub seq: u64,
    /// The changes feed: each document once, at the sequence of its latest revision.
    pub changes: BTreeMap<u64, String>,
    /// The sequence of each document's latest revision.
    seq_of: std::collections::HashMap<String, u64>,
    /// Per index name: its entries sorted by key, and the sequence they were built at.
    /// Behind its own lock: readers, sharing the database, build and keep them.
    pub index_cache: std::sync::Mutex<std::collections::HashMap<String, (u64, IndexEntries)>>,
    /// The redb file of a persistent database, and the ids written since the last flush.
    file: Option<std::sync::Arc<redb::Database>>,
    pending: Vec<String>,
    /// What the writes since the last flush replaced, to put back if the flush fails.
    undo: Vec<Undo>,
    /// The update sequence at the last flush.
    flushed_seq: u64,
    /// Documents committed since the file was last compacted.
    written_since_compaction: usize,
    /// `_local/` documents: not replicated, not in `_changes`, `_all_docs` or the
    /// counts, revised `0-1`, `0-2`, … without conflicts (CouchDB's checkpoints).
    pub locals: BTreeMap<String, Doc>,
    /// The `_security` object; `None` (a file from before it was kept): admins only.
    security: Option<Value>,
    /// `_revs_limit`; `None`: CouchDB's default.
    revs_limit: Option<u64>,
    /// Made with `PUT /db?partitioned=true`: ids are `partition:rest`.
    partitioned: bool,
    /// Makes the next commit fail, as a full disk would (tests).
    #[cfg(test)]
    fail_commit: bool,
}

/// One write's predecessor: the document and sequence an id had before it.
#[derive(Debug)]
struct Undo {
    id: String,
    doc: Option<Doc>,
    seq: Option<u64>,
}

/// Documents by id: `{"rev", "deleted", "body"}` as JSON.
const DOCS: redb::TableDefinition<&str, &[u8]> = redb::TableDefinition::new("docs");
/// `_local/` documents by id: `{"rev", "body"}` as JSON.
const LOCALS: redb::TableDefinition<&str, &[u8]> = redb::TableDefinition::new("locals");
/// CouchDB's `_revs_limit` of a new database.
pub const DEFAULT_REVS_LIMIT: u64 = 1000;

/// The database's own properties (`security`, `revs_limit`), as JSON.
const META: redb::TableDefinition<&str, &[u8]> = redb::TableDefinition::new("meta");

fn storage(e: impl std::fmt::Display) -> ApiError {
    ApiError::new(500, "storage_error", e.to_string())
}

/// A revision hash: 32 hex digits from the previous revision and the new body.
fn rev_hash(prev: &str, body: &Map<String, Value>, deleted: bool) -> String {
    couch_semantics::ids::digest(&format!("{prev}\u{0}{}\u{0}{deleted}", Value::Object(body.clone())))
}

impl Db {
    /// A persistent database in the redb file `path` (created if missing), loaded into memory.
    pub fn open(path: &std::path::Path) -> Result<Db, ApiError> {
        let file = redb::Database::create(path).map_err(storage)?;
        let mut db = Db::default();
        {
            let tx = file.begin_write().map_err(storage)?;
            tx.open_table(DOCS).map_err(storage)?; // exists from now on
            tx.open_table(META).map_err(storage)?;
            tx.open_table(LOCALS).map_err(storage)?;
            tx.commit().map_err(storage)?;
        }
        let tx = file.begin_read().map_err(storage)?;
        if let Some(sec) = tx.open_table(META).map_err(storage)?.get("security").map_err(storage)? {
            db.security = Some(serde_json::from_slice(sec.value()).map_err(storage)?);
        }
        if let Some(limit) = tx.open_table(META).map_err(storage)?.get("revs_limit").map_err(storage)? {
            db.revs_limit = serde_json::from_slice(limit.value()).map_err(storage)?;
        }
        if let Some(p) = tx.open_table(META).map_err(storage)?.get("partitioned").map_err(storage)? {
            db.partitioned = serde_json::from_slice(p.value()).map_err(storage)?;
        }
        for row in tx.open_table(LOCALS).map_err(storage)?.iter().map_err(storage)? {
            let (id, stored) = row.map_err(storage)?;
            let v: Value = crate::json::unbounded(stored.value()).map_err(storage)?;
            let n = v["rev"].as_str().and_then(|r| r.strip_prefix("0-")).and_then(|n| n.parse().ok()).unwrap_or(1);
            let body = v["body"].as_object().cloned().unwrap_or_default();
            db.locals.insert(id.value().to_string(), Doc::local(n, body));
        }
        let table = tx.open_table(DOCS).map_err(storage)?;
        // Each document keeps the sequence of its latest revision, so the update
        // sequence (their greatest) survives a restart and only grows: a changes
        // feed resumed from a `since` taken before the restart misses nothing.
        let mut unsequenced = Vec::new();
        for row in table.iter().map_err(storage)? {
            let (id, stored) = row.map_err(storage)?;
            let v: Value = crate::json::unbounded(stored.value()).map_err(storage)?;
            let id = id.value().to_string();
            let doc = Doc::from_stored(&v)
                .ok_or_else(|| storage(format!("the stored document {id:?} is not one this engine wrote")))?;
            if id.starts_with("_local/") {
                // Written by an engine that kept them with the others: theirs from now on.
                db.locals.insert(id, Doc::local(doc.winner.pos, (*doc.body).clone()));
                continue;
            }
            match v["seq"].as_u64() {
                Some(seq) => {
                    db.seq = db.seq.max(seq);
                    db.changes.insert(seq, id.clone());
                    db.seq_of.insert(id.clone(), seq);
                }
                None => unsequenced.push(id.clone()), // a file written before sequences were kept
            }
            db.docs.insert(id, doc);
        }
        for id in unsequenced {
            db.seq += 1;
            db.changes.insert(db.seq, id.clone());
            db.seq_of.insert(id, db.seq);
        }
        drop(table);
        drop(tx);
        db.flushed_seq = db.seq;
        db.file = Some(std::sync::Arc::new(file));
        Ok(db)
    }

    /// The `_security` object (CouchDB 3's admins-only one until another is set).
    pub fn security(&self) -> Value {
        self.security.clone().unwrap_or_else(crate::auth::admin_only)
    }

    /// `PUT /db/_security`: kept at once (in its own transaction, on a file).
    pub fn set_security(&mut self, security: Value) -> Result<(), ApiError> {
        self.keep_meta("security", &security)?;
        self.security = Some(security);
        Ok(())
    }

    /// Whether the database is partitioned (CouchDB 3's `PUT /db?partitioned=true`).
    pub fn is_partitioned(&self) -> bool {
        self.partitioned
    }

    /// Makes a new database partitioned; kept at once, as `_security` is.
    pub fn set_partitioned(&mut self) -> Result<(), ApiError> {
        self.keep_meta("partitioned", &Value::Bool(true))?;
        self.partitioned = true;
        Ok(())
    }

    /// In a partitioned database, an id must be `partition:rest` (CouchDB's
    /// `couch_partition:validate_docid`); elsewhere any id will do.
    pub fn check_partitioned_id(&self, id: &str) -> Result<(), ApiError> {
        match couch_semantics::ids::partitioned_id_error(id) {
            Some((error, reason)) if self.partitioned => Err(ApiError::new(400, error, reason)),
            _ => Ok(()),
        }
    }

    /// How many revisions of a document's history are kept (`GET /db/_revs_limit`).
    pub fn revs_limit(&self) -> u64 {
        self.revs_limit.unwrap_or(DEFAULT_REVS_LIMIT)
    }

    /// `PUT /db/_revs_limit`: kept at once, as `_security` is.
    pub fn set_revs_limit(&mut self, limit: u64) -> Result<(), ApiError> {
        self.keep_meta("revs_limit", &Value::from(limit))?;
        self.revs_limit = Some(limit);
        Ok(())
    }

    /// Writes one of the database's own properties to its file, in its own transaction.
    fn keep_meta(&self, key: &str, value: &Value) -> Result<(), ApiError> {
        if let Some(file) = &self.file {
            let tx = file.begin_write().map_err(storage)?;
            {
                let mut table = tx.open_table(META).map_err(storage)?;
                let bytes = serde_json::to_vec(value).map_err(storage)?;
                table.insert(key, bytes.as_slice()).map_err(storage)?;
            }
            tx.commit().map_err(storage)?;
        }
        Ok(())
    }

    /// Writes the documents changed since the last flush to the file, in one transaction.
    pub fn flush(&mut self) -> Result<(), ApiError> {
        if self.file.is_none() || self.pending.is_empty() {
            return Ok(());
        }
        match self.commit() {
            Ok(()) => {
                self.written_since_compaction += self.undo.len();
                self.undo.clear();
                self.flushed_seq = self.seq;
                // A file rewritten about twice over is compacted (redb reuses freed pages,
                // but not all: 10,000 documents rewritten 5 times took 17 MB for 5 MB).
                if self.written_since_compaction > 2 * self.docs.len().max(1000) {
                    let _ = self.compact(); // a failed compaction loses nothing; the next may succeed
                }
                Ok(())
            }
            Err(e) => {
                self.roll_back();
                Err(e)
            }
        }
    }

    /// Compacts the file (`POST /db/_compact`, or by itself after many writes): the
    /// space of old pages is given back. `false` for a database in memory.
    pub fn compact(&mut self) -> Result<bool, ApiError> {
        let Some(file) = self.file.as_mut().and_then(std::sync::Arc::get_mut) else { return Ok(false) };
        file.compact().map_err(storage)?;
        self.written_since_compaction = 0;
        Ok(true)
    }

    /// Puts memory back as it was at the last flush: a write the file did not take
    /// (a full disk, say) is not seen by anyone, and a retry is not a conflict.
    fn roll_back(&mut self) {
        for u in self.undo.drain(..).rev() {
            if let Some(now) = self.seq_of.remove(&u.id) {
                self.changes.remove(&now);
            }
            match u.doc {
                Some(d) => self.docs.insert(u.id.clone(), d),
                None => self.docs.remove(&u.id),
            };
            if let Some(seq) = u.seq {
                self.seq_of.insert(u.id.clone(), seq);
                self.changes.insert(seq, u.id);
            }
        }
        self.pending.clear();
        self.seq = self.flushed_seq;
        // Indexes may hold the undone writes.
        self.index_cache.get_mut().unwrap_or_else(|e| e.into_inner()).clear();
    }

    /// One redb transaction with every pending document.
    fn commit(&mut self) -> Result<(), ApiError> {
        #[cfg(test)]
        if std::mem::take(&mut self.fail_commit) {
            return Err(storage("No space left on device (os error 28)"));
        }
        let Some(file) = &self.file else { return Ok(()) };
        let tx = file.begin_write().map_err(storage)?;
        {
            let mut table = tx.open_table(DOCS).map_err(storage)?;
            for id in self.pending.drain(..) {
                let d = &self.docs[&id];
                let seq = self.seq_of.get(&id).copied().unwrap_or(self.seq);
                let stored = d.to_stored(seq);
                table.insert(id.as_str(), serde_json::to_vec(&stored).map_err(storage)?.as_slice()).map_err(storage)?;
            }
        }
        tx.commit().map_err(storage)
    }

    /// Writes one document (`PUT /db/id`, one entry of `_bulk_docs`): a new revision,
    /// the child of the leaf `_rev` names (of the tombstone, or none, for a document
    /// deleted or new).
    pub fn write(&mut self, id: &str, doc: Map<String, Value>) -> Result<String, ApiError> {
        self.write_with(id, doc, BTreeMap::new())
    }

    /// [`Db::write`], with the bytes of the attachments that `follow` (a
    /// `multipart/related` write), by name.
    pub fn write_with(
        &mut self,
        id: &str,
        mut doc: Map<String, Value>,
        follows: BTreeMap<String, Vec<u8>>,
    ) -> Result<String, ApiError> {
        check_doc(id, &doc)?;
        let given_rev = doc.remove("_rev").and_then(|r| r.as_str().map(str::to_owned));
        let (mut body, deleted) = body_of(doc);
        if id.starts_with("_local/") {
            return self.write_local(id, given_rev, body, deleted);
        }
        let parent = match (self.docs.get(id), given_rev) {
            (None, Some(_)) if deleted => return Err(ApiError::not_found("missing")),
            (None, Some(_)) => return Err(ApiError::conflict()),
            (None, None) => None, // a document written deleted is a tombstone from the start
            // A deleted document is written again without a revision.
            (Some(cur), None) if cur.deleted && !deleted => Some(cur.winner.clone()),
            (Some(_), None) => return Err(ApiError::conflict()),
            (Some(cur), Some(given)) => {
                let given = Rev::parse(&given).ok_or_else(|| ApiError::bad_request("Invalid rev format"))?;
                match cur.leaf(&given) {
                    // A tombstone is not deleted again: with its revision it is CouchDB's "deleted".
                    Some((_, true)) if deleted => return Err(ApiError::not_found("deleted")),
                    Some(_) => Some(given),
                    None => return Err(ApiError::conflict()),
                }
            }
        };
        let pos = parent.as_ref().map_or(1, |p| p.pos + 1);
        let blobs = {
            let current = self.docs.get(id);
            let parent_atts =
                parent.as_ref().and_then(|p| current?.leaf(p)).and_then(|(b, _)| b.get("_attachments")?.as_object());
            let sources = crate::attachments::Sources {
                known: parent_atts.into_iter().collect(),
                blobs: current.map(|d| &d.blobs),
                follows,
            };
            crate::attachments::prepare(&mut body, pos, false, sources).map_err(|e| stub_error(e, id))?
        };
        let prev = parent.as_ref().map(Rev::to_string).unwrap_or_default();
        let rev = Rev { pos, id: rev_hash(&prev, &body, deleted) };
        let mut ids = vec![rev.id.clone()];
        ids.extend(parent.map(|p| p.id));
        self.put_revision(id, &rev, &ids, body, deleted, blobs);
        Ok(rev.to_string())
    }

    /// Writes a revision as a replicator gives it (`_bulk_docs` with `new_edits=false`):
    /// `_rev` with its history in `_revisions`, merged into the tree whatever the
    /// current leaves are (a branch where it forks: a conflict). A revision the
    /// document already has changes nothing.
    pub fn write_replicated(&mut self, id: &str, doc: Map<String, Value>) -> Result<(), ApiError> {
        self.write_replicated_with(id, doc, BTreeMap::new())
    }

    /// [`Db::write_replicated`], with the bytes of the attachments that `follow`.
    pub fn write_replicated_with(
        &mut self,
        id: &str,
        mut doc: Map<String, Value>,
        follows: BTreeMap<String, Vec<u8>>,
    ) -> Result<(), ApiError> {
        check_doc(id, &doc)?;
        let (rev, ids) = replicated_rev(&doc)?;
        doc.remove("_rev");
        let (mut body, deleted) = body_of(doc);
        if id.starts_with("_local/") {
            return self.write_local(id, None, body, deleted).map(drop);
        }
        if self.docs.get(id).is_some_and(|d| d.tree.contains(&rev)) {
            return Ok(()); // known already: its attachments are not read again
        }
        let blobs = {
            let current = self.docs.get(id);
            // A stub names an attachment of a revision the target has: one of the leaves.
            let known = current
                .into_iter()
                .flat_map(|d| d.leaves())
                .filter_map(|(_, b, _)| b.get("_attachments")?.as_object())
                .collect();
            let sources = crate::attachments::Sources { known, blobs: current.map(|d| &d.blobs), follows };
            crate::attachments::prepare(&mut body, rev.pos, true, sources).map_err(|e| stub_error(e, id))?
        };
        self.put_revision(id, &rev, &ids, body, deleted, blobs);
        Ok(())
    }

    /// Adds revision `rev` (with its ancestors `ids`, newest first) and its body to
    /// document `id`: the tree is merged and stemmed, the leaves' bodies kept, the
    /// winner chosen, and the document gets the next sequence. `false` if the tree
    /// already had the revision.
    fn put_revision(
        &mut self,
        id: &str,
        rev: &Rev,
        ids: &[String],
        body: Map<String, Value>,
        deleted: bool,
        new_blobs: crate::attachments::Blobs,
    ) -> bool {
        if self.docs.get(id).is_some_and(|d| d.tree.contains(rev)) {
            return false;
        }
        // The document is taken out and rebuilt: nothing of it is copied, but for the
        // undo of a write to a file.
        let before = self.docs.remove(id);
        if self.file.is_some() {
            self.undo.push(Undo { id: id.to_string(), doc: before.clone(), seq: self.seq_of.get(id).copied() });
            self.pending.push(id.to_string());
        }
        let (mut tree, mut bodies, mut blobs) = match before {
            Some(Doc { winner, body, deleted, tree, losers, blobs }) => {
                let mut bodies = vec![Leaf { rev: winner, body, deleted }];
                bodies.extend(losers);
                (tree, bodies, blobs)
            }
            None => Default::default(),
        };
        tree.merge(rev, ids, deleted);
        tree.stem(usize::try_from(self.revs_limit()).unwrap_or(usize::MAX));
        bodies.push(Leaf { rev: rev.clone(), body: Arc::new(body), deleted });
        // The leaves in CouchDB's order, each with its body (a leaf is always a
        // revision written with one, here or by a replicator).
        let mut leaves: Vec<Leaf> = tree
            .leaves()
            .into_iter()
            .filter_map(|l| bodies.iter().position(|b| b.rev == l.rev).map(|i| bodies.swap_remove(i)))
            .collect();
        let winner = match leaves.is_empty() {
            false => leaves.remove(0),
            true => bodies.pop().expect("the revision just written"), // cannot happen: it is a leaf
        };
        // The bytes the leaves' attachments need, and no others.
        blobs.extend(new_blobs);
        let needed: std::collections::BTreeSet<&str> = std::iter::once(&winner.body)
            .chain(leaves.iter().map(|l| &l.body))
            .flat_map(|b| crate::attachments::digests(b))
            .collect();
        blobs.retain(|d, _| needed.contains(d.as_str()));
        let doc = Doc { winner: winner.rev, body: winner.body, deleted: winner.deleted, tree, losers: leaves, blobs };
        self.seq += 1;
        if let Some(old) = self.seq_of.insert(id.to_string(), self.seq) {
            self.changes.remove(&old);
        }
        self.changes.insert(self.seq, id.to_string());
        self.docs.insert(id.to_string(), doc);
        true
    }

    /// A `_local/` document: its revision is the given one's number plus one (none
    /// given: 0), whatever the current one is; deleting it removes it (`0-0`).
    /// Written to the file at once, in its own transaction.
    fn write_local(
        &mut self,
        id: &str,
        given_rev: Option<String>,
        body: Map<String, Value>,
        deleted: bool,
    ) -> Result<String, ApiError> {
        if deleted {
            if !self.locals.contains_key(id) {
                return Err(ApiError::not_found("missing"));
            }
            self.store_local(id, None)?;
            self.locals.remove(id);
            return Ok("0-0".into());
        }
        let n =
            given_rev.as_deref().and_then(|r| r.strip_prefix("0-")).and_then(|n| n.parse::<u64>().ok()).unwrap_or(0);
        let entry = Doc::local(n + 1, body);
        self.store_local(id, Some(&entry))?;
        let rev = entry.rev();
        self.locals.insert(id.to_string(), entry);
        Ok(rev)
    }

    fn store_local(&self, id: &str, doc: Option<&Doc>) -> Result<(), ApiError> {
        let Some(file) = &self.file else { return Ok(()) };
        let tx = file.begin_write().map_err(storage)?;
        {
            let mut table = tx.open_table(LOCALS).map_err(storage)?;
            match doc {
                Some(d) => {
                    let stored = serde_json::to_vec(&json!({"rev": d.rev(), "body": &*d.body})).map_err(storage)?;
                    table.insert(id, stored.as_slice()).map_err(storage)?;
                }
                None => {
                    table.remove(id).map_err(storage)?;
                }
            }
        }
        tx.commit().map_err(storage)
    }

    /// The number of deleted documents (tombstones).
    pub fn deleted_count(&self) -> usize {
        self.docs.values().filter(|d| d.deleted).count()
    }

    /// A live (not deleted) document.
    pub fn get(&self, id: &str) -> Result<&Doc, ApiError> {
        if id.starts_with("_local/") {
            return self.locals.get(id).ok_or_else(|| ApiError::not_found("missing"));
        }
        match self.docs.get(id) {
            Some(d) if !d.deleted => Ok(d),
            Some(_) => Err(ApiError::not_found("deleted")),
            None => Err(ApiError::not_found("missing")),
        }
    }

    /// The number of live documents.
    pub fn doc_count(&self) -> usize {
        self.docs.values().filter(|d| !d.deleted).count()
    }

    /// `POST /db/_bulk_docs` with `new_edits=false`: the revisions as given; only
    /// the documents that failed are answered, as CouchDB does.
    pub fn bulk_replicated(&mut self, docs: &[Value]) -> Vec<Value> {
        docs.iter()
            .filter_map(|d| {
                let m = d.as_object()?;
                let id = m.get("_id").and_then(Value::as_str).unwrap_or_default();
                let e = self.write_replicated(id, m.clone()).err()?;
                let rev = m.get("_rev").cloned().unwrap_or(Value::Null);
                Some(json!({"id": id, "rev": rev, "error": e.error, "reason": e.reason}))
            })
            .collect()
    }

    /// `POST /db/_bulk_docs`: one result per document, in order.
    pub fn bulk(&mut self, docs: &[Value]) -> Vec<Value> {
        docs.iter()
            .map(|d| {
                let Some(m) = d.as_object() else {
                    return json!({"error": "bad_request", "reason": "Document must be a JSON object"});
                };
                let id = match m.get("_id") {
                    Some(Value::String(s)) => s.clone(),
                    Some(_) => return json!({"error": "bad_request", "reason": "Document id must be a string"}),
                    None => couch_semantics::ids::new_id(),
                };
                match self.write(&id, m.clone()) {
                    Ok(rev) => json!({"ok": true, "id": id, "rev": rev}),
                    Err(e) => json!({"id": id, "error": e.error, "reason": e.reason}),
                }
            })
            .collect()
    }
}

/// CouchDB names the document in a missing stub's reason.
fn stub_error(e: ApiError, id: &str) -> ApiError {
    if e.error == "missing_stub" {
        let name = e.reason.strip_prefix("Invalid attachment stub in ").unwrap_or_default();
        return ApiError::new(412, "missing_stub", format!("Invalid attachment stub in {id} for {name}"));
    }
    e
}

/// A document's body as kept (the special members CouchDB keeps, no others) and
/// whether it is a deletion.
fn body_of(mut doc: Map<String, Value>) -> (Map<String, Value>, bool) {
    doc.remove("_id");
    let deleted = doc.remove("_deleted").is_some_and(|d| d == Value::Bool(true));
    doc.retain(|k, _| !k.starts_with('_') || k == "_attachments" || k.starts_with("_replication_"));
    (doc, deleted)
}

/// The revision a replicator writes and its ancestors' ids, newest first: from
/// `_revisions` (`start`, `ids`), or `_rev` alone.
pub fn replicated_rev(doc: &Map<String, Value>) -> Result<(Rev, Vec<String>), ApiError> {
    if let Some(revisions) = doc.get("_revisions") {
        let start = revisions.get("start").and_then(Value::as_u64).filter(|s| *s > 0);
        let ids: Option<Vec<String>> = revisions
            .get("ids")
            .and_then(Value::as_array)
            .and_then(|ids| ids.iter().map(|i| i.as_str().map(str::to_owned)).collect());
        return match (start, ids) {
            (Some(start), Some(ids))
                if !ids.is_empty() && ids.len() as u64 <= start && ids.iter().all(|i| !i.is_empty()) =>
            {
                Ok((Rev { pos: start, id: ids[0].clone() }, ids))
            }
            _ => Err(ApiError::bad_request("Invalid rev format")),
        };
    }
    match doc.get("_rev") {
        Some(r) => {
            let rev = r.as_str().and_then(Rev::parse).ok_or_else(|| ApiError::bad_request("Invalid rev format"))?;
            let ids = vec![rev.id.clone()];
            Ok((rev, ids))
        }
        None => {
            Err(ApiError::bad_request("When `new_edits: false`, the document needs `_rev` or `_revisions` specified"))
        }
    }
}

impl Doc {
    /// The document as kept in the file.
    fn to_stored(&self, seq: u64) -> Value {
        let mut v = json!({"rev": self.rev(), "deleted": self.deleted, "body": &*self.body, "seq": seq});
        // A document of one revision needs no tree: it is rebuilt from `rev`.
        if self.tree.len() > 1 {
            v["tree"] = self.tree.to_json();
        }
        if !self.blobs.is_empty() {
            let blobs: Map<String, Value> =
                self.blobs.iter().map(|(d, b)| (d.clone(), Value::String(crate::attachments::base64(b)))).collect();
            v["blobs"] = Value::Object(blobs);
        }
        if !self.losers.is_empty() {
            let losers: Vec<Value> = self
                .losers
                .iter()
                .map(|l| json!({"rev": l.rev.to_string(), "deleted": l.deleted, "body": &*l.body}))
                .collect();
            v["losers"] = Value::Array(losers);
        }
        v
    }

    /// A document kept by [`Doc::to_stored`] (or by an engine from before revision
    /// trees: its current revision alone).
    fn from_stored(v: &Value) -> Option<Doc> {
        let winner = v["rev"].as_str().and_then(Rev::parse).or_else(|| {
            // A `_local/` document kept among the others by an older engine: `0-N`.
            let n = v["rev"].as_str()?.strip_prefix("0-")?.parse().ok()?;
            Some(Rev { pos: n, id: String::new() })
        })?;
        let deleted = v["deleted"] == true;
        let tree = match v.get("tree") {
            Some(t) => RevTree::from_json(t)?,
            None if winner.id.is_empty() => RevTree::default(),
            None => RevTree::new(&winner, deleted),
        };
        let body = |v: &Value| Arc::new(v["body"].as_object().cloned().unwrap_or_default());
        let losers = v["losers"]
            .as_array()
            .map(|ls| {
                ls.iter()
                    .filter_map(|l| {
                        let rev = l["rev"].as_str().and_then(Rev::parse)?;
                        Some(Leaf { rev, body: body(l), deleted: l["deleted"] == true })
                    })
                    .collect()
            })
            .unwrap_or_default();
        let blobs = v["blobs"]
            .as_object()
            .map(|bs| {
                bs.iter()
                    .filter_map(|(d, b)| {
                        let bytes = crate::auth::base64_decode(b.as_str()?, crate::auth::STANDARD)?;
                        Some((d.clone(), Arc::new(bytes)))
                    })
                    .collect()
            })
            .unwrap_or_default();
        Some(Doc { winner, body: body(v), deleted, tree, losers, blobs })
    }
}

/// The special (`_`) members CouchDB keeps or reads (`couch_doc:transfer_fields`).
const SPECIAL_MEMBERS: [&str; 14] = [
    "_id",
    "_rev",
    "_deleted",
    "_attachments",
    "_revisions",
    "_revs_info",
    "_conflicts",
    "_deleted_conflicts",
    "_local_seq",
    "_replication_state",
    "_replication_state_time",
    "_replication_state_reason",
    "_replication_id",
    "_replication_stats",
];

/// What CouchDB refuses before writing a document: an id it reserves or an empty
/// one (400 `illegal_docid`), and a special member it does not know (400
/// `doc_validation`).
pub fn check_doc(id: &str, doc: &Map<String, Value>) -> Result<(), ApiError> {
    check_id(id)?;
    check_members(doc)
}

/// 400 `illegal_docid` for an empty id or one CouchDB reserves.
pub fn check_id(id: &str) -> Result<(), ApiError> {
    if id.is_empty() {
        return Err(ApiError::new(400, "illegal_docid", "Document id must not be empty"));
    }
    if id.starts_with('_') && !id.starts_with("_design/") && !id.starts_with("_local/") {
        return Err(ApiError::new(400, "illegal_docid", "Only reserved document ids may start with underscore."));
    }
    Ok(())
}

/// 400 `doc_validation` for a special (`_`) member CouchDB does not know.
pub fn check_members(doc: &Map<String, Value>) -> Result<(), ApiError> {
    match doc.keys().find(|k| k.starts_with('_') && !SPECIAL_MEMBERS.contains(&k.as_str())) {
        Some(k) => Err(ApiError::new(400, "doc_validation", format!("Bad special document member: {k}"))),
        None => Ok(()),
    }
}

impl Db {
    /// `_changes` since `since`: each changed document once, at its latest revision,
    /// in sequence order; `keep` chooses which (a `_selector` or `_doc_ids` filter).
    pub fn changes_since(
        &self,
        since: u64,
        limit: usize,
        (include_docs, all_leaves): (bool, bool),
        keep: impl Fn(&str, &Value) -> bool,
    ) -> (Vec<Value>, u64, usize) {
        let mut out = Vec::new();
        let mut last = since;
        for (seq, id) in self.changes.range(since + 1..) {
            if out.len() == limit {
                break;
            }
            last = *seq;
            let d = &self.docs[id];
            let doc = d.to_json(id);
            if !keep(id, &doc) {
                continue;
            }
            let revs: Vec<Value> = if all_leaves {
                d.leaves().map(|(r, _, _)| json!({"rev": r.to_string()})).collect()
            } else {
                vec![json!({"rev": d.rev()})]
            };
            let mut row = json!({"seq": seq.to_string(), "id": id, "changes": revs});
            if d.deleted {
                row["deleted"] = json!(true);
            }
            if include_docs {
                row["doc"] = doc;
            }
            out.push(row);
        }
        if out.len() < limit {
            last = self.seq.max(since);
        }
        // As CouchDB counts it: the changes after `last`, whatever the filter.
        let pending = self.changes.range(last + 1..).count();
        (out, last, pending)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn body(v: Value) -> Map<String, Value> {
        v.as_object().cloned().unwrap()
    }

    /// A commit the file refuses (a full disk) leaves memory as it was before the
    /// write: nothing of it is seen, a retry is no conflict, and a reopen agrees.
    #[test]
    fn a_failed_commit_is_undone_in_memory() {
        let path = std::env::temp_dir().join(format!("couch-embedded-undo-{}.redb", std::process::id()));
        let _ = std::fs::remove_file(&path);
        let rev_after = {
            let mut db = Db::open(&path).unwrap();
            let rev_a = db.write("a", body(json!({"n": 1}))).unwrap();
            db.flush().unwrap();
            db.fail_commit = true;
            db.write("a", body(json!({"_rev": rev_a, "n": 2}))).unwrap();
            db.write("b", body(json!({"n": 3}))).unwrap();
            assert_eq!(db.flush().unwrap_err().status, 500);
            assert_eq!(db.get("a").unwrap().body["n"], 1, "the update is undone");
            assert_eq!(db.get("a").unwrap().rev(), rev_a);
            assert!(!db.docs.contains_key("b"), "the insert is undone");
            assert_eq!(db.seq, 1);
            assert_eq!(db.changes.len(), 1);
            // The retry: no conflict.
            let rev2 = db.write("a", body(json!({"_rev": rev_a, "n": 2}))).unwrap();
            db.write("b", body(json!({"n": 3}))).unwrap();
            db.flush().unwrap();
            rev2
        };
        let db = Db::open(&path).unwrap();
        assert_eq!(db.get("a").unwrap().rev(), rev_after);
        assert_eq!(db.get("b").unwrap().body["n"], 3);
        assert_eq!(db.seq, 3);
        let _ = std::fs::remove_file(&path);
    }

    /// Branches written by a replicator, and the history of edits, are kept in the
    /// file: a reopened database has the same winner, conflicts and paths; the
    /// history is stemmed to `_revs_limit`.
    #[test]
    fn revision_trees_survive_a_reopen_and_are_stemmed() {
        let path = std::env::temp_dir().join(format!("couch-embedded-tree-{}.redb", std::process::id()));
        let _ = std::fs::remove_file(&path);
        let revs = |v: Value| v.as_object().cloned().unwrap();
        let edited = {
            let mut db = Db::open(&path).unwrap();
            db.set_revs_limit(3).unwrap();
            db.write_replicated(
                "k",
                revs(json!({"_rev": "2-a1", "_revisions": {"start": 2, "ids": ["a1", "r0"]}, "v": 1})),
            )
            .unwrap();
            db.write_replicated(
                "k",
                revs(json!({"_rev": "2-f9", "_revisions": {"start": 2, "ids": ["f9", "r0"]}, "v": 2})),
            )
            .unwrap();
            let mut rev = db.write("e", body(json!({"n": 0}))).unwrap();
            for n in 1..5 {
                rev = db.write("e", body(json!({"_rev": rev, "n": n}))).unwrap();
            }
            db.flush().unwrap();
            rev
        };
        let db = Db::open(&path).unwrap();
        let k = &db.docs["k"];
        assert_eq!((k.rev(), k.body["v"].clone()), ("2-f9".to_string(), json!(2)));
        assert_eq!(k.losers.len(), 1);
        assert_eq!((k.losers[0].rev.to_string(), k.losers[0].body["v"].clone()), ("2-a1".to_string(), json!(1)));
        assert_eq!(k.tree.len(), 3);
        let e = &db.docs["e"];
        assert_eq!(e.rev(), edited);
        assert_eq!(e.tree.path(&e.winner).unwrap().len(), 3, "stemmed to the limit");
        let _ = std::fs::remove_file(&path);
    }
}
