//! Fetched rows, and decoding `_find` responses straight into them.

use crate::error::{Error, Result};
use serde::de::DeserializeOwned;
use serde::Deserialize;
use serde_json::value::RawValue;

/// The rows of a query: fetched once, asynchronously, then held in memory so
/// they can be iterated synchronously, by reference or by value.
///
/// ```
/// # let rows: couch_runtime::Rows<i32> = vec![1, 2].into_iter().collect();
/// for row in &rows { assert!(*row > 0); }
/// assert_eq!(rows.len(), 2);
/// let v: Vec<i32> = rows.into_iter().collect();
/// # assert_eq!(v, [1, 2]);
/// ```
#[derive(Debug, Clone, PartialEq)]
pub struct Rows<R> {
    rows: Vec<R>,
}

impl<R> Rows<R> {
    pub(crate) fn new(rows: Vec<R>) -> Self {
        Rows { rows }
    }

    /// The number of rows.
    pub fn len(&self) -> usize {
        self.rows.len()
    }

    /// Whether there is no row.
    pub fn is_empty(&self) -> bool {
        self.rows.is_empty()
    }

    /// The first row, if any.
    pub fn first(&self) -> Option<&R> {
        self.rows.first()
    }

    /// The `i`-th row, if there is one.
    pub fn get(&self, i: usize) -> Option<&R> {
        self.rows.get(i)
    }

    /// The rows, by reference.
    pub fn iter(&self) -> std::slice::Iter<'_, R> {
        self.rows.iter()
    }

    /// The rows as a slice.
    pub fn as_slice(&self) -> &[R] {
        &self.rows
    }

    /// The rows, owned.
    pub fn into_vec(self) -> Vec<R> {
        self.rows
    }
}

impl<R> std::ops::Deref for Rows<R> {
    type Target = [R];
    fn deref(&self) -> &[R] {
        &self.rows
    }
}

impl<R> IntoIterator for Rows<R> {
    type Item = R;
    type IntoIter = std::vec::IntoIter<R>;
    fn into_iter(self) -> Self::IntoIter {
        self.rows.into_iter()
    }
}

impl<'a, R> IntoIterator for &'a Rows<R> {
    type Item = &'a R;
    type IntoIter = std::slice::Iter<'a, R>;
    fn into_iter(self) -> Self::IntoIter {
        self.rows.iter()
    }
}

impl<R> FromIterator<R> for Rows<R> {
    fn from_iter<I: IntoIterator<Item = R>>(iter: I) -> Self {
        Rows { rows: iter.into_iter().collect() }
    }
}

impl<R> From<Rows<R>> for Vec<R> {
    fn from(r: Rows<R>) -> Vec<R> {
        r.rows
    }
}

/// One `_find` answer.
#[derive(Deserialize)]
#[serde(bound = "R: DeserializeOwned")]
pub(crate) struct FindPage<R> {
    pub docs: Vec<R>,
    #[serde(default)]
    pub bookmark: Option<String>,
    #[serde(default)]
    pub warning: Option<String>,
    #[serde(default)]
    pub execution_stats: Option<ExecutionStats>,
}

/// What CouchDB did to answer a query (`_find` with `execution_stats`), summed over
/// its pages: the way to see whether an index served it. pouchdb-server has none.
#[derive(Debug, Clone, Default, PartialEq, Deserialize)]
#[non_exhaustive]
pub struct ExecutionStats {
    /// Index entries read.
    #[serde(default)]
    pub total_keys_examined: u64,
    /// Documents read to check the selector.
    #[serde(default)]
    pub total_docs_examined: u64,
    /// Documents read with a quorum (`r` > 1).
    #[serde(default)]
    pub total_quorum_docs_examined: u64,
    /// Rows returned.
    #[serde(default)]
    pub results_returned: u64,
    /// Server time, in milliseconds.
    #[serde(default)]
    pub execution_time_ms: f64,
}

impl ExecutionStats {
    pub(crate) fn add(&mut self, o: &ExecutionStats) {
        self.total_keys_examined += o.total_keys_examined;
        self.total_docs_examined += o.total_docs_examined;
        self.total_quorum_docs_examined += o.total_quorum_docs_examined;
        self.results_returned += o.results_returned;
        self.execution_time_ms += o.execution_time_ms;
    }
}

/// Decodes a `_find` body directly into typed rows. Only when that fails is
/// the body parsed again, document by document, to say which document and
/// which field could not be decoded.
pub(crate) fn decode_page<R: DeserializeOwned>(body: &[u8]) -> Result<FindPage<R>> {
    match serde_json::from_slice::<FindPage<R>>(body) {
        Ok(page) => Ok(page),
        Err(fast) => Err(locate_decode_error::<R>(body, fast)),
    }
}

/// Decodes a `_find` body row by row: a document that does not fit `R` is an
/// `Err` naming its id and field, in its place. The whole page is first decoded
/// at once, as strictly; only a page holding a bad document is read twice.
pub(crate) fn decode_page_each<R: DeserializeOwned>(body: &[u8]) -> Result<FindPage<Result<R>>> {
    match serde_json::from_slice::<FindPage<R>>(body) {
        Ok(p) => Ok(FindPage {
            docs: p.docs.into_iter().map(Ok).collect(),
            bookmark: p.bookmark,
            warning: p.warning,
            execution_stats: p.execution_stats,
        }),
        Err(fast) => {
            let raw: RawPage = serde_json::from_slice(body)
                .map_err(|_| Error::decode(None, None, format!("malformed _find response: {fast}")))?;
            Ok(FindPage {
                docs: raw.docs.into_iter().map(|d| decode_doc::<R>(d.get())).collect(),
                bookmark: raw.bookmark,
                warning: raw.warning,
                execution_stats: raw.execution_stats,
            })
        }
    }
}

/// The rows a query could decode, and the documents it skipped
/// (see [`Query::skip_invalid`](crate::Query::skip_invalid)).
#[derive(Debug)]
pub struct Checked<R> {
    /// The documents that decoded into the row type, in order.
    pub rows: Rows<R>,
    /// Each document that did not: its `_id` and the decode error (which names the field).
    pub skipped: Vec<Skipped>,
}

/// A document left out by [`Query::skip_invalid`](crate::Query::skip_invalid).
#[derive(Debug)]
pub struct Skipped {
    /// The document's `_id`, when it has one.
    pub id: Option<String>,
    /// Why it did not decode: an [`Error::Decode`] naming the field (`lines[3].qty`).
    pub error: Error,
}

impl<R> Checked<R> {
    pub(crate) fn split(all: Vec<Result<R>>) -> Result<Checked<R>> {
        let mut rows = Vec::with_capacity(all.len());
        let mut skipped = Vec::new();
        for r in all {
            match r {
                Ok(row) => rows.push(row),
                Err(Error::Decode { doc_id, field, message }) => {
                    let error = Error::Decode { doc_id: doc_id.clone(), field, message };
                    skipped.push(Skipped { id: doc_id, error });
                }
                Err(other) => return Err(other),
            }
        }
        Ok(Checked { rows: Rows::new(rows), skipped })
    }
}

/// A `_find` page with its documents left undecoded, to decode them one by one.
#[derive(Deserialize)]
struct RawPage<'a> {
    #[serde(borrow)]
    docs: Vec<&'a RawValue>,
    #[serde(default)]
    bookmark: Option<String>,
    #[serde(default)]
    warning: Option<String>,
    #[serde(default)]
    execution_stats: Option<ExecutionStats>,
}

#[derive(Deserialize)]
struct IdOnly {
    #[serde(rename = "_id")]
    id: Option<String>,
}

fn locate_decode_error<R: DeserializeOwned>(body: &[u8], fast: serde_json::Error) -> Error {
    let Ok(raw) = serde_json::from_slice::<RawPage>(body) else {
        return Error::decode(None, None, format!("malformed _find response: {fast}"));
    };
    for doc in raw.docs {
        if let Err(e) = decode_doc::<R>(doc.get()) {
            return e;
        }
    }
    Error::decode(None, None, fast)
}

/// Decodes one document, naming its id and the failing field on error.
pub(crate) fn decode_doc<R: DeserializeOwned>(json: &str) -> Result<R> {
    let mut de = serde_json::Deserializer::from_str(json);
    serde_path_to_error::deserialize::<_, R>(&mut de).map_err(|e| {
        let id = serde_json::from_str::<IdOnly>(json).ok().and_then(|d| d.id);
        let path = e.path().to_string();
        let field = (path != ".").then_some(path);
        Error::decode(id, field, e.into_inner())
    })
}

/// Decodes a `_find` response body into rows, as the runtime does for every
/// page (exposed for benchmarks).
#[doc(hidden)]
pub fn decode_find_response<R: DeserializeOwned>(body: &[u8]) -> Result<Vec<R>> {
    decode_page::<R>(body).map(|p| p.docs)
}

/// A document field name while decoding a row: borrowed from the response
/// when it can be, owned when it holds escapes.
#[doc(hidden)]
pub struct FieldKey<'de>(std::borrow::Cow<'de, str>);

impl FieldKey<'_> {
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl<'de> Deserialize<'de> for FieldKey<'de> {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> std::result::Result<Self, D::Error> {
        struct V;
        impl<'de> serde::de::Visitor<'de> for V {
            type Value = FieldKey<'de>;
            fn expecting(&self, f: &mut std::fmt::Formatter) -> std::fmt::Result {
                f.write_str("a field name")
            }
            fn visit_borrowed_str<E: serde::de::Error>(self, v: &'de str) -> std::result::Result<Self::Value, E> {
                Ok(FieldKey(std::borrow::Cow::Borrowed(v)))
            }
            fn visit_str<E: serde::de::Error>(self, v: &str) -> std::result::Result<Self::Value, E> {
                Ok(FieldKey(std::borrow::Cow::Owned(v.to_owned())))
            }
            fn visit_string<E: serde::de::Error>(self, v: String) -> std::result::Result<Self::Value, E> {
                Ok(FieldKey(std::borrow::Cow::Owned(v)))
            }
        }
        d.deserialize_str(V)
    }
}
