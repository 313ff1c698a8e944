use couch_sql::{couch_sql, CouchObject, CouchRow};

#[derive(CouchObject, Debug, Clone, PartialEq)]
struct Address {
    city: String,
}

#[derive(CouchRow, Debug, Clone, PartialEq)]
#[couch(table = "customers")]
struct Customer {
    #[couch(id)]
    id: Option<String>,
    name: String,
    address: Address,
    tags: Vec<String>,
}

fn main() {
    let a = Address { city: "Oslo".into() };
    // An Address where a String is due, and a String where an Address is due.
    let _ = couch_sql!("SELECT name FROM customers WHERE address.city = ?", a.clone());
    let _ = couch_sql!("INSERT INTO customers (name, address, tags) VALUES (?, ?, ?)", "Ada", "Oslo", vec![1, 2]);
}
