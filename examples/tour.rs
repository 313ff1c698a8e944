//! The README's tour: a model, then INSERT, SELECT, UPDATE, DELETE, an aggregate and
//! the blocking API, on the embedded engine (no server). `cargo run --example tour`.
use couch_sql::{couch_sql, CouchRow, Database};

#[derive(CouchRow, Debug)]
#[couch(table = "users")] // the documents whose `type` is "users"
struct User {
    #[couch(id)]
    id: Option<String>,
    name: String,
    age: i64,
    email: Option<String>, // NULL: missing or null in the document
}

#[tokio::main]
async fn main() -> couch_sql::Result<()> {
    let db = Database::connect("mem://tour").await?; // or "http://admin:pw@127.0.0.1:5984/tour"
    db.create_if_missing().await?;
    couch_sql!("INSERT INTO users (name, age, email) VALUES (?, ?, ?), ('Bo', 17, NULL)", "Al", 30, "al@x.org")
        .execute(&db)
        .await?;
    let adults = couch_sql!("SELECT name, age FROM users WHERE age >= ? ORDER BY age DESC", 18).fetch_all(&db).await?;
    for u in &adults {
        println!("{} is {}", u.name, u.age); // typed rows: u.name: String, u.age: i64
    }
    couch_sql!("UPDATE users SET age = age + 1 WHERE name = ?", "Bo").execute(&db).await?;
    let n = couch_sql!("SELECT COUNT(*) FROM users WHERE email IS NULL").fetch_one(&db).await?.count;
    couch_sql!("DELETE FROM users WHERE email IS NULL").execute(&db).await?;
    let left: Vec<User> = couch_sql!("SELECT * FROM users").fetch_all(&db).await?.into_vec();
    for u in &left {
        println!("{n} deleted; left: {} ({}), email {:?}, id {:?}", u.name, u.age, u.email, u.id);
    }
    // The same queries without async (a plain `fn`, a thread): couch_sql::blocking::Database.
    let total = tokio::task::spawn_blocking(|| -> couch_sql::Result<i64> {
        let db = couch_sql::blocking::Database::connect("mem://tour")?;
        Ok(couch_sql!("SELECT COUNT(*) FROM users").fetch_one(&db)?.count)
    });
    println!("{} user(s), counted without async", total.await.expect("the blocking task")?);
    Ok(())
}
