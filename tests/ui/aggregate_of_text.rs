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
    // SUM and AVG need numbers.
    let _ = couch_sql!("SELECT SUM(name) FROM users");
    let _ = couch_sql!("SELECT age, AVG(active) FROM users GROUP BY age");
}
