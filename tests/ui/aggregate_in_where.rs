use couch_sql::{couch_sql, CouchRow};

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

fn main() {
    // WHERE chooses documents before grouping: aggregates belong in HAVING.
    let _ = couch_sql!("SELECT age FROM users WHERE COUNT(*) > 1 GROUP BY age");
}
