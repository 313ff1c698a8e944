use couch_sql::Database;

#[couch_sql::test(fixture("tests/fixtures/users.json"))]
async fn unknown_option(db: Database) {}

#[couch_sql::test(fixtures("tests/fixtures/no_such_file.json"))]
async fn missing_fixture(db: Database) {}

#[couch_sql::test]
async fn no_database() {}

#[couch_sql::test]
fn blocking_needs_the_blocking_database(db: Database) {}

#[couch_sql::test]
async fn async_needs_the_async_database(db: couch_sql::blocking::Database) {}

fn main() {}
