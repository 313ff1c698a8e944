use couch_sql::CouchRow;

struct Money {
    cents: i64,
}

#[derive(CouchRow)]
#[couch(table = "orders")]
struct Order {
    total: Money,
}

fn main() {}
