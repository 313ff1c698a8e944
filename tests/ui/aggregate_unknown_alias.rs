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
    // HAVING and ORDER BY name outputs, grouped columns or aggregates.
    let _ = couch_sql!("SELECT age, COUNT(*) AS n FROM users GROUP BY age HAVING nn > 1");
    let _ = couch_sql!("SELECT age, COUNT(*) AS total FROM users GROUP BY age ORDER BY totl DESC");
}
