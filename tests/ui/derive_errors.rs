use couch_sql::CouchRow;

#[derive(CouchRow)]
#[couch(table = "events")]
struct Event {
    #[couch(id)]
    id: u32,
    at: std::time::SystemTime,
    r#type: String,
    #[couch(primary)]
    name: String,
    #[couch(rename = "a\\b")]
    slashed: String,
}

fn main() {}
