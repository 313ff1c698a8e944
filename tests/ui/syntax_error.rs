use couch_sql::{couch_sql, CouchRow};

#[derive(CouchRow, Debug)]
#[couch(table = "users")]
struct User {
    name: String,
    age: i64,
}

fn main() {
    let _ = couch_sql!("SELECT name FROM users WHERE age > > 3");
    let _ = couch_sql!("SELECT name FROM users WHERE age >");
    let _ = couch_sql!(
        "SELECT name
         FROM users
         WHERE age = 'unterminated"
    );
}
