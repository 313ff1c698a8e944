//! Attachments as CouchDB keeps them (`couch_att`): a document's `_attachments`
//! holds, per name, a stub — `content_type`, `digest` (`md5-` and the base64 MD5
//! of the bytes), `length`, `revpos` (the generation that wrote it) and
//! `"stub": true` — and the bytes are kept beside the body, by digest, so every
//! read that does not ask for them (`_find`, `_changes`, `_all_docs`) shows stubs.
//!
//! A write gives each attachment as `data` (base64), as a stub (kept from the
//! revision it continues: 412 `missing_stub` if that has none), or as `follows`
//! (the bytes in a `multipart/related` part, as CouchDB's replicator sends them).

use crate::store::ApiError;
use md5::Digest;
use serde_json::{json, Map, Value};
use std::collections::BTreeMap;
use std::sync::Arc;

/// Attachment bytes by digest.
pub type Blobs = BTreeMap<String, Arc<Vec<u8>>>;

/// `md5-` and the padded base64 MD5 of `bytes`.
pub fn digest(bytes: &[u8]) -> String {
    format!("md5-{}", base64(&md5::Md5::digest(bytes)))
}

/// Standard base64, padded (as CouchDB writes attachments' `data` and digests).
///
/// ```
/// assert_eq!(couch_embedded::base64(b"hello"), "aGVsbG8=");
/// ```
pub fn base64(bytes: &[u8]) -> String {
    let mut s = crate::auth::base64_encode(bytes, crate::auth::STANDARD);
    while s.len() % 4 != 0 {
        s.push('=');
    }
    s
}

fn bad(reason: impl Into<String>) -> ApiError {
    ApiError::bad_request(reason)
}

fn missing_stub(name: &str) -> ApiError {
    ApiError::new(412, "missing_stub", format!("Invalid attachment stub in {name}"))
}

/// A multipart part's bytes, decoded from its `Content-Encoding` (gzip is what
/// CouchDB sends compressible attachments in).
pub fn decode_part(bytes: Vec<u8>, encoding: Option<&str>) -> Result<Vec<u8>, ApiError> {
    match encoding.map(str::trim) {
        None | Some("") | Some("identity") => Ok(bytes),
        Some("gzip") => {
            use std::io::Read;
            let mut out = Vec::new();
            flate2::read::GzDecoder::new(bytes.as_slice())
                .read_to_end(&mut out)
                .map_err(|e| bad(format!("an attachment's gzip could not be read: {e}")))?;
            Ok(out)
        }
        Some(other) => Err(bad(format!("Unsupported attachment encoding: {other}"))),
    }
}

/// Where a write's stubs are found and its `follows` bytes come from.
pub struct Sources<'a> {
    /// The `_attachments` of the revisions a stub may name (the parent, for an edit;
    /// every leaf, for a replicated revision), with the bytes the document holds.
    pub known: Vec<&'a Map<String, Value>>,
    pub blobs: Option<&'a Blobs>,
    /// The bytes of `follows` attachments, by name.
    pub follows: BTreeMap<String, Vec<u8>>,
}

/// Turns a written `_attachments` into stubs, collecting the new bytes: `revpos` is
/// `pos` for new data in an edit, the given one for a replicated revision.
pub fn prepare(body: &mut Map<String, Value>, pos: u64, replicated: bool, mut src: Sources) -> Result<Blobs, ApiError> {
    let mut blobs = Blobs::new();
    let Some(atts) = body.get_mut("_attachments") else { return Ok(blobs) };
    let Some(atts) = atts.as_object_mut() else {
        return Err(bad("Attachments must be a JSON object"));
    };
    if atts.is_empty() {
        body.remove("_attachments");
        return Ok(blobs);
    }
    for (name, att) in atts.iter_mut() {
        if name.starts_with('_') {
            return Err(bad(format!("Attachment name '{name}' starts with prohibited character '_'")));
        }
        let Some(a) = att.as_object() else { return Err(bad("Attachment must be a JSON object")) };
        let content_type = a.get("content_type").and_then(Value::as_str).unwrap_or("application/octet-stream");
        let given_revpos = a.get("revpos").and_then(Value::as_u64);
        let bytes = if a.get("stub") == Some(&Value::Bool(true)) {
            let digest = a.get("digest").and_then(Value::as_str);
            let kept = src.known.iter().find_map(|k| {
                let s = k.get(name)?;
                (digest.is_none() || s.get("digest").and_then(Value::as_str) == digest).then_some(s)
            });
            let Some(kept) = kept else { return Err(missing_stub(name)) };
            let present = kept
                .get("digest")
                .and_then(Value::as_str)
                .is_some_and(|d| src.blobs.is_some_and(|b| b.contains_key(d)));
            if !present {
                return Err(missing_stub(name));
            }
            *att = kept.clone();
            continue;
        } else if a.get("follows") == Some(&Value::Bool(true)) {
            src.follows.remove(name).ok_or_else(|| bad(format!("The data of attachment {name} did not follow")))?
        } else if let Some(data) = a.get("data") {
            let text = data.as_str().ok_or_else(|| bad("Attachment data must be base64 text"))?;
            let text: String = text.chars().filter(|c| !c.is_ascii_whitespace()).collect();
            crate::auth::base64_decode(&text, crate::auth::STANDARD)
                .ok_or_else(|| bad(format!("Invalid attachment data for {name}")))?
        } else {
            return Err(bad(format!("Invalid attachment {name}: it has no data, no stub and does not follow")));
        };
        // A replicated attachment keeps its digest (CouchDB's is of the bytes as it
        // stores them, gzip for compressible types); a new one is the MD5 of its bytes.
        let given_digest = a.get("digest").and_then(Value::as_str).filter(|_| replicated).map(str::to_owned);
        let digest = given_digest.unwrap_or_else(|| digest(&bytes));
        let revpos = if replicated { given_revpos.unwrap_or(pos) } else { pos };
        *att = json!({
            "content_type": content_type, "digest": digest, "length": bytes.len(), "revpos": revpos, "stub": true,
        });
        blobs.insert(digest, Arc::new(bytes));
    }
    Ok(blobs)
}

/// A revision's `_attachments` with the bytes inline (`attachments=true`): each
/// attachment written after generation `since` (`atts_since`), every one if `None`.
pub fn inline(doc: &mut Map<String, Value>, blobs: &Blobs, since: Option<u64>) {
    let Some(Value::Object(atts)) = doc.get_mut("_attachments") else { return };
    for att in atts.values_mut() {
        let Some(a) = att.as_object_mut() else { continue };
        if since.is_some_and(|s| a.get("revpos").and_then(Value::as_u64).unwrap_or(0) <= s) {
            continue;
        }
        let Some(bytes) = a.get("digest").and_then(Value::as_str).and_then(|d| blobs.get(d)) else { continue };
        a.remove("stub");
        a.remove("length");
        a.insert("data".into(), Value::String(base64(bytes)));
    }
}

/// The digests a body's attachments need.
pub fn digests(body: &Map<String, Value>) -> impl Iterator<Item = &str> {
    body.get("_attachments")
        .and_then(Value::as_object)
        .into_iter()
        .flat_map(|atts| atts.values().filter_map(|a| a.get("digest").and_then(Value::as_str)))
}

/// One part of a `multipart/related` body: its headers (lower-cased names) and bytes.
pub struct Part {
    pub headers: BTreeMap<String, String>,
    pub body: Vec<u8>,
}

/// The `boundary` parameter of a `multipart/…` content type.
pub fn boundary(content_type: &str) -> Option<String> {
    content_type.split(';').skip(1).find_map(|p| {
        let (k, v) = p.split_once('=')?;
        (k.trim().eq_ignore_ascii_case("boundary")).then(|| v.trim().trim_matches('"').to_string())
    })
}

/// Splits a multipart body into its parts.
pub fn parts(body: &[u8], boundary: &str) -> Result<Vec<Part>, ApiError> {
    let delimiter = format!("--{boundary}").into_bytes();
    let find = |from: usize| -> Option<usize> {
        body.get(from..)?.windows(delimiter.len()).position(|w| w == delimiter.as_slice()).map(|i| i + from)
    };
    let malformed = || bad("The multipart body is malformed");
    let mut at = find(0).ok_or_else(malformed)? + delimiter.len();
    let mut out = Vec::new();
    loop {
        if body.get(at..at + 2) == Some(b"--") {
            return Ok(out); // the closing delimiter
        }
        // Past the delimiter line's CRLF.
        let line_end = body.get(at..).and_then(|b| b.windows(2).position(|w| w == b"\r\n")).ok_or_else(malformed)?;
        let start = at + line_end + 2;
        let next = find(start).ok_or_else(malformed)?;
        // The part ends with the CRLF before the next delimiter.
        let end = if next >= 2 && &body[next - 2..next] == b"\r\n" { next - 2 } else { next };
        let part = body.get(start..end).ok_or_else(malformed)?;
        let split = part.windows(4).position(|w| w == b"\r\n\r\n");
        let (head, bytes) = match split {
            Some(i) => (&part[..i], &part[i + 4..]),
            None if part.starts_with(b"\r\n") => (&part[..0], &part[2..]),
            None => return Err(malformed()),
        };
        let headers = String::from_utf8_lossy(head)
            .split("\r\n")
            .filter_map(|l| l.split_once(':'))
            .map(|(k, v)| (k.trim().to_ascii_lowercase(), v.trim().to_string()))
            .collect();
        out.push(Part { headers, body: bytes.to_vec() });
        at = next + delimiter.len();
    }
}

/// A `multipart/related` document write: the JSON of the first part, and the bytes
/// of the attachments that follow it, by name (a part's `filename`, else the order
/// of the `follows` attachments).
pub fn read_related(body: &[u8], content_type: &str) -> Result<(Value, BTreeMap<String, Vec<u8>>), ApiError> {
    let boundary = boundary(content_type).ok_or_else(|| bad("A multipart body needs a boundary"))?;
    let mut parts = parts(body, &boundary)?.into_iter();
    let first = parts.next().ok_or_else(|| bad("The multipart body has no document"))?;
    let doc = crate::json::parse(&first.body)?;
    let following: Vec<String> = doc
        .get("_attachments")
        .and_then(Value::as_object)
        .into_iter()
        .flatten()
        .filter(|(_, a)| a.get("follows") == Some(&Value::Bool(true)))
        .map(|(n, _)| n.clone())
        .collect();
    let mut bytes = BTreeMap::new();
    for (i, part) in parts.enumerate() {
        let name = part
            .headers
            .get("content-disposition")
            .and_then(|d| d.split(';').find_map(|p| p.trim().strip_prefix("filename=")))
            .map(|f| f.trim_matches('"').to_string())
            .or_else(|| following.get(i).cloned())
            .ok_or_else(|| bad("A multipart part names no attachment"))?;
        let data = decode_part(part.body, part.headers.get("content-encoding").map(String::as_str))?;
        bytes.insert(name, data);
    }
    Ok((doc, bytes))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn digests_are_couchdbs() {
        // CouchDB 3.4.3: "hello" as application/octet-stream (stored as it is).
        assert_eq!(digest(b"hello"), "md5-XUFAKrxLKna5cZ2REBfFkg==");
        assert_eq!(base64(b"ab"), "YWI=");
    }

    #[test]
    fn a_related_body_is_read_part_by_part() {
        let body = b"--XyZ\r\nContent-Type: application/json\r\n\r\n{\"_id\":\"a\",\"_attachments\":{\"t.bin\":{\"follows\":true,\"content_type\":\"application/octet-stream\",\"length\":3}}}\r\n--XyZ\r\nContent-Disposition: attachment; filename=\"t.bin\"\r\nContent-Type: application/octet-stream\r\nContent-Length: 3\r\n\r\n\x00\r\n\r\n--XyZ--";
        let (doc, bytes) = read_related(body, "multipart/related; boundary=\"XyZ\"").unwrap();
        assert_eq!(doc["_id"], "a");
        assert_eq!(bytes["t.bin"], b"\x00\r\n");
    }
}
