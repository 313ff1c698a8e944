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
    // `name` is neither grouped nor aggregated.
    let _ = couch_sql!("SELECT name, COUNT(*) FROM users GROUP BY age");
}
