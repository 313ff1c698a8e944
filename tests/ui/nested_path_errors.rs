use couch_sql::{couch_sql, CouchObject, CouchRow};

#[derive(CouchObject, Debug, Clone, PartialEq)]
struct Address {
    city: String,
    zip: Option<String>,
}

#[derive(CouchObject, Debug, Clone, PartialEq)]
struct Line {
    sku: String,
    qty: i64,
}

#[derive(CouchRow, Debug, Clone, PartialEq)]
#[couch(table = "customers")]
struct Customer {
    #[couch(id)]
    id: Option<String>,
    name: String,
    address: Address,
    tags: Vec<String>,
    lines: Vec<Line>,
    meta: serde_json::Value,
}

fn main() {
    let _ = couch_sql!("SELECT name FROM customers WHERE address.ctiy = ?", "Oslo");
    let _ = couch_sql!("SELECT name FROM customers WHERE lines.qty >= 2");
    let _ = couch_sql!("SELECT name FROM customers WHERE ? = ANY(name)", "x");
    let _ = couch_sql!("SELECT name FROM customers WHERE tags = 'vip'");
    let _ = couch_sql!("SELECT name FROM customers WHERE CARDINALITY(tags) > 2");
    let _ = couch_sql!("SELECT name FROM customers WHERE meta = 1");
}
