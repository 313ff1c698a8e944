use couch_sql::CouchRow;

// A table is recognised by one field or by an `_id` prefix, not both.
#[derive(CouchRow)]
#[couch(table = "users", type_field = "kind", id_prefix = "user:")]
struct Both {
    name: String,
}

// `_…` fields and dotted paths cannot hold the table name.
#[derive(CouchRow)]
#[couch(table = "users", type_field = "_kind")]
struct Reserved {
    name: String,
}

#[derive(CouchRow)]
#[couch(table = "users", id_prefix = "")]
struct EmptyPrefix {
    name: String,
}

// The discriminator field cannot also be a column.
#[derive(CouchRow)]
#[couch(table = "users", type_field = "kind")]
struct Clash {
    kind: String,
}

#[derive(CouchRow)]
#[couch(table = "users", tpye_field = "kind")]
struct Typo {
    name: String,
}

fn main() {}
