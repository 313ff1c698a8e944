use couch_sql::{couch_sql, CouchRow, Database};

#[derive(CouchRow, Debug)]
#[couch(table = "users")]
struct User {
    #[couch(id)]
    id: Option<String>,
    name: String,
    age: i64,
    email: Option<String>,
    active: bool,
}

async fn watch(db: &Database) {
    // A live query is a stream of changes: no window of rows, no aggregate.
    let _ = couch_sql!("SELECT name FROM users ORDER BY age LIMIT 10").watch(db).await;
    let _ = couch_sql!("SELECT * FROM users WHERE age > 3 OFFSET 5").watch(db).await;
    let _ = couch_sql!("SELECT COUNT(*) AS n FROM users").watch(db).await;
    // A plain SELECT can be watched.
    let _ = couch_sql!("SELECT name FROM users WHERE age > ?", 3).watch(db).await;
}

fn main() {
    let _ = watch;
}
