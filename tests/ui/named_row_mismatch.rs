use couch_sql::{couch_sql_as, CouchRow};

#[derive(CouchRow, Debug)]
#[couch(table = "users")]
struct User {
    name: String,
    age: i64,
    email: Option<String>,
}

struct Adult {
    name: String,
    age: i64,
}

struct Contact {
    name: String,
    email: String,
}

fn main() {
    // A column the struct lacks.
    let _ = couch_sql_as!(Adult, "SELECT name, age, email FROM users");
    // A field the SELECT lacks.
    let _ = couch_sql_as!(Adult, "SELECT name FROM users");
    // An Option column into a non-Option field.
    let _ = couch_sql_as!(Contact, "SELECT name, email FROM users");
    // `*` is not a list of columns.
    let _ = couch_sql_as!(Adult, "SELECT * FROM users");
}
