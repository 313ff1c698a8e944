//! The README's live query: a SELECT watched through CouchDB's changes feed, on the
//! embedded engine (no server). `cargo run --example live`.
use couch_sql::{couch_sql, Change, CouchRow, Database, StreamExt};

#[derive(CouchRow, Debug)]
#[couch(table = "people")]
#[allow(dead_code)] // the table's model: couch_sql! reads it, this program builds none
struct Person {
    name: String,
    age: i64,
}

#[tokio::main]
async fn main() -> couch_sql::Result<()> {
    let db = Database::connect("mem://live").await?; // or "http://admin:pw@127.0.0.1:5984/live"
    db.create_if_missing().await?;
    couch_sql!("INSERT INTO people (_id, name, age) VALUES ('al', 'Al', 30)").execute(&db).await?;
    // Starts at the database's current sequence: Al matches already, and is not an Upsert.
    let mut live = couch_sql!("SELECT name, age FROM people WHERE age >= ?", 18).watch(&db).await?;
    let writer = db.clone();
    tokio::spawn(async move {
        couch_sql!("INSERT INTO people (_id, name, age) VALUES ('bo', 'Bo', 17), ('cy', 'Cy', 40)")
            .execute(&writer)
            .await?;
        couch_sql!("UPDATE people SET age = 18 WHERE name = 'Bo'").execute(&writer).await?; // Bo enters
        couch_sql!("DELETE FROM people WHERE name = 'Al'").execute(&writer).await?; // Al leaves
        Ok::<_, couch_sql::Error>(())
    });
    for _ in 0..3 {
        match live.next().await.expect("a live query never ends")? {
            Change::Upsert { id, row } => println!("+ {id}: {} is {}", row.name, row.age),
            Change::Removed { id } => println!("- {id}"),
        }
    }
    let resume_from: String = live.last_seq(); // persist it: `.watch_from(&db, &resume_from)` goes on from here
    println!("resume from {resume_from}");
    Ok(())
}
