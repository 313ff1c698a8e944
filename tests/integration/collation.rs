//! Text is ordered one way per server, wherever the ordering is done: the
//! server's own `_find` sort, and every order couch-sql computes in the client
//! (a run-time ORDER BY the server cannot do, the streaming aggregate's GROUP BY
//! and MIN/MAX, pouchdb-server's client-side match) give the same order. That
//! order is the one the handle's profile names: ICU on Apache CouchDB and the
//! engine, code points on pouchdb-server (docs/servers.md).

use crate::{fresh_db, is_embedded, is_pouchdb};
use couch_sql::{couch_sql, Collation, CouchRow, Database, IndexPolicy, Plan};

#[derive(CouchRow, Debug, Clone, PartialEq)]
#[couch(table = "words")]
pub struct Word {
    /// Never NULL: `ORDER BY name` is sorted by the server.
    name: String,
    /// The same text, nullable: `ORDER BY label` is sorted in the client.
    label: Option<String>,
    tags: Vec<String>,
}

/// Mixed case, accents, other scripts, digits and punctuation: where ICU and code
/// points disagree (`apple < Banana` in ICU, `Banana < apple` by code point).
const WORDS: [&str; 24] = [
    "apple",
    "Apple",
    "APPLE",
    "banana",
    "Banana",
    "Äpfel",
    "äpfel",
    "apfel",
    "zebra",
    "Zürich",
    "zurich",
    "école",
    "Ecole",
    "ecole",
    "Ωmega",
    "omega",
    "Яблоко",
    "яблоко",
    "日本",
    "にほん",
    "10",
    "9",
    "_x",
    "-x",
];

async fn seeded(tag: &str) -> Database {
    let db = fresh_db(tag).await;
    seed(&db).await;
    db
}

async fn seed(db: &Database) {
    for (i, w) in WORDS.iter().enumerate() {
        let tags = if i % 2 == 0 { vec!["even".to_string()] } else { vec!["odd".to_string()] };
        couch_sql!("INSERT INTO words (name, label, tags) VALUES (?, ?, ?)", *w, Some(w.to_string()), tags)
            .execute(db)
            .await
            .unwrap();
    }
}

/// The `name` column of a query's rows, in order.
macro_rules! names {
    ($query:expr, $db:expr) => {
        $query.fetch_all($db).await.unwrap().iter().map(|r| r.name.clone()).collect::<Vec<String>>()
    };
}

fn sorted(c: Collation) -> Vec<String> {
    let mut v: Vec<String> = WORDS.iter().map(|w| w.to_string()).collect();
    v.sort_by(|a, b| c.strings(a, b));
    v
}

#[tokio::test]
async fn client_side_orders_are_the_servers_order() {
    let db = seeded("collation").await;
    let collation = db.profile().await.unwrap().collation;
    let want = if is_pouchdb().await { Collation::CodePoint } else { Collation::Icu };
    assert_eq!(collation, want, "the profile names the server's collation");

    // The server's own sort.
    let server = names!(couch_sql!("SELECT name FROM words ORDER BY name"), &db);
    assert_eq!(server, sorted(collation), "the server sorts text as its profile says");
    // The two orders really differ here: a client-side order by the other one fails.
    let other = if collation == Collation::Icu { Collation::CodePoint } else { Collation::Icu };
    assert_ne!(server, sorted(other));

    // A run-time ORDER BY the server cannot do (a nullable key): sorted in the client.
    let dynamic = couch_sql::query("SELECT name FROM words ORDER BY label");
    let Plan::Select(plan) = &dynamic.translation().unwrap().plan else { panic!("a SELECT") };
    assert!(!plan.server_sort, "the run-time query sorts in the client");
    let rows = dynamic.fetch_all(&db).await.unwrap();
    let got: Vec<String> = rows.iter().map(|r| r["name"].as_str().unwrap().to_string()).collect();
    assert_eq!(got, server, "run-time ORDER BY");
    let compiled = names!(couch_sql!("SELECT name FROM words ORDER BY label DESC"), &db);
    assert_eq!(compiled, server.iter().rev().cloned().collect::<Vec<_>>(), "ORDER BY a nullable column, DESC");

    // The streaming aggregate: GROUP BY's order, MIN and MAX.
    let streaming = db.clone().with_index_policy(IndexPolicy::Never);
    let groups = couch_sql!("SELECT label, COUNT(*) AS n FROM words GROUP BY label ORDER BY label")
        .fetch_all(&streaming)
        .await
        .unwrap();
    let got: Vec<String> = groups.iter().map(|g| g.label.clone().unwrap()).collect();
    assert_eq!(got, server, "GROUP BY … ORDER BY, streamed");
    let ends = couch_sql!("SELECT MIN(name) AS lo, MAX(name) AS hi FROM words").fetch_one(&streaming).await.unwrap();
    assert_eq!(
        (ends.lo.as_deref(), ends.hi.as_deref()),
        (server.first().map(String::as_str), server.last().map(String::as_str))
    );

    // An element match (matched in the client on pouchdb-server), sorted.
    let even = names!(couch_sql!("SELECT name FROM words WHERE 'even' = ANY(tags) ORDER BY label"), &db);
    let want: Vec<String> =
        server.iter().filter(|w| WORDS.iter().position(|x| x == w).unwrap() % 2 == 0).cloned().collect();
    assert_eq!(even, want, "an element match, ORDER BY in the client");
}

/// On Apache CouchDB, the engine beside it (in process) sorts the same words the
/// same way: the engine's ICU order is CouchDB's.
#[tokio::test]
async fn the_engine_sorts_text_as_couchdb_does() {
    if is_pouchdb().await || is_embedded().await {
        return; // the comparison is with Apache CouchDB
    }
    let couchdb = seeded("collation_couchdb").await;
    let name = format!("collation_engine_{}", std::process::id());
    let engine = Database::connect(&format!("mem://{name}")).await.unwrap();
    engine.create_if_missing().await.unwrap();
    seed(&engine).await;
    let by_couchdb = names!(couch_sql!("SELECT name FROM words ORDER BY name"), &couchdb);
    let by_engine = names!(couch_sql!("SELECT name FROM words ORDER BY name"), &engine);
    assert_eq!(by_engine, by_couchdb, "the engine's _find sort is CouchDB's");
    engine.drop_database().await.unwrap();
}
