use couch_sql::{couch_sql, CouchRow};

#[derive(CouchRow, Debug)]
#[couch(table = "users")]
struct User {
    name: String,
    age: i64,
    tags: Vec<String>,
}

fn main() {
    // Accepted: a Vec, a slice or an array of the column's type.
    let _ = couch_sql!("SELECT name FROM users WHERE age = ANY(?)", vec![18, 21]);
    let _ = couch_sql!("SELECT name FROM users WHERE name = ANY(?)", &["Al", "Bo"][..]);
    // Rejected: elements of another type, a single value, an array column, another operator.
    let _ = couch_sql!("SELECT name FROM users WHERE age = ANY(?)", vec!["18"]);
    let _ = couch_sql!("SELECT name FROM users WHERE age = ANY(?)", 18);
    let _ = couch_sql!("SELECT name FROM users WHERE tags = ANY(?)", vec!["x"]);
    let _ = couch_sql!("SELECT name FROM users WHERE age < ANY(?)", vec![1]);
}
