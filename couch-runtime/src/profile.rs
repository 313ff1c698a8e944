//! What couch-sql knows about the server behind a handle, decided once.
//!
//! When a handle first learns what the server is (`GET /`), everything that
//! differs between Apache CouchDB, pouchdb-server and couch-sql's engine is
//! resolved here into one [`ServerProfile`]: how queries are written for it (the
//! translator's [`Dialect`]), how it orders strings, how big a page a read that
//! keeps every row asks for, which indexes it is given, what its changes feed
//! can filter. The rest of the runtime asks the profile; it never asks which
//! server it is. docs/servers.md tells the differences and why.

use couch_semantics::collate::Collation;
use couch_translate::Dialect;
use serde::Deserialize;

/// What the server says about itself (`GET /`).
#[derive(Debug, Clone, Deserialize)]
pub struct ServerInfo {
    /// The server's version.
    pub version: Option<String>,
    /// `"Welcome"` on Apache CouchDB.
    pub couchdb: Option<String>,
    /// Present on pouchdb-server.
    #[serde(rename = "express-pouchdb")]
    pub express_pouchdb: Option<String>,
    /// `{"name": "couch-sql embedded"}` on the embedded engine.
    #[serde(default)]
    pub vendor: Option<serde_json::Value>,
}

impl ServerInfo {
    /// True when the server is pouchdb-server rather than Apache CouchDB.
    pub fn is_pouchdb(&self) -> bool {
        self.express_pouchdb.is_some()
    }

    /// True on couch-sql's embedded engine (in process, or `couch-sql serve`).
    pub fn is_embedded(&self) -> bool {
        self.vendor.as_ref().and_then(|v| v.get("name")).and_then(|n| n.as_str())
            == Some(couch_semantics::ENGINE_VENDOR)
    }

    /// How queries are written for this server (its regex engine, `$beginsWith`).
    pub fn dialect(&self) -> Dialect {
        if self.is_pouchdb() {
            Dialect::pouchdb()
        } else if self.is_embedded() {
            Dialect::embedded()
        } else {
            Dialect::couchdb(self.version.as_deref())
        }
    }

    /// Everything couch-sql decides from what the server is.
    pub fn profile(&self) -> ServerProfile {
        ServerProfile::of(self)
    }
}

/// The limit a read asks for when it reads everything in one request.
pub(crate) const EVERYTHING: usize = 1 << 30;

/// Rows per page of a read that keeps every row, on CouchDB: each page is one more
/// request and one more seek, and a scan of 100,000 rows measured 0.93–0.95× a
/// one-request client (BENCHMARKS.md §9).
const READ_ALL_PAGE: usize = 100_000;

/// How couch-sql talks to one server, resolved once from its [`ServerInfo`].
#[derive(Debug, Clone)]
#[non_exhaustive]
pub struct ServerProfile {
    /// What the server said about itself.
    pub info: ServerInfo,
    /// How queries are written for it.
    pub dialect: Dialect,
    /// How its `_find` sorts strings, and so how the client sorts, groups and
    /// takes MIN/MAX when it does that work itself: ICU on CouchDB and the engine,
    /// code points on pouchdb-server (its indexes are UTF-8 keys in LevelDB).
    pub collation: Collation,
    /// Rows per page of a read that keeps every row (`fetch_all`, the reads of
    /// UPDATE and DELETE); `None`: all in one request (pouchdb-server filters every
    /// page from its start key onwards, so pages cost more than they save).
    pub read_all_page: Option<usize>,
    /// Whether planned indexes are made and used under [`crate::IndexPolicy::Auto`]:
    /// on CouchDB an index turns a scan into a range read; on pouchdb-server it
    /// measured no faster than a scan (BENCHMARKS.md §7).
    pub planned_indexes: bool,
    /// Whether the server's planner may miss an index for a moment after `POST
    /// /_index` (CouchDB, the engine), so a new one is confirmed with `_explain`
    /// before queries name it.
    pub confirm_new_indexes: bool,
    /// Whether `_explain` tells an index's key range, so a read can count the rows
    /// it would read through an index before choosing it (not pouchdb-server, which
    /// also reads through an index about six times slower per row than it scans).
    pub estimates_index_reads: bool,
    /// Whether the changes feed has the `_selector` filter (pouchdb-server: no, and
    /// a request for one stops it).
    pub changes_selector: bool,
    /// Whether `_find` reads `_conflicts` when asked (`"conflicts": true`); where
    /// not (pouchdb-server), a query naming it is matched in the client.
    pub find_conflicts: bool,
    /// Whether the server has partitioned databases (CouchDB 3, the engine):
    /// `PUT /db?partitioned=true` and `/db/_partition/{p}/…`. Where not
    /// (pouchdb-server), a partitioned table's queries all run globally, with the
    /// same rows.
    pub partitions: bool,
}

impl ServerProfile {
    /// The profile of the server that describes itself as `info`.
    pub fn of(info: &ServerInfo) -> ServerProfile {
        if info.is_pouchdb() {
            ServerProfile {
                info: info.clone(),
                dialect: info.dialect(),
                collation: Collation::CodePoint,
                read_all_page: None,
                planned_indexes: false,
                confirm_new_indexes: false,
                estimates_index_reads: false,
                changes_selector: false,
                find_conflicts: false,
                partitions: false,
            }
        } else {
            ServerProfile {
                info: info.clone(),
                dialect: info.dialect(),
                collation: Collation::Icu,
                read_all_page: Some(READ_ALL_PAGE),
                planned_indexes: true,
                confirm_new_indexes: true,
                estimates_index_reads: true,
                changes_selector: true,
                find_conflicts: true,
                partitions: true,
            }
        }
    }

    /// The profile requests are written for when no server is asked (a sketch of
    /// the requests, the first `_find` body): Apache CouchDB, with the translator's
    /// default dialect.
    pub(crate) fn offline() -> &'static ServerProfile {
        static OFFLINE: std::sync::LazyLock<ServerProfile> = std::sync::LazyLock::new(|| {
            let info = ServerInfo { version: None, couchdb: None, express_pouchdb: None, vendor: None };
            ServerProfile { dialect: Dialect::default(), ..ServerProfile::of(&info) }
        });
        &OFFLINE
    }

    /// Whether a selector holding `$elemMatch`/`$allMatch` is relaxed for the
    /// server and matched exactly in the client.
    pub fn elem_match_in_client(&self) -> bool {
        self.dialect.elem_match_in_client
    }
}
