use couch_sql::{couch_sql, CouchRow};

#[derive(CouchRow, Debug)]
#[couch(table = "users")]
struct User {
    #[couch(id)]
    id: Option<String>,
    name: String,
}

fn main() {
    // `_conflicts` can be read and tested (WHERE _conflicts IS NOT NULL), never written.
    let _ = couch_sql!("INSERT INTO users (name, _conflicts) VALUES ('Al', NULL)");
    let _ = couch_sql!("UPDATE users SET _conflicts = NULL WHERE name = 'Al'");
}
