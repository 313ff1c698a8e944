//! The README's local-first app: its data lives in a `file://` database, queried
//! with checked SQL even offline, and syncs with a CouchDB when it can. Without
//! `COUCH_SQL_REMOTE` (say `http://admin:pw@127.0.0.1:5984/orders`) the "server"
//! is a second engine in process. `cargo run --example sync`.
use couch_sql::{couch_sql, CouchRow, Database};

#[derive(CouchRow, Debug, Clone)]
#[couch(table = "orders")]
#[allow(dead_code)] // `id` is read by the derive, not by this program
struct Order {
    #[couch(id)]
    id: Option<String>,
    item: String,
    qty: i64,
}

#[tokio::main]
async fn main() -> couch_sql::Result<()> {
    let dir = std::env::temp_dir().join(format!("couch-sql-sync-{}", std::process::id()));
    std::fs::create_dir_all(&dir).expect("a directory for the local database");
    let local = Database::connect(&format!("file://{}/orders", dir.display())).await?;
    local.create_if_missing().await?;
    let remote_url = std::env::var("COUCH_SQL_REMOTE").unwrap_or_else(|_| "mem://orders".into());
    let remote = Database::connect(&remote_url).await?;

    // Offline: the app writes and reads its local database.
    couch_sql!("INSERT INTO orders (_id, item, qty) VALUES ('o1', 'tea', 2)").execute(&local).await?;
    // Online: push, then pull (checkpointed on both sides: the next sync resumes).
    let (pushed, pulled) = local.sync(&remote).await?;
    println!("pushed {}, pulled {}", pushed.docs_written, pulled.docs_written);

    // Both sides change the same order while apart: a conflict, kept on both.
    couch_sql!("UPDATE orders SET qty = 3 WHERE _id = 'o1'").execute(&local).await?;
    couch_sql!("UPDATE orders SET qty = 5 WHERE _id = 'o1'").execute(&remote).await?;
    local.sync(&remote).await?;
    for c in local.conflicts::<Order>().await? {
        let most = c.losers.iter().map(|l| l.row.qty).fold(c.winner.qty, i64::max);
        println!("{}: {} against {} other(s); keeping qty {most}", c.id, c.winner.qty, c.losers.len());
        let keep = Order { qty: most, ..c.winner.clone() };
        c.resolve(&local, keep).await?;
    }
    local.sync(&remote).await?; // the resolution reaches the server
    let o1 = couch_sql!("SELECT item, qty FROM orders WHERE _id = 'o1'").fetch_one(&remote).await?;
    println!("the server has {} x {}", o1.qty, o1.item);
    let _ = std::fs::remove_dir_all(&dir);
    Ok(())
}
