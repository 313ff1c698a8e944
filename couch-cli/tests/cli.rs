//! The `couch-sql` binary, end to end against the real test server.

use std::process::{Command, Output};

fn couch_sql(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_couch-sql")).args(args).output().expect("run couch-sql")
}

fn text(b: &[u8]) -> String {
    String::from_utf8_lossy(b).into_owned()
}

/// `COUCHDB_URL=mem://`: the suite runs on the embedded engine inside the test
/// process, which the `couch-sql` process cannot reach; the commands that talk to a
/// server are tested on every other target (`couch-sql serve`, pouchdb-server, CouchDB).
fn in_process() -> bool {
    std::env::var("COUCHDB_URL").is_ok_and(|u| u.starts_with("mem:"))
}

fn db_url(tag: &str) -> String {
    let server = std::env::var("COUCHDB_URL").expect("COUCHDB_URL: run through scripts/with-server.sh");
    let nanos = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap().subsec_nanos();
    format!("{server}/cli_{tag}_{}_{nanos}", std::process::id())
}

fn create(url: &str) {
    let rt = tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap();
    rt.block_on(async {
        let db = couch_sql::Database::connect(url).await.unwrap();
        assert!(db.create_if_missing().await.unwrap());
    });
}

#[test]
fn translate_prints_the_request_without_a_server() {
    let out = couch_sql(&["translate", "SELECT name FROM users WHERE age > ? AND name LIKE 'A%'", "--param", "18"]);
    assert!(out.status.success(), "{}", text(&out.stderr));
    let s = text(&out.stdout);
    assert!(s.starts_with("POST /db/_find\n"), "{s}");
    let body: String = s.lines().skip(1).take_while(|l| !l.starts_with('#')).collect::<Vec<_>>().join("\n");
    let v: serde_json::Value = serde_json::from_str(&body).unwrap();
    assert_eq!(v["selector"]["type"], "users");
    assert_eq!(v["selector"]["age"]["$gt"], 18);
    assert_eq!(v["selector"]["name"]["$regex"], "^A");
    assert_eq!(v["limit"], 1000);

    let compact =
        couch_sql(&["translate", "--compact", "--db", "shop", "INSERT INTO users (name) VALUES (?)", "--param", "Al"]);
    let s = text(&compact.stdout);
    let lines: Vec<&str> = s.lines().collect();
    assert_eq!(lines[0], "POST /shop/_bulk_docs");
    assert_eq!(lines.len(), 2, "{s}");
    assert!(lines[1].contains(r#""name":"Al""#) && lines[1].contains(r#""type":"users""#), "{s}");
}

#[test]
fn translate_checks_the_parameters_as_query_does() {
    let sql = "SELECT name FROM users WHERE age > ?";
    let missing = couch_sql(&["translate", sql]);
    assert!(!missing.status.success(), "{}", text(&missing.stdout));
    let err = text(&missing.stderr);
    assert!(err.contains("1 `?` parameters, but 0 values were bound"), "{err}");
    assert!(missing.stdout.is_empty(), "nothing is printed: {}", text(&missing.stdout));
    let extra = couch_sql(&["translate", sql, "-p", "1", "-p", "2"]);
    assert!(!extra.status.success());
    assert!(text(&extra.stderr).contains("1 `?` parameters, but 2 values were bound"), "{}", text(&extra.stderr));
    assert!(couch_sql(&["translate", sql, "-p", "1"]).status.success());
}

#[test]
fn bad_sql_is_one_line_and_a_failure() {
    let out = couch_sql(&["translate", "SELECT * FROM users u JOIN orders o ON u.id = o.uid"]);
    assert!(!out.status.success());
    let err = text(&out.stderr);
    assert_eq!(err.lines().count(), 1, "{err}");
    assert!(err.starts_with("error: SQL error: JOIN is not supported"), "{err}");
    let out = couch_sql(&["translate", "SELEC 1"]);
    assert!(text(&out.stderr).contains("line 1, column 1"), "{}", text(&out.stderr));
}

#[test]
fn query_writes_reads_and_tables() {
    if in_process() {
        return; // another process: see in_process()
    }
    let url = db_url("query");
    create(&url);
    let out = couch_sql(&[
        "query",
        "--url",
        &url,
        "INSERT INTO users (name, age) VALUES (?, ?), ('Bo', 17)",
        "-p",
        "Alice",
        "-p",
        "30",
    ]);
    assert!(out.status.success(), "{}", text(&out.stderr));
    assert_eq!(text(&out.stdout).trim(), "2 rows affected");
    let out =
        couch_sql(&["query", "--url", &url, "SELECT name, age FROM users WHERE age >= ? ORDER BY age DESC", "-p", "0"]);
    assert!(out.status.success(), "{}", text(&out.stderr));
    let lines: Vec<serde_json::Value> = text(&out.stdout).lines().map(|l| serde_json::from_str(l).unwrap()).collect();
    assert_eq!(lines, [serde_json::json!({"name": "Alice", "age": 30}), serde_json::json!({"name": "Bo", "age": 17})]);
    let out = couch_sql(&["query", "--url", &url, "SELECT name, age FROM users ORDER BY name", "--table"]);
    let s = text(&out.stdout);
    let rows: Vec<&str> = s.lines().collect();
    assert_eq!(rows[0], "name  | age");
    assert_eq!(rows[2], "Alice | 30");
    assert_eq!(rows[3], "Bo    | 17");
    assert_eq!(rows[4], "(2 rows)");
    let out = couch_sql(&["query", "--url", &url, "UPDATE users SET age = age + 1 WHERE name = 'Bo'"]);
    assert_eq!(text(&out.stdout).trim(), "1 row affected");
    let out = couch_sql(&["query", "--url", &url, "DELETE FROM users"]);
    assert_eq!(text(&out.stdout).trim(), "2 rows affected");
}

#[test]
fn server_errors_fail_without_printing_credentials() {
    if in_process() {
        return; // another process: see in_process()
    }
    // Not the admin's name with a wrong password: CouchDB 3.4 locks the account out after a few.
    let url = db_url("missing");
    let (scheme, rest) = url.split_once("://").unwrap();
    let url = format!("{scheme}://nobody:pa55-secret@{}", rest.split_once('@').map_or(rest, |(_, h)| h));
    let out = couch_sql(&["query", "--url", &url, "SELECT name FROM users"]);
    assert!(!out.status.success());
    let err = text(&out.stderr);
    assert_eq!(err.lines().count(), 1, "{err}");
    assert!(!err.contains("pa55-secret") && !text(&out.stdout).contains("pa55-secret"), "{err}");
    let out = couch_sql(&["query", "--url", "http://127.0.0.1:9/x", "SELECT name FROM users"]);
    assert!(!out.status.success());
    assert!(text(&out.stderr).starts_with("error: could not talk to CouchDB"), "{}", text(&out.stderr));
}

#[test]
fn explain_names_the_index_or_warns() {
    if in_process() {
        return; // another process: see in_process()
    }
    let url = db_url("explain");
    create(&url);
    let out = couch_sql(&["explain", "--url", &url, "SELECT name FROM users WHERE age > 1"]);
    assert!(out.status.success(), "{}", text(&out.stderr));
    assert!(text(&out.stderr).contains("warning: no index serves this query"), "{}", text(&out.stderr));
    let out = couch_sql(&["query", "--url", &url, "CREATE INDEX by_age ON users (age)"]);
    assert!(out.status.success(), "{}", text(&out.stderr));
    let out = couch_sql(&["explain", "--url", &url, "SELECT name FROM users WHERE age > ?", "-p", "1"]);
    assert!(text(&out.stdout).starts_with("index: by_age"), "{}", text(&out.stdout));
    assert!(!text(&out.stderr).contains("warning"), "{}", text(&out.stderr));
}

#[test]
fn plan_prints_the_index_and_applies_it() {
    if in_process() {
        return; // another process: see in_process()
    }
    let out = couch_sql(&["plan", "SELECT name FROM users WHERE age >= ? AND city = ?", "-p", "90", "-p", "c3"]);
    assert!(out.status.success(), "{}", text(&out.stderr));
    let s = text(&out.stdout);
    assert!(s.starts_with("index: couchsql-type-city-age\nfields: [\"type\",\"city\",\"age\"]"), "{s}");
    let out = couch_sql(&["plan", "SELECT name FROM users WHERE name LIKE '%x%'"]);
    assert!(text(&out.stdout).contains("scans every document of its table"), "{}", text(&out.stdout));
    let out = couch_sql(&["plan", "SELECT name FROM users WHERE _id = 'a'"]);
    assert!(text(&out.stdout).starts_with("no index"), "{}", text(&out.stdout));
    let url = db_url("plan");
    create(&url);
    let out = couch_sql(&["plan", "--apply", "--url", &url, "SELECT name FROM users WHERE city = 'c3'"]);
    assert!(out.status.success(), "{}", text(&out.stderr));
    assert!(text(&out.stdout).ends_with("created\n"), "{}", text(&out.stdout));
    let out = couch_sql(&["explain", "--url", &url, "SELECT name FROM users WHERE city = 'c3'"]);
    assert!(text(&out.stdout).starts_with("index: couchsql-type-city"), "{}", text(&out.stdout));
}

#[test]
fn nested_paths_translate_and_plan_like_compiled_queries() {
    let out = couch_sql(&[
        "translate",
        "SELECT name FROM customers WHERE address.city = ? AND ? = ANY(tags) AND CARDINALITY(tags) = 2",
        "--param",
        "Oslo",
        "--param",
        "vip",
    ]);
    assert!(out.status.success(), "{}", text(&out.stderr));
    let s = text(&out.stdout);
    let body: String = s.lines().skip(1).take_while(|l| !l.starts_with('#')).collect::<Vec<_>>().join("\n");
    let v: serde_json::Value = serde_json::from_str(&body).unwrap();
    assert_eq!(v["selector"]["address.city"]["$eq"], "Oslo");
    assert_eq!(v["selector"]["address"]["$type"], "object");
    assert_eq!(v["selector"]["tags"]["$elemMatch"]["$eq"], "vip");
    assert_eq!(v["selector"]["tags"]["$size"], 2);

    let plan = couch_sql(&["plan", "SELECT name FROM customers WHERE address.city = ? AND visits > ?"]);
    assert!(plan.status.success(), "{}", text(&plan.stderr));
    assert!(text(&plan.stdout).contains(r#"["type","address.city","visits"]"#), "{}", text(&plan.stdout));
}

#[test]
fn aggregates_run_from_the_command_line() {
    if in_process() {
        return; // another process: see in_process()
    }
    let url = db_url("agg");
    create(&url);
    let insert = couch_sql(&[
        "query",
        "--url",
        &url,
        "INSERT INTO people (name, city, age) VALUES ('a', 'Oslo', 30), ('b', 'Oslo', 40), ('c', 'Lima', 50), ('d', NULL, 1)",
    ]);
    assert!(insert.status.success(), "{}", text(&insert.stderr));
    let out = couch_sql(&[
        "query",
        "--url",
        &url,
        "--table",
        "SELECT city, COUNT(*) AS n, SUM(age) AS total FROM people GROUP BY city HAVING n >= ? ORDER BY total DESC",
        "--param",
        "1",
    ]);
    assert!(out.status.success(), "{}", text(&out.stderr));
    let s = text(&out.stdout);
    let lines: Vec<&str> = s.lines().collect();
    assert_eq!(lines[0].split('|').map(str::trim).collect::<Vec<_>>(), ["city", "n", "total"], "{s}");
    assert_eq!(lines[2].split('|').map(str::trim).collect::<Vec<_>>(), ["Oslo", "2", "70"], "{s}");
    assert_eq!(lines[4].split('|').map(str::trim).collect::<Vec<_>>(), ["NULL", "1", "1"], "{s}");
    // Run-time aggregates take the view path as compiled ones do; MIN/MAX of a column
    // not known to hold numbers streams.
    let plan = couch_sql(&["plan", "SELECT city, COUNT(*) FROM people GROUP BY city"]);
    assert!(text(&plan.stdout).starts_with("aggregate: view path"), "{}", text(&plan.stdout));
    let plan = couch_sql(&["plan", "SELECT city, MAX(age) FROM people GROUP BY city"]);
    assert!(text(&plan.stdout).starts_with("aggregate: streaming path"), "{}", text(&plan.stdout));
}

/// Waits for a child, killing it after `secs`.
fn wait_for(mut child: std::process::Child, secs: u64) -> Output {
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(secs);
    while child.try_wait().unwrap().is_none() {
        if std::time::Instant::now() > deadline {
            child.kill().unwrap();
            panic!("couch-sql watch did not finish: {:?}", child.wait_with_output().unwrap());
        }
        std::thread::sleep(std::time::Duration::from_millis(20));
    }
    child.wait_with_output().unwrap()
}

#[test]
fn watch_prints_each_change_and_resumes() {
    use std::io::BufRead;
    if in_process() {
        return; // another process: see in_process()
    }
    let url = db_url("watch");
    create(&url);
    let run = |args: &[&str]| {
        let out = couch_sql(&[&["query", "--url", &url][..], args].concat());
        assert!(out.status.success(), "{}", text(&out.stderr));
    };
    run(&["INSERT INTO users (_id, name, age) VALUES ('pre', 'Pre', 30)"]);
    let mut child = Command::new(env!("CARGO_BIN_EXE_couch-sql"))
        .args(["watch", "--url", &url, "SELECT name FROM users WHERE age >= ?", "-p", "18", "--count", "2"])
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    // Once it says where it starts, every later change is its to see.
    let mut stderr = std::io::BufReader::new(child.stderr.take().unwrap());
    let mut first = String::new();
    stderr.read_line(&mut first).unwrap();
    assert!(first.starts_with("# watching from sequence "), "{first}");
    run(&["INSERT INTO users (_id, name, age) VALUES ('a', 'A', 20), ('kid', 'K', 3)"]);
    run(&["DELETE FROM users WHERE name = 'Pre'"]);
    let out = wait_for(child, 30);
    assert!(out.status.success());
    // CouchDB interleaves its shards: the two may come in either order.
    let changes = |stdout: &[u8]| {
        let mut seen: Vec<(String, String, serde_json::Value)> = text(stdout)
            .lines()
            .map(|l| serde_json::from_str::<serde_json::Value>(l).unwrap())
            .map(|c| (c["change"].as_str().unwrap().into(), c["id"].as_str().unwrap().into(), c["row"].clone()))
            .collect();
        seen.sort_by(|a, b| a.1.cmp(&b.1));
        seen
    };
    let want = [
        ("upsert".to_string(), "a".to_string(), serde_json::json!({"name": "A"})),
        ("removed".to_string(), "pre".to_string(), serde_json::Value::Null),
    ];
    assert_eq!(changes(&out.stdout), want);
    // From where it started: the same two changes again.
    let since = first.trim().strip_prefix("# watching from sequence ").unwrap();
    let child = Command::new(env!("CARGO_BIN_EXE_couch-sql"))
        .args(["watch", "--url", &url, "SELECT name FROM users WHERE age >= 18", "--since", since, "--count", "2"])
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    let out = wait_for(child, 30);
    assert!(out.status.success(), "{}", text(&out.stderr));
    assert_eq!(changes(&out.stdout), want);
}

/// `couch-sql db create|drop|list`, on a `file://` directory and on the test server.
#[test]
fn db_creates_lists_and_drops_databases() {
    let dir = std::env::temp_dir().join(format!("couch_sql_cli_db_{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    let mut places = vec![(format!("file://{}", dir.display()), "shop".to_string())];
    if !in_process() {
        let url = db_url("dbcmd");
        let (server, name) = url.rsplit_once('/').unwrap();
        places.push((server.to_string(), name.to_string()));
    }
    for (server, name) in places {
        let db = format!("{server}/{name}");
        let listed = |server: &str| -> Vec<String> {
            let out = couch_sql(&["db", "list", server]);
            assert!(out.status.success(), "{}", text(&out.stderr));
            text(&out.stdout).lines().map(str::to_owned).collect()
        };
        let out = couch_sql(&["db", "create", &db]);
        assert!(out.status.success(), "{}", text(&out.stderr));
        assert_eq!(text(&out.stdout).trim(), "created");
        assert_eq!(text(&couch_sql(&["db", "create", &db]).stdout).trim(), "exists");
        assert!(listed(&server).contains(&name), "{server}: {:?}", listed(&server));
        let out = couch_sql(&["query", "--url", &db, "INSERT INTO users (name) VALUES ('Al')"]);
        assert!(out.status.success(), "{}", text(&out.stderr));
        let out = couch_sql(&["db", "drop", &db]);
        assert!(out.status.success(), "{}", text(&out.stderr));
        assert!(!listed(&server).contains(&name));
        // Dropping it again: 404 on CouchDB and the engine; pouchdb-server answers
        // `{"ok":true}` for a database that does not exist (docs/servers.md).
        let again = couch_sql(&["db", "drop", &db]);
        let pouchdb =
            text(&couch_sql(&["query", "--url", &db, "SELECT name FROM users"]).stderr).contains("no_db_file");
        if !pouchdb {
            assert!(!again.status.success());
            assert!(text(&again.stderr).contains("not found"), "{}", text(&again.stderr));
        }
    }
    let _ = std::fs::remove_dir_all(&dir);
}

/// `couch-sql replicate`: a `file://` database into the server under test, a JSON
/// line per run; the second run resumes from its checkpoint and moves nothing;
/// `--only` scopes it by a SELECT.
#[test]
fn replicate_copies_a_file_database_and_resumes() {
    if in_process() {
        return;
    }
    let nanos = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap().subsec_nanos();
    let dir = std::env::temp_dir().join(format!("couch-sql-cli-repl-{}-{nanos}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let local = format!("file://{}/shop", dir.display());
    assert!(couch_sql(&["db", "create", &local]).status.success());
    let seeded = couch_sql(&[
        "query",
        "--url",
        &local,
        "INSERT INTO orders (_id, region) VALUES ('a', 'north'), ('b', 'south'), ('c', 'north')",
    ]);
    assert!(seeded.status.success(), "{}", text(&seeded.stderr));
    let remote = db_url("repl");
    let line = |out: &Output| -> serde_json::Value {
        assert!(out.status.success(), "{}", text(&out.stderr));
        serde_json::from_str(text(&out.stdout).lines().last().unwrap_or("")).unwrap()
    };
    let first = line(&couch_sql(&["replicate", &local, &remote]));
    assert_eq!((first["docs_written"].as_u64(), first["resumed"].as_bool()), (Some(3), Some(false)), "{first}");
    let second = line(&couch_sql(&["replicate", &local, &remote]));
    assert_eq!((second["docs_read"].as_u64(), second["resumed"].as_bool()), (Some(0), Some(true)), "{second}");
    let scoped = db_url("repl_scoped");
    let only =
        couch_sql(&["replicate", &local, &scoped, "--only", "SELECT * FROM orders WHERE region = ?", "-p", "north"]);
    assert_eq!(line(&only)["docs_written"].as_u64(), Some(2));
    let listed = couch_sql(&["query", "--url", &scoped, "SELECT _id FROM orders ORDER BY _id"]);
    assert_eq!(text(&listed.stdout).lines().count(), 2, "{}", text(&listed.stdout));
    let _ = std::fs::remove_dir_all(&dir);
}
