// A partitioned table's partition column: a `String` of the document, named right.
use couch_sql::CouchRow;

#[derive(CouchRow)]
#[couch(table = "orders", partition = "tenant_id")]
pub struct Misnamed {
    #[couch(id)]
    pub id: Option<String>,
    pub tenant: String,
}

#[derive(CouchRow)]
#[couch(table = "invoices", partition = "tenant")]
pub struct Optional {
    pub tenant: Option<String>,
}

#[derive(CouchRow)]
#[couch(table = "notes", id_prefix = "note:", partition = "tenant")]
pub struct Prefixed {
    pub tenant: String,
}

fn main() {}
