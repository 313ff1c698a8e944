use couch_sql::{couch_sql, CouchObject, CouchRow};

#[derive(CouchObject, Debug)]
pub struct Address {
    city: String,
}

#[derive(CouchRow, Debug)]
#[couch(table = "customers")]
struct Customer {
    name: String,
    address: Address,
}

fn main() {
    // A near miss of a table this crate declares: named, with the tables there are.
    let _ = couch_sql!("SELECT name FROM custmers");
}
