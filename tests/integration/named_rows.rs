//! `couch_sql_as!`: rows of a struct of the caller's, checked against the SELECT.

use crate::models::users;
use couch_sql::{couch_sql, couch_sql_as, Database, Rows};

#[derive(Debug, PartialEq)]
struct Adult {
    name: String,
    age: i64,
}

/// A repository function can name its rows.
async fn adults(db: &Database) -> couch_sql::Result<Rows<Adult>> {
    couch_sql_as!(Adult, "SELECT name, age FROM users WHERE age >= ? ORDER BY age", 18i64).fetch_all(db).await
}

#[derive(Debug, PartialEq)]
struct Tally {
    active: bool,
    n: i64,
    oldest: Option<i64>,
}

#[couch_sql::test]
async fn rows_fill_the_callers_struct(db: Database) {
    couch_sql!("INSERT INTO users (name, age, active) VALUES ('Ann', 40, true), ('Bob', 17, false), ('Cy', 30, true)")
        .execute(&db)
        .await
        .unwrap();
    assert_eq!(
        adults(&db).await.unwrap().into_vec(),
        [Adult { name: "Cy".into(), age: 30 }, Adult { name: "Ann".into(), age: 40 }]
    );
    let one = couch_sql_as!(Adult, "SELECT name, age FROM users WHERE name = ?", "Bob").fetch_one(&db).await.unwrap();
    assert_eq!(one, Adult { name: "Bob".into(), age: 17 });
    let none =
        couch_sql_as!(Adult, "SELECT name, age FROM users WHERE name = 'Zed'").fetch_optional(&db).await.unwrap();
    assert_eq!(none, None);
    // Aliases name the fields, and aggregates work too.
    let tallies = couch_sql_as!(
        Tally,
        "SELECT active, COUNT(*) AS n, MAX(age) AS oldest FROM users GROUP BY active ORDER BY active"
    )
    .fetch_all(&db)
    .await
    .unwrap();
    assert_eq!(
        tallies.into_vec(),
        [Tally { active: false, n: 1, oldest: Some(17) }, Tally { active: true, n: 2, oldest: Some(40) }]
    );
    // The stream, and the blocking API.
    use futures_util::StreamExt;
    let streamed: Vec<Adult> = couch_sql_as!(Adult, "SELECT name, age FROM users WHERE age > 20")
        .fetch(&db)
        .map(|r| r.unwrap())
        .collect()
        .await;
    assert_eq!(streamed.len(), 2);
    let url = format!("{}/{}", crate::server_url(), db.name());
    let blocking = tokio::task::spawn_blocking(move || {
        let db = couch_sql::blocking::Database::connect(&url).unwrap();
        couch_sql_as!(Adult, "SELECT name, age FROM users WHERE age < 20").fetch_all(&db).unwrap().into_vec()
    })
    .await
    .unwrap();
    assert_eq!(blocking, [Adult { name: "Bob".into(), age: 17 }]);
}
