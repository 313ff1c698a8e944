//! Configuring a connection: credentials, session auth, timeouts, retries, TLS roots.

use crate::client::{validate_db_name, Auth, Database, Shared};
use crate::error::{Error, Result};
use crate::retry::RetryPolicy;
use crate::transport::Credentials;
use std::time::Duration;

impl Database {
    /// Like [`Database::connect`], without contacting the server.
    pub fn connect_lazy(url: &str) -> Result<Database> {
        Database::builder(url).build()
    }

    /// A [`DatabaseBuilder`] for timeouts, retries, TLS roots and session auth.
    pub fn builder(url: &str) -> DatabaseBuilder {
        DatabaseBuilder::new(url)
    }
}

/// Builds a [`Database`] with non-default settings.
///
/// ```no_run
/// # async fn demo() -> couch_runtime::Result<()> {
/// use std::time::Duration;
/// let db = couch_runtime::Database::builder("https://db.example.com/shop")
///     .credentials("app", "secret")
///     .session_auth()
///     .connect_timeout(Duration::from_secs(5))
///     .timeout(Duration::from_secs(30))
///     .connect()
///     .await?;
/// # Ok(()) }
/// ```
#[must_use]
pub struct DatabaseBuilder {
    url: String,
    credentials: Option<Credentials>,
    session: bool,
    connect_timeout: Duration,
    timeout: Option<Duration>,
    retry: RetryPolicy,
    #[cfg(feature = "rustls")]
    roots: Vec<reqwest::Certificate>,
    failover: Vec<String>,
    error: Option<Error>,
}

impl std::fmt::Debug for DatabaseBuilder {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("DatabaseBuilder")
            .field("user", &self.credentials.as_ref().map(|c| &c.user))
            .field("session", &self.session)
            .field("connect_timeout", &self.connect_timeout)
            .field("timeout", &self.timeout)
            .field("retry", &self.retry)
            .finish_non_exhaustive()
    }
}

fn percent_decode(s: &str) -> String {
    percent_encoding::percent_decode_str(s).decode_utf8_lossy().into_owned()
}

impl DatabaseBuilder {
    pub(crate) fn new(url: &str) -> Self {
        DatabaseBuilder {
            url: url.to_string(),
            credentials: None,
            session: false,
            connect_timeout: Duration::from_secs(10),
            timeout: None,
            retry: RetryPolicy::default(),
            #[cfg(feature = "rustls")]
            roots: Vec::new(),
            failover: Vec::new(),
            error: None,
        }
    }

    /// User and password (instead of, or overriding, those in the URL).
    pub fn credentials(mut self, user: &str, password: &str) -> Self {
        self.credentials = Some(Credentials { user: user.to_string(), password: password.to_string() });
        self
    }

    /// Authenticate with a session cookie (`POST /_session`) instead of sending
    /// the password on every request; the cookie is renewed when it expires.
    pub fn session_auth(mut self) -> Self {
        self.session = true;
        self
    }

    /// How long to wait for a TCP (and TLS) connection (default 10 s).
    pub fn connect_timeout(mut self, d: Duration) -> Self {
        self.connect_timeout = d;
        self
    }

    /// How long one request may take in all (default: no limit).
    pub fn timeout(mut self, d: Duration) -> Self {
        self.timeout = Some(d);
        self
    }

    /// The retry policy (default: 3 retries, 100 ms doubling to 2 s, jittered).
    pub fn retry(mut self, policy: RetryPolicy) -> Self {
        self.retry = policy;
        self
    }

    /// Turns retries off.
    pub fn no_retry(self) -> Self {
        self.retry(RetryPolicy::NONE)
    }

    /// Trusts extra root certificates (PEM, one or several), e.g. a private CA.
    #[cfg(feature = "rustls")]
    #[cfg_attr(docsrs, doc(cfg(feature = "rustls")))]
    pub fn add_root_certificate_pem(mut self, pem: &[u8]) -> Self {
        // A PEM without a certificate would be accepted silently, and TLS would fail later: refuse it now.
        match reqwest::Certificate::from_pem_bundle(pem) {
            Ok(certs) if !certs.is_empty() => self.roots.extend(certs),
            Ok(_) => {
                self.error =
                    Some(Error::Invalid { what: "root certificate", message: "no certificate in the PEM data".into() })
            }
            Err(e) => self.error = Some(Error::Invalid { what: "root certificate", message: e.to_string() }),
        }
        self
    }

    /// Other nodes of the same CouchDB cluster, to fail over to: when the node in
    /// use cannot be reached, requests go to the next (in the order given, the
    /// handle's URL first) and stay there while it answers. Each is a server URL
    /// (`http://10.0.0.2:5984`, with a path prefix if a proxy needs one); the
    /// database name and credentials are the handle's.
    ///
    /// A request that never reached a node is sent to the next at once, whatever it
    /// is. One lost mid-flight (the node died while answering) is resent to the next
    /// node only if resending is safe (reads, index creation), as the retry policy
    /// says; a write lost that way is an [`Error::Transport`] (it may have landed),
    /// and the next request goes to the next node.
    ///
    /// ```no_run
    /// # async fn demo() -> couch_runtime::Result<()> {
    /// let db = couch_runtime::Database::builder("http://admin:secret@10.0.0.1:5984/shop")
    ///     .failover(["http://10.0.0.2:5984", "http://10.0.0.3:5984"])
    ///     .connect()
    ///     .await?;
    /// # Ok(()) }
    /// ```
    pub fn failover<I, S>(mut self, nodes: I) -> Self
    where
        I: IntoIterator<Item = S>,
        S: AsRef<str>,
    {
        self.failover.extend(nodes.into_iter().map(|s| s.as_ref().to_string()));
        self
    }

    /// Builds the database handle without contacting the server.
    pub fn build(self) -> Result<Database> {
        if let Some(e) = self.error {
            return Err(e);
        }
        let invalid = |message: String| Error::Invalid { what: "CouchDB URL", message };
        if let Some(name) = self.url.strip_prefix("mem://") {
            return in_process(name.trim_matches('/'), None, self.retry);
        }
        if let Some(path) = self.url.strip_prefix("file://") {
            let path = path.trim_end_matches('/');
            let Some((dir, name)) = path.rsplit_once('/').filter(|(d, n)| !d.is_empty() && !n.is_empty()) else {
                return Err(invalid("a file URL names a directory and a database: file:///var/lib/app/shop".into()));
            };
            return in_process(name, Some(std::path::Path::new(dir)), self.retry);
        }
        // Never echo the URL itself: it may hold a password.
        let mut parsed = reqwest::Url::parse(&self.url)
            .map_err(|e| invalid(format!("{e} (expected http://[user:password@]host:port/database)")))?;
        if !matches!(parsed.scheme(), "http" | "https") {
            return Err(invalid(format!(
                "the scheme must be http or https (a server), mem:// (the embedded engine in this process) or file:// (its databases in a directory), not {:?}",
                parsed.scheme()
            )));
        }
        if parsed.scheme() == "https" && !cfg!(feature = "rustls") {
            return Err(invalid("https needs couch-sql's `rustls` feature".into()));
        }
        let from_url = (!parsed.username().is_empty()).then(|| Credentials {
            user: percent_decode(parsed.username()),
            password: percent_decode(parsed.password().unwrap_or("")),
        });
        let _ = parsed.set_username("");
        let _ = parsed.set_password(None);
        parsed.set_query(None);
        parsed.set_fragment(None);
        let path = parsed.path().trim_end_matches('/').to_string();
        let (prefix, name) = match path.rfind('/') {
            Some(i) if i + 1 < path.len() => (path[..=i].to_string(), percent_decode(&path[i + 1..])),
            _ => return Err(invalid("the URL must name a database, e.g. http://127.0.0.1:5984/shop".into())),
        };
        validate_db_name(&name)?;
        parsed.set_path(&prefix);
        let auth = match (self.credentials.or(from_url), self.session) {
            (None, _) => Auth::None,
            (Some(c), false) => Auth::Basic(c),
            (Some(credentials), true) => Auth::Session { credentials, cookie: Default::default() },
        };
        let mut http =
            reqwest::Client::builder().connect_timeout(self.connect_timeout).pool_idle_timeout(Duration::from_secs(60));
        if let Some(t) = self.timeout {
            http = http.timeout(t);
        }
        #[cfg(feature = "rustls")]
        for root in self.roots {
            http = http.add_root_certificate(root);
        }
        let client = http.build().map_err(Error::transport)?;
        let mut nodes = vec![parsed.to_string()];
        for node in &self.failover {
            let mut u = reqwest::Url::parse(node)
                .ok()
                .filter(|u| matches!(u.scheme(), "http" | "https"))
                .ok_or_else(|| invalid("a failover node is an http(s) server URL, e.g. http://10.0.0.2:5984".into()))?;
            let _ = u.set_username("");
            let _ = u.set_password(None);
            u.set_query(None);
            u.set_fragment(None);
            if !u.path().ends_with('/') {
                let p = format!("{}/", u.path());
                u.set_path(&p);
            }
            nodes.push(u.to_string());
        }
        let transport = Box::new(crate::transport::http::Http::new(client, nodes));
        Ok(Database::from_parts(Shared::new(transport, auth, self.retry), name))
    }

    /// Builds the handle and checks that the server answers (and accepts the credentials).
    pub async fn connect(self) -> Result<Database> {
        let db = self.build()?;
        db.ping().await?;
        Ok(db)
    }
}

/// A `mem://name` database (the process's embedded engine), or with `dir` a
/// `file://` one (the engine of that directory, its databases redb files).
#[cfg(feature = "embedded")]
fn in_process(name: &str, dir: Option<&std::path::Path>, retry: RetryPolicy) -> Result<Database> {
    use crate::transport::engine::InProcess;
    let name = percent_decode(name);
    validate_db_name(&name)?;
    let transport = match dir {
        None => InProcess::memory(),
        Some(d) => InProcess::directory(d)?,
    };
    Ok(Database::from_parts(Shared::new(Box::new(transport), Auth::None, retry), name))
}

#[cfg(not(feature = "embedded"))]
fn in_process(_: &str, _: Option<&std::path::Path>, _: RetryPolicy) -> Result<Database> {
    Err(Error::Invalid {
        what: "CouchDB URL",
        message: "mem:// and file:// need couch-sql's `embedded` feature".into(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    #[cfg(feature = "rustls")]
    fn a_bad_root_certificate_is_an_error_before_any_request() {
        let r = DatabaseBuilder::new("https://h/db").add_root_certificate_pem(b"not a certificate").build();
        assert!(matches!(r, Err(Error::Invalid { what: "root certificate", .. })), "{r:?}");
        assert!(DatabaseBuilder::new("https://h/db").build().is_ok(), "https works with the rustls feature");
        // A self-signed test CA (no private key is kept).
        let ok = DatabaseBuilder::new("https://h/db").add_root_certificate_pem(include_bytes!("test-ca.pem")).build();
        assert!(ok.is_ok(), "{ok:?}");
    }

    #[test]
    fn backoff_grows_and_stays_under_the_ceiling() {
        let p = RetryPolicy {
            max_retries: 5,
            base_delay: Duration::from_millis(100),
            max_delay: Duration::from_millis(300),
        };
        for _ in 0..100 {
            assert!(p.delay(1) <= Duration::from_millis(100));
            assert!(p.delay(2) <= Duration::from_millis(200));
            assert!(p.delay(6) <= Duration::from_millis(300));
        }
        assert_eq!(RetryPolicy::NONE.delay(1), Duration::ZERO);
    }
}
