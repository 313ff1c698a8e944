//! The README's example, end to end: insert, query, update, delete.
//!
//! `cargo run --example quickstart` runs it on couch-sql's embedded engine, in
//! process (`mem://quickstart`: no server). With `COUCHDB_URL=http://…` set, or
//! through `scripts/with-server.sh`, it runs on that CouchDB server.

use couch_sql::{couch_sql, CouchRow, Database};

#[derive(CouchRow, Debug, Clone, PartialEq)]
#[couch(table = "users")]
struct User {
    #[couch(id)]
    id: Option<String>, // the document's _id
    #[couch(rev)]
    rev: Option<String>, // the document's _rev
    name: String,
    age: i64,
    email: Option<String>, // NULL = missing or null in the document
    active: bool,
}

#[tokio::main]
async fn main() -> couch_sql::Result<()> {
    if std::env::var_os("COUCH_SQL_LOG").is_some() {
        // Every request as a `couchdb` span: method, path, status, time, rows.
        tracing_subscriber::fmt().with_max_level(tracing::Level::DEBUG).with_target(false).init();
    }
    let url = match std::env::var("COUCHDB_URL") {
        Ok(server) => format!("{}/quickstart", server.trim_end_matches('/')),
        Err(_) => "mem://quickstart".to_string(), // the embedded engine, in this process
    };
    let db = Database::connect(&url).await?;
    db.drop_database().await.ok(); // start from scratch on every run
    db.create_if_missing().await?;

    let inserted = couch_sql!(
        "INSERT INTO users (name, age, email, active) VALUES (?, ?, ?, ?), ('Bo', 17, NULL, false)",
        "Alice",
        30,
        "a@example.com",
        true
    )
    .execute(&db)
    .await?;
    println!("inserted {} users: {:?}", inserted.rows_affected(), inserted.ids().collect::<Vec<_>>());

    let min_age = 18;
    let rows =
        couch_sql!("SELECT name, age FROM users WHERE age >= ? AND active = true ORDER BY age DESC LIMIT 10", min_age)
            .fetch_all(&db)
            .await?; // one async fetch ...
    for row in &rows {
        // ... then synchronous iteration over cached, typed rows
        println!("{} is {}", row.name, row.age);
    }

    let all: Vec<User> = couch_sql!("SELECT * FROM users ORDER BY name").fetch_all(&db).await?.into_iter().collect();
    println!("all users: {all:#?}");

    let n = couch_sql!("UPDATE users SET active = ? WHERE age < ?", false, 18).execute(&db).await?.rows_affected();
    println!("deactivated {n} minors");

    let gone = couch_sql!("DELETE FROM users WHERE email IS NULL").execute(&db).await?.rows_affected();
    println!("deleted {gone} users without email");

    let left = couch_sql!("SELECT name FROM users").fetch_all(&db).await?;
    println!("left: {:?}", left.iter().map(|r| r.name.as_str()).collect::<Vec<_>>());
    Ok(())
}
