//! `couch-sql`: see what SQL becomes in CouchDB, run it, and ask the server how it would run it.
//!
//! ```text
//! couch-sql translate "SELECT name FROM users WHERE age > ?" --param 18
//! couch-sql query --url http://127.0.0.1:5984/shop "SELECT name, age FROM users" --table
//! couch-sql explain --url http://127.0.0.1:5984/shop "SELECT name FROM users WHERE age > 18"
//! couch-sql watch --url http://127.0.0.1:5984/shop "SELECT name FROM users WHERE age > ?" -p 18
//! couch-sql serve --port 5984 --admin admin:pw   # the embedded engine over HTTP, in memory
//! couch-sql db create http://admin:pw@127.0.0.1:5984/shop
//! couch-sql replicate file:///var/app/shop http://admin:pw@127.0.0.1:5984/shop --continuous
//! ```
//!
//! `--param` values are read as JSON when they parse (`18`, `true`, `null`,
//! `"18"`), else as text (`Alice`). Exit code 0 on success, 1 on any error,
//! with a one-line message on stderr; credentials are never printed.

use clap::{Parser, Subcommand};
use couch_sql::{query, Database, Error};
use serde_json::{Map, Value};
use std::process::ExitCode;

#[derive(Parser)]
#[command(name = "couch-sql", version, about = "SQL for Apache CouchDB: translate, run, explain")]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(clap::Args)]
struct Statement {
    /// One SQL statement.
    sql: String,
    /// A value for the next `?` (JSON if it parses, else text). Repeat for each `?`.
    #[arg(long = "param", short = 'p', allow_hyphen_values = true)]
    params: Vec<String>,
}

#[derive(clap::Args)]
struct Server {
    /// The database: `http(s)://[user:password@]host:port/database`, `mem://database`
    /// (an engine in this process, gone when it exits) or `file:///directory/database`.
    #[arg(long, env = "COUCHDB_URL", hide_env_values = true)]
    url: String,
}

#[derive(Subcommand)]
enum Command {
    /// Print the CouchDB requests a statement becomes, without touching any server.
    Translate {
        #[command(flatten)]
        statement: Statement,
        /// One line per request body instead of pretty JSON.
        #[arg(long)]
        compact: bool,
        /// The database name shown in paths.
        #[arg(long, default_value = "db")]
        db: String,
    },
    /// Run a statement: rows as JSON lines (or a table); writes print the rows affected.
    Query {
        #[command(flatten)]
        server: Server,
        #[command(flatten)]
        statement: Statement,
        /// An aligned table instead of JSON lines.
        #[arg(long)]
        table: bool,
    },
    /// Watch a SELECT: each change to its result as a JSON line, as it happens.
    Watch {
        #[command(flatten)]
        server: Server,
        #[command(flatten)]
        statement: Statement,
        /// Resume after this sequence (a printed line's "seq") instead of starting now.
        #[arg(long)]
        since: Option<String>,
        /// Stop after this many changes (default: until stopped).
        #[arg(long)]
        count: Option<usize>,
    },
    /// Serve the embedded CouchDB-compatible engine over HTTP and print its URL.
    Serve {
        /// The port to listen on (0: any free port).
        #[arg(long, default_value_t = 5984)]
        port: u16,
        /// The address to listen on.
        #[arg(long, default_value = "127.0.0.1")]
        host: std::net::IpAddr,
        /// Keep the databases in this directory (one redb file each); without it, in memory.
        #[arg(long)]
        dir: Option<std::path::PathBuf>,
        /// The largest request body in bytes; a larger one is 413 `too_large`.
        #[arg(long, default_value_t = 64 << 20)]
        max_request_size: usize,
        /// Seconds a connection may sit idle (or take to send a request head) before it is closed.
        #[arg(long, default_value_t = 30, value_name = "SECONDS")]
        idle_timeout: u64,
        /// The server admin, `NAME:PASSWORD`: clients authenticate as CouchDB 3's do
        /// (Basic or a session cookie), and only admins create databases.
        #[arg(long, env = "COUCH_SQL_ADMIN", hide_env_values = true, value_name = "NAME:PASSWORD")]
        admin: Option<String>,
        /// No authentication at all: anyone who reaches the port is an admin. For a
        /// throwaway server on this machine only (refused with a non-loopback --host).
        #[arg(long, conflicts_with = "admin")]
        insecure_no_auth: bool,
    },
    /// Create, drop or list databases.
    Db {
        #[command(subcommand)]
        action: DbAction,
    },
    /// Print the json index a statement is planned to use; `--apply` creates it.
    Plan {
        #[command(flatten)]
        statement: Statement,
        /// Create the index on the database at --url.
        #[arg(long)]
        apply: bool,
        /// The database (with --apply): `http(s)://[user:password@]host:port/database`, `mem://…` or `file://…`.
        #[arg(long, env = "COUCHDB_URL", hide_env_values = true)]
        url: Option<String>,
    },
    /// Replicate SOURCE into TARGET with CouchDB's protocol (every revision, conflicts
    /// kept), resuming from the last run's checkpoint; one progress line per batch.
    Replicate {
        /// The source database (`http(s)://…/db`, `file:///dir/db`, `mem://db`).
        source: String,
        /// The target database (created if missing).
        target: String,
        /// Keep replicating as changes happen, until stopped.
        #[arg(long)]
        continuous: bool,
        /// Only the documents this SELECT selects (its table and WHERE).
        #[arg(long, value_name = "SELECT")]
        only: Option<String>,
        /// A value for the next `?` of --only (JSON if it parses, else text).
        #[arg(long = "param", short = 'p', allow_hyphen_values = true)]
        params: Vec<String>,
    },
    /// Ask the server which index a SELECT would use.
    Explain {
        #[command(flatten)]
        server: Server,
        #[command(flatten)]
        statement: Statement,
    },
}

#[derive(Subcommand)]
enum DbAction {
    /// Create the database (nothing happens if it exists).
    Create {
        /// The database: `http(s)://[user:password@]host:port/database` or `file:///directory/database`.
        url: String,
    },
    /// Delete the database and every document in it.
    Drop {
        /// The database: `http(s)://[user:password@]host:port/database` or `file:///directory/database`.
        url: String,
    },
    /// List the server's databases, one name per line.
    List {
        /// The server: `http(s)://[user:password@]host:port` or `file:///directory`.
        url: String,
    },
}

/// `couch-sql db create|drop|list`.
async fn db(action: &DbAction) -> Result<(), Error> {
    match action {
        DbAction::Create { url } => {
            let created = Database::connect(url).await?.create_if_missing().await?;
            println!("{}", if created { "created" } else { "exists" });
        }
        DbAction::Drop { url } => {
            Database::connect(url).await?.drop_database().await?;
            println!("dropped");
        }
        DbAction::List { url } => {
            // Any database of the server is a handle to its root.
            let probe = format!("{}/probe", url.trim_end_matches('/'));
            let names = Database::connect_lazy(&probe)?.server_request("GET", "_all_dbs", None).await?;
            for name in names.as_array().into_iter().flatten().filter_map(Value::as_str) {
                println!("{name}");
            }
        }
    }
    Ok(())
}

/// A replication's report as one JSON line.
fn report_line(direction: &str, r: &couch_sql::ReplicationReport) -> Value {
    serde_json::json!({
        "replicated": direction,
        "docs_read": r.docs_read,
        "docs_written": r.docs_written,
        "doc_write_failures": r.doc_write_failures,
        "missing_checked": r.missing_checked,
        "start_seq": r.start_seq,
        "end_seq": r.end_seq,
        "resumed": r.resumed,
    })
}

/// `couch-sql replicate SOURCE TARGET [--continuous] [--only SELECT]`: a JSON line
/// per pass that moved documents (and per refused document, on stderr).
async fn replicate(source: &str, target: &str, continuous: bool, only: Option<&Statement>) -> Result<(), Error> {
    use futures_util::StreamExt;
    let (from, to) = (Database::connect(source).await?, Database::connect(target).await?);
    let mut run = from.replicate_to(&to);
    if let Some(statement) = only {
        run = run.only(bound(statement));
    }
    let failures = |r: &couch_sql::ReplicationReport| {
        for f in &r.failures {
            eprintln!("refused: {} {}: {} ({})", f.id, f.rev.as_deref().unwrap_or(""), f.error, f.reason);
        }
    };
    if !continuous {
        let report = run.await?;
        failures(&report);
        println!("{}", report_line(&format!("{} -> {}", from.name(), to.name()), &report));
        return Ok(());
    }
    let mut live = run.live();
    while let Some(event) = live.next().await {
        match event? {
            couch_sql::SyncEvent::Replicated { source, target, report } => {
                failures(&report);
                println!("{}", report_line(&format!("{source} -> {target}"), &report));
            }
            couch_sql::SyncEvent::Idle => eprintln!("# up to date; waiting for changes"),
            couch_sql::SyncEvent::Retrying { error, retry_in } => {
                eprintln!("# {error}; retrying in {} ms", retry_in.as_millis())
            }
            _ => {}
        }
    }
    Ok(())
}

fn param(s: &str) -> Value {
    serde_json::from_str(s).unwrap_or_else(|_| Value::String(s.to_string()))
}

fn bound(statement: &Statement) -> couch_sql::DynQuery<Map<String, Value>> {
    statement.params.iter().fold(query(&statement.sql), |q, p| q.bind(param(p)))
}

fn translate(statement: &Statement, compact: bool, db: &str) -> Result<(), Error> {
    let q = bound(statement);
    q.check()?; // as `query` would: one value per `?`
    let requests = q.requests(db, couch_sql::DEFAULT_PAGE_SIZE)?;
    for (i, r) in requests.iter().enumerate() {
        if i > 0 && !compact {
            println!();
        }
        println!("{} {}", r.method, r.path);
        if let Some(body) = &r.body {
            let text = if compact { body.to_string() } else { serde_json::to_string_pretty(body).unwrap_or_default() };
            println!("{text}");
        }
        if let (Some(note), false) = (&r.note, compact) {
            println!("# {note}");
        }
    }
    Ok(())
}

/// Columns of the rows, in order of first appearance (`_id`, which the runtime
/// always reads, only when selected).
fn columns(rows: &[Map<String, Value>], selected: Option<Vec<String>>) -> Vec<String> {
    if let Some(cols) = selected {
        return cols;
    }
    let mut cols: Vec<String> = Vec::new();
    for row in rows {
        for k in row.keys() {
            if !cols.contains(k) {
                cols.push(k.clone());
            }
        }
    }
    cols
}

fn cell(v: Option<&Value>) -> String {
    match v {
        None | Some(Value::Null) => "NULL".into(),
        Some(Value::String(s)) => s.clone(),
        Some(other) => other.to_string(),
    }
}

fn print_table(rows: &[Map<String, Value>], cols: &[String]) {
    let cells: Vec<Vec<String>> = rows.iter().map(|r| cols.iter().map(|c| cell(r.get(c))).collect()).collect();
    let widths: Vec<usize> = cols
        .iter()
        .enumerate()
        .map(|(i, c)| cells.iter().map(|r| r[i].chars().count()).chain([c.chars().count()]).max().unwrap_or(0))
        .collect();
    let line = |values: Vec<&str>| {
        let parts: Vec<String> = values.iter().zip(&widths).map(|(v, w)| format!("{v:<w$}")).collect();
        println!("{}", parts.join(" | ").trim_end());
    };
    line(cols.iter().map(String::as_str).collect());
    println!("{}", widths.iter().map(|w| "-".repeat(*w)).collect::<Vec<_>>().join("-+-"));
    for r in &cells {
        line(r.iter().map(String::as_str).collect());
    }
    println!("({} row{})", rows.len(), if rows.len() == 1 { "" } else { "s" });
}

async fn run_query(server: &Server, statement: &Statement, table: bool) -> Result<(), Error> {
    let db = Database::connect(&server.url).await?;
    let q = bound(statement);
    let translation = q.translation()?;
    let selected = match &translation.plan {
        couch_sql::Plan::Select(s) => Some(s.projection.as_ref().map(|p| p.iter().map(|c| c.name.clone()).collect())),
        couch_sql::Plan::Aggregate(a) => Some(Some(a.output.iter().map(|o| o.name.clone()).collect())),
        _ => None,
    };
    match &translation.plan {
        couch_sql::Plan::Select(_) | couch_sql::Plan::Aggregate(_) => {
            let selected = selected.expect("a read");
            let rows = q.fetch_all(&db).await?.into_vec();
            let cols = columns(&rows, selected);
            if table {
                print_table(&rows, &cols);
            } else {
                for row in &rows {
                    let shown: Map<String, Value> =
                        cols.iter().filter_map(|c| row.get(c).map(|v| (c.clone(), v.clone()))).collect();
                    println!("{}", Value::Object(shown));
                }
            }
        }
        couch_sql::Plan::Explain(_) => {
            let e = q.explain(&db).await?;
            println!(
                "{}",
                serde_json::json!({"index": e.index.name, "ddoc": e.index.ddoc, "type": e.index.kind, "def": e.index.def})
            );
        }
        _ => {
            let r = q.execute_partial(&db).await?;
            println!("{} row{} affected", r.rows_affected(), if r.rows_affected() == 1 { "" } else { "s" });
            for f in r.failures() {
                let (error, reason) = f.error.clone().unwrap_or_default();
                eprintln!("not written: {} ({error}: {reason})", f.id);
            }
            if !r.is_complete() {
                return Err(Error::Write { result: r });
            }
        }
    }
    Ok(())
}

/// `couch-sql watch`: one JSON line per change, `{"change": "upsert", "id", "row", "seq"}`
/// or `{"change": "removed", "id", "seq"}`; a row that does not decode is reported
/// on stderr and the watch goes on.
async fn watch(server: &Server, statement: &Statement, since: Option<&str>, count: Option<usize>) -> Result<(), Error> {
    use futures_util::StreamExt;
    let db = Database::connect(&server.url).await?;
    let q = bound(statement);
    // The selected columns, as `couch-sql query` prints them (`_id` only when selected).
    let selected: Option<Vec<String>> = match &q.translation()?.plan {
        couch_sql::Plan::Select(s) => s.projection.as_ref().map(|p| p.iter().map(|c| c.name.clone()).collect()),
        _ => None,
    };
    let mut live = match since {
        Some(seq) => q.watch_from(&db, seq).await?,
        None => q.watch(&db).await?,
    };
    eprintln!("# watching from sequence {}", live.last_seq());
    let mut seen = 0;
    while count.is_none_or(|n| seen < n) {
        let Some(change) = live.next().await else { return Ok(()) };
        let seq = live.last_seq();
        let line = match change {
            Ok(couch_sql::Change::Upsert { id, mut row }) => {
                if let Some(cols) = &selected {
                    row.retain(|k, _| cols.contains(k));
                }
                serde_json::json!({"change": "upsert", "id": id, "row": row, "seq": seq})
            }
            Ok(couch_sql::Change::Removed { id }) => serde_json::json!({"change": "removed", "id": id, "seq": seq}),
            Err(e @ Error::Decode { .. }) => {
                eprintln!("error: {}", e.to_string().replace('\n', "; "));
                continue;
            }
            Err(e) => return Err(e),
        };
        println!("{line}");
        seen += 1;
    }
    Ok(())
}

async fn explain(server: &Server, statement: &Statement) -> Result<(), Error> {
    let db = Database::connect(&server.url).await?;
    let sql = statement.sql.trim_start();
    let sql = if sql.len() >= 8 && sql[..8].eq_ignore_ascii_case("explain ") {
        sql.to_string()
    } else {
        format!("EXPLAIN {sql}")
    };
    let q = statement.params.iter().fold(query(&sql), |q, p| q.bind(param(p)));
    let e = q.explain(&db).await?;
    println!("index: {} ({})", e.index.name, e.index.ddoc.as_deref().unwrap_or("built-in"));
    println!("type: {}", e.index.kind);
    println!("definition: {}", e.index.def);
    println!("selector: {}", e.selector);
    if !e.uses_index() {
        eprintln!(
            "warning: no index serves this query: the server reads every document of the database; \
             create one, e.g. with CREATE INDEX name ON table (column, …)"
        );
    }
    Ok(())
}

async fn plan(statement: &Statement, apply: bool, url: Option<&str>) -> Result<(), Error> {
    let q = bound(statement);
    let t = q.translation()?;
    if let couch_sql::Plan::Aggregate(a) = &t.plan {
        match &a.view {
            Some(v) => println!("aggregate: view path, design document _design/{}", v.ddoc),
            None => println!(
                "aggregate: streaming path (a view serves a WHERE of ANDed `col = value` and one range, \
                 and COUNT, SUM, AVG, or MIN/MAX of numbers; run-time SQL needs the range's bounds written \
                 in the SQL, and has no model to know that a MIN/MAX column holds numbers)"
            ),
        }
    }
    let planned = match &t.plan {
        couch_sql::Plan::Select(s) | couch_sql::Plan::Explain(s) => s.planned.clone(),
        couch_sql::Plan::Aggregate(a) => a.read.planned.clone(),
        couch_sql::Plan::Update(u) => u.planned.clone(),
        couch_sql::Plan::Delete(d) => d.planned.clone(),
        _ => None,
    };
    let Some(fields) = planned else {
        println!("no index: the statement reads documents by id, or does not read");
        return Ok(());
    };
    let name = couch_sql::__private::index_name(&fields);
    println!("index: {name}");
    println!("fields: {}", serde_json::json!(fields));
    if fields.len() == 1 {
        println!(
            "# nothing in the WHERE narrows the read beyond the table: the query scans every document of its table"
        );
    }
    if apply {
        let url = url
            .ok_or_else(|| Error::Invalid { what: "command", message: "--apply needs --url or COUCHDB_URL".into() })?;
        let db = Database::connect(url).await?;
        let created = db.create_index(&fields).await?;
        println!("{}", if created { "created" } else { "exists" });
    }
    Ok(())
}

/// `couch-sql serve`'s admin (`None`: --insecure-no-auth, said loudly), or why it
/// will not start: CouchDB 3 has no admin party, and neither does this server
/// unless asked for one on this machine.
fn serve_auth(
    host: std::net::IpAddr,
    admin: Option<&str>,
    insecure_no_auth: bool,
) -> Result<Option<(String, String)>, Error> {
    let invalid = |message: String| Error::Invalid { what: "serve", message };
    match admin {
        Some(admin) => {
            let (name, password) = admin
                .split_once(':')
                .filter(|(n, p)| !n.is_empty() && !p.is_empty())
                .ok_or_else(|| invalid("--admin is NAME:PASSWORD, both non-empty".into()))?;
            if !host.is_loopback() {
                eprintln!(
                    "couch-sql serve: listening on {host}, reachable from other machines; \
                     requests are authenticated, but travel unencrypted (no TLS): put a TLS proxy in front"
                );
            }
            Ok(Some((name.to_string(), password.to_string())))
        }
        None if insecure_no_auth && !host.is_loopback() => Err(invalid(format!(
            "--insecure-no-auth on {host} would let anyone on the network read and delete every database: \
             give --admin NAME:PASSWORD, or listen on 127.0.0.1"
        ))),
        None if insecure_no_auth => {
            eprintln!("################################################################");
            eprintln!("# couch-sql serve --insecure-no-auth: NO AUTHENTICATION.        #");
            eprintln!("# Anyone who can reach this port is an admin of every database. #");
            eprintln!("################################################################");
            Ok(None)
        }
        None => Err(invalid(
            "a server admin is required (CouchDB 3 has no admin party): --admin NAME:PASSWORD \
             or COUCH_SQL_ADMIN=NAME:PASSWORD; or --insecure-no-auth for a throwaway server on this machine"
                .into(),
        )),
    }
}

/// Holds `dir/.couch-sql.lock` for as long as the returned file is open.
fn lock_directory(dir: &std::path::Path) -> Result<std::fs::File, Error> {
    let invalid = |message: String| Error::Invalid { what: "serve --dir", message };
    std::fs::create_dir_all(dir).map_err(|e| invalid(format!("{}: {e}", dir.display())))?;
    let path = dir.join(".couch-sql.lock");
    let file = std::fs::OpenOptions::new()
        .create(true)
        .truncate(false)
        .write(true)
        .open(&path)
        .map_err(|e| invalid(format!("{}: {e}", path.display())))?;
    // flock(2) (`File::try_lock` needs Rust 1.89; this crate builds with 1.85).
    #[cfg(unix)]
    {
        use std::os::fd::AsRawFd;
        // SAFETY: flock on a descriptor this function owns; it reads no memory.
        if unsafe { libc::flock(file.as_raw_fd(), libc::LOCK_EX | libc::LOCK_NB) } != 0 {
            let e = std::io::Error::last_os_error();
            return Err(invalid(match e.kind() {
                std::io::ErrorKind::WouldBlock => format!(
                    "{} is locked: another couch-sql serve uses this directory (one server per directory)",
                    path.display()
                ),
                _ => format!("{}: {e}", path.display()),
            }));
        }
    }
    Ok(file)
}

/// `couch-sql serve`: the embedded engine over HTTP until the process is stopped.
async fn serve(
    host: std::net::IpAddr,
    port: u16,
    dir: Option<&std::path::Path>,
    limits: couch_embedded::serve::Limits,
    admin: Option<(String, String)>,
) -> Result<(), Error> {
    // One server per directory: a second one is refused here, clearly (each
    // database file has its own lock too, which any other process meets).
    let _lock = match dir {
        Some(d) => Some(lock_directory(d)?),
        None => None,
    };
    let engine = match dir {
        Some(d) => couch_embedded::Engine::open(d)
            .map_err(|e| Error::Invalid { what: "serve --dir", message: e.to_string() })?,
        None => couch_embedded::Engine::new(),
    };
    let engine = match admin {
        Some((name, password)) => engine.with_admin(&name, &password),
        None => engine,
    };
    // CouchDB's users database exists from the start (kept in --dir with the others).
    let (status, _) = engine.handle("PUT", "/_users", b"");
    if ![201, 412].contains(&status) {
        return Err(Error::Invalid { what: "serve --dir", message: format!("cannot create _users ({status})") });
    }
    couch_embedded::serve::serve_with(engine, std::net::SocketAddr::new(host, port), limits, |bound| {
        use std::io::Write;
        println!("http://{bound}");
        let _ = std::io::stdout().flush();
    })
    .await
    .map_err(|e| Error::Invalid { what: "serve", message: e.to_string() })
}

#[tokio::main(flavor = "current_thread")]
async fn main() -> ExitCode {
    // A closed pipe ends the process as it does `cat` or `grep` (Rust ignores SIGPIPE,
    // so `println!` would panic instead).
    #[cfg(unix)]
    // SAFETY: restoring the default disposition of SIGPIPE, before any thread is started.
    unsafe {
        libc::signal(libc::SIGPIPE, libc::SIG_DFL);
    }
    let cli = Cli::parse();
    let result = match &cli.command {
        Command::Translate { statement, compact, db } => translate(statement, *compact, db),
        Command::Query { server, statement, table } => run_query(server, statement, *table).await,
        Command::Explain { server, statement } => explain(server, statement).await,
        Command::Watch { server, statement, since, count } => watch(server, statement, since.as_deref(), *count).await,
        Command::Plan { statement, apply, url } => plan(statement, *apply, url.as_deref()).await,
        Command::Serve { port, host, dir, max_request_size, idle_timeout, admin, insecure_no_auth } => {
            let limits = couch_embedded::serve::Limits {
                max_request_bytes: *max_request_size,
                idle_timeout: std::time::Duration::from_secs((*idle_timeout).max(1)),
            };
            match serve_auth(*host, admin.as_deref(), *insecure_no_auth) {
                Ok(admin) => serve(*host, *port, dir.as_deref(), limits, admin).await,
                Err(e) => Err(e),
            }
        }
        Command::Db { action } => db(action).await,
        Command::Replicate { source, target, continuous, only, params } => {
            let scope = only.as_ref().map(|sql| Statement { sql: sql.clone(), params: params.clone() });
            replicate(source, target, *continuous, scope.as_ref()).await
        }
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            // One line: multi-line SQL errors are joined.
            eprintln!("error: {}", e.to_string().replace('\n', "; "));
            ExitCode::FAILURE
        }
    }
}
