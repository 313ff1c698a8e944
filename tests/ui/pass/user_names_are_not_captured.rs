//! A user's own types named like the expansion's items (`Row`, `Params`, …),
//! at module level and inside the function: the user's types are the ones used.
use couch_sql::{couch_sql, couch_sql_as, CouchRow, Database};

#[derive(CouchRow, Debug)]
#[couch(table = "customers")]
struct Customer {
    name: String,
    visits: i64,
}

#[derive(Debug, PartialEq)]
struct Row {
    name: String,
    visits: i64,
}

#[allow(dead_code)]
struct Params;

#[tokio::main(flavor = "current_thread")]
async fn main() -> couch_sql::Result<()> {
    let db = Database::connect("mem://names").await?;
    db.create_if_missing().await?;
    let visits = 3;
    couch_sql!("INSERT INTO customers (name, visits) VALUES ('Ann', ?)", visits).execute(&db).await?;
    // The module-level `Row`.
    let rows: Vec<Row> = couch_sql_as!(Row, "SELECT name, visits FROM customers").fetch_all(&db).await?.into_vec();
    assert_eq!(rows, [Row { name: "Ann".into(), visits: 3 }]);
    {
        // A `Row` of the function's own, and an argument naming it.
        #[derive(Debug, PartialEq)]
        struct Row {
            visits: i64,
        }
        impl Row {
            fn min() -> i64 {
                1
            }
        }
        let rows = couch_sql_as!(Row, "SELECT visits FROM customers WHERE visits > ?", Row::min())
            .fetch_all(&db)
            .await?
            .into_vec();
        assert_eq!(rows, [Row { visits: 3 }]);
    }
    Ok(())
}
