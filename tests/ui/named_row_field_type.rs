use couch_sql::{couch_sql_as, CouchRow};

#[derive(CouchRow, Debug)]
#[couch(table = "customers")]
struct Customer {
    name: String,
    visits: i64,
    city: Option<String>,
}

// The user's own `Row`, with a field of the wrong type.
struct Row {
    visits: String,
}

struct VisitRow {
    name: String,
    visits: String,
}

fn main() {
    let _ = couch_sql_as!(VisitRow, "SELECT name, visits FROM customers");
    let _ = couch_sql_as!(Row, "SELECT visits FROM customers");
    {
        // A `Row` declared in the function: still checked, field by field.
        struct Row {
            visits: i32,
            town: String,
        }
        let _ = couch_sql_as!(Row, "SELECT visits, city AS town FROM customers");
    }
}
