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
    let _ = couch_sql!("SELECT users.name FROM users JOIN orders ON orders.user_id = users._id");
    // With aliases: one error, for the JOIN, and none for the other table's alias.
    let _ = couch_sql!("SELECT u.name, o.total FROM users u JOIN orders o ON o.user_id = u._id WHERE o.total > 1");
}
