//! The synchronous API: same queries, same verbs, no async runtime.

use crate::models::{users, User};
use couch_sql::{blocking, couch_sql};

fn fresh_blocking_db(tag: &str) -> blocking::Database {
    let server = std::env::var("COUCHDB_URL").expect("COUCHDB_URL");
    let nanos = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap().subsec_nanos();
    let db = blocking::Database::connect(&format!("{server}/t_{tag}_{}_{nanos}", std::process::id())).unwrap();
    assert!(db.create_if_missing().unwrap());
    db
}

#[test]
fn blocking_crud_where_order_limit_and_iteration() {
    let db = fresh_blocking_db("blocking");
    let r = couch_sql!("INSERT INTO users (name, age, email, active) VALUES ('Ann', 31, NULL, true), ('Ben', 25, 'b@x', false), (?, ?, ?, ?)", "Cy", 40, "c@x", true)
        .execute(&db)
        .unwrap();
    assert_eq!(r.rows_affected(), 3);
    let rows =
        couch_sql!("SELECT name, age FROM users WHERE age > ? ORDER BY age DESC LIMIT 2", 20).fetch_all(&db).unwrap();
    let mut seen = Vec::new();
    for row in &rows {
        seen.push((row.name.clone(), row.age));
    }
    assert_eq!(seen, [("Cy".to_string(), 40), ("Ann".to_string(), 31)]);
    let all: Vec<User> = couch_sql!("SELECT * FROM users").fetch_all(&db).unwrap().into_iter().collect();
    assert_eq!(all.len(), 3);
    let ben = couch_sql!("SELECT * FROM users WHERE name = ?", "Ben").fetch_one(&db).unwrap();
    assert_eq!(ben.email.as_deref(), Some("b@x"));
    assert!(couch_sql!("SELECT name FROM users WHERE age > 100").fetch_optional(&db).unwrap().is_none());
    let n = couch_sql!("UPDATE users SET active = ? WHERE age < ?", false, 35).execute(&db).unwrap().rows_affected();
    assert_eq!(n, 2);
    let d = couch_sql!("DELETE FROM users WHERE email IS NULL").execute(&db).unwrap().rows_affected();
    assert_eq!(d, 1);
    let mut batch = db.batch();
    batch.add(couch_sql!("INSERT INTO users (name, age, active) VALUES ('Dee', 50, true)"));
    batch.add(couch_sql!("DELETE FROM users WHERE name = 'Ben'"));
    assert_eq!(batch.commit().unwrap().rows_affected(), 2);
    let left = couch_sql!("SELECT name FROM users ORDER BY name").fetch_all(&db).unwrap();
    assert_eq!(left.iter().map(|r| r.name.as_str()).collect::<Vec<_>>(), ["Cy", "Dee"]);
    db.drop_database().unwrap();
}

#[test]
fn blocking_clones_work_from_several_threads() {
    let db = fresh_blocking_db("blocking_threads");
    std::thread::scope(|s| {
        for t in 0..4 {
            let db = db.clone();
            s.spawn(move || {
                for i in 0..10 {
                    couch_sql!("INSERT INTO users (name, age, active) VALUES (?, ?, true)", format!("t{t}-{i}"), i)
                        .execute(&db)
                        .unwrap();
                }
            });
        }
    });
    assert_eq!(couch_sql!("SELECT name FROM users").fetch_all(&db).unwrap().len(), 40);
}
