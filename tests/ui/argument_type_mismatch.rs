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
    // Accepted: T for an Option<T> column, Option<T> for Option<T>, &str or String for String.
    let _ = couch_sql!("SELECT name FROM users WHERE email = ? OR email = ? OR name = ?", "a@x", Some("b@x"), String::from("Al"));
    // Rejected: text for an integer column, an Option for a NOT NULL column.
    let _ = couch_sql!("SELECT name FROM users WHERE age = ?", "thirty");
    let maybe_age: Option<i64> = None;
    let _ = couch_sql!("INSERT INTO users (name, age, active) VALUES (?, ?, true)", "Al", maybe_age);
}
