//! Bad input never panics the engine: random requests, random selectors.

use couch_embedded::Engine;
use proptest::prelude::*;

fn engine() -> Engine {
    let e = Engine::new();
    e.handle("PUT", "/db", b"");
    e.handle(
        "POST",
        "/db/_bulk_docs",
        br#"{"docs": [{"_id": "a", "n": 1, "s": "x", "l": [1, {"k": 2}]}, {"_id": "b"}]}"#,
    );
    e.handle("POST", "/db/_index", br#"{"index": {"fields": ["n"]}}"#);
    e
}

fn json_text() -> impl Strategy<Value = String> {
    let leaf = prop_oneof![
        Just("null".to_string()),
        Just("true".to_string()),
        (-3i64..4).prop_map(|i| i.to_string()),
        "[a-z$._]{0,6}".prop_map(|s| format!("{s:?}")),
    ];
    leaf.prop_recursive(4, 32, 4, |inner| {
        prop_oneof![
            proptest::collection::vec(inner.clone(), 0..4).prop_map(|v| format!("[{}]", v.join(","))),
            proptest::collection::vec(
                (
                    prop_oneof![
                        Just("$and"),
                        Just("$or"),
                        Just("$not"),
                        Just("$nor"),
                        Just("$eq"),
                        Just("$gt"),
                        Just("$in"),
                        Just("$elemMatch"),
                        Just("$regex"),
                        Just("$size"),
                        Just("$mod"),
                        Just("$all"),
                        Just("$type"),
                        Just("$exists"),
                        Just("$beginsWith"),
                        Just("n"),
                        Just("l"),
                        Just("s"),
                        Just("_id"),
                        Just("selector"),
                        Just("sort"),
                        Just("limit"),
                        Just("bookmark"),
                        Just("fields"),
                        Just("docs")
                    ],
                    inner
                ),
                0..4
            )
            .prop_map(|kv| format!(
                "{{{}}}",
                kv.iter().map(|(k, v)| format!("{k:?}:{v}")).collect::<Vec<_>>().join(",")
            )),
        ]
    })
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 2000, ..ProptestConfig::default() })]

    #[test]
    fn requests_are_answered_never_panicked_on(
        method in prop_oneof![Just("GET"), Just("POST"), Just("PUT"), Just("DELETE"), Just("HEAD")],
        path in prop_oneof![Just("/db/_find"), Just("/db/_explain"), Just("/db/_bulk_docs"), Just("/db/_all_docs"), Just("/db/_index"), Just("/db/_changes?filter=_selector"), Just("/db/a"), Just("/db/_design/x/_view/y?group_level=1&startkey=%5B1%5D"), Just("/db"), Just("/_session"), Just("/db/_index/x/json/y")],
        body in json_text(),
    ) {
        let e = engine();
        let (status, out) = e.handle(method, path, body.as_bytes());
        prop_assert!((200..600).contains(&status));
        if method != "HEAD" {
            prop_assert!(serde_json::from_slice::<serde_json::Value>(&out).is_ok());
        }
    }

    #[test]
    fn selectors_are_answered_never_panicked_on(sel in json_text(), extra in json_text()) {
        let e = engine();
        let body = format!(r#"{{"selector": {sel}, "sort": {extra}, "bookmark": "k7b", "limit": 2}}"#);
        let (status, _) = e.handle("POST", "/db/_find", body.as_bytes());
        prop_assert!((200..600).contains(&status));
    }
}

/// `$mod` over the extreme integers: no overflow, and the documents stay whole.
#[test]
fn mod_of_the_extreme_integers_answers_and_loses_nothing() {
    let e = Engine::new();
    e.handle("PUT", "/db", b"");
    e.handle(
        "POST",
        "/db/_bulk_docs",
        format!(r#"{{"docs": [{{"_id": "a", "n": {}, "keep": "me"}}, {{"_id": "b", "n": {}}}]}}"#, i64::MIN, i64::MAX)
            .as_bytes(),
    );
    for sel in [r#"{"n": {"$mod": [-1, 0]}}"#, r#"{"n": {"$mod": [2, 0]}}"#, r#"{"n": {"$mod": [-3, -2]}}"#] {
        let (status, body) = e.handle("POST", "/db/_find", format!(r#"{{"selector": {sel}}}"#).as_bytes());
        assert_eq!(status, 200, "{sel}: {}", String::from_utf8_lossy(&body));
    }
    let (_, body) = e.handle("POST", "/db/_find", br#"{"selector": {"n": {"$mod": [-1, 0]}}}"#);
    let v: serde_json::Value = serde_json::from_slice(&body).unwrap();
    assert_eq!(v["docs"].as_array().unwrap().len(), 2, "every integer is a multiple of -1: {v}");
    let (_, a) = e.handle("GET", "/db/a", b"");
    let a: serde_json::Value = serde_json::from_slice(&a).unwrap();
    assert_eq!(a["keep"], "me", "the document is whole: {a}");
    assert_eq!(a["n"], serde_json::json!(i64::MIN));
}

/// A document nested as deep as the engine takes ([`couch_embedded::json::MAX_DEPTH`])
/// is written, read, matched, listed and reloaded from its file on a thread with a
/// 2 MiB stack (a worker's); one level deeper, and 100,000 levels, are a 400 with
/// the limit in the reason.
#[test]
fn deep_documents_are_kept_without_overflowing_a_stack() {
    let dir = std::env::temp_dir().join(format!("couch-embedded-deep-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    let run = {
        let dir = dir.clone();
        move || {
            let max = couch_embedded::json::MAX_DEPTH;
            // The document's object is one level; its field holds the rest.
            let nested = |levels: usize| format!("{}7{}", "[".repeat(levels), "]".repeat(levels));
            let doc = format!(r#"{{"type": "deep", "v": {}}}"#, nested(max - 1));
            let engine = Engine::open(&dir).unwrap();
            assert_eq!(engine.handle("PUT", "/db", b"").0, 201);
            let (status, body) = engine.handle("PUT", "/db/deep", doc.as_bytes());
            assert_eq!(status, 201, "{}", String::from_utf8_lossy(&body));
            let (status, got) = engine.handle("GET", "/db/deep", b"");
            assert_eq!(status, 200);
            assert!(got.len() > 2 * max);
            let (status, found) = engine.handle("POST", "/db/_find", br#"{"selector": {"v": {"$type": "array"}}}"#);
            assert_eq!(status, 200);
            assert!(String::from_utf8_lossy(&found).contains(r#""_id":"deep""#));
            let (status, _) = engine.handle(
                "POST",
                "/db/_find",
                format!(r#"{{"selector": {{"v": {}}}}}"#, nested(max - 3)).as_bytes(),
            );
            assert_eq!(status, 200);
            // A selector as deep: `$and` in `$and` (two levels each), and `$not` in `$not`.
            let ands =
                format!(r#"{}{{"type": "deep"}}{}"#, r#"{"$and": ["#.repeat(max / 2 - 1), "]}".repeat(max / 2 - 1));
            let nots = format!(r#"{{"type": {}"deep"{}}}"#, r#"{"$not": "#.repeat(max - 2), "}".repeat(max - 2));
            for selector in [ands, nots] {
                let (status, body) =
                    engine.handle("POST", "/db/_find", format!(r#"{{"selector": {selector}}}"#).as_bytes());
                assert_eq!(status, 200, "{}", String::from_utf8_lossy(&body));
            }
            assert_eq!(engine.handle("GET", "/db/_all_docs?include_docs=true", b"").0, 200);
            assert_eq!(engine.handle("GET", "/db/_changes?include_docs=true", b"").0, 200);
            drop(engine);
            let engine = Engine::open(&dir).unwrap();
            assert_eq!(engine.handle("GET", "/db/deep", b""), (200, got), "reloaded from the file");
            for levels in [max, 100_000] {
                let (status, body) =
                    engine.handle("PUT", "/db/deeper", format!(r#"{{"v": {}}}"#, nested(levels)).as_bytes());
                let body = String::from_utf8_lossy(&body);
                assert_eq!(status, 400, "{body}");
                assert!(body.contains(&max.to_string()), "{body}");
            }
        }
    };
    let worker = std::thread::Builder::new().stack_size(2 << 20).spawn(run).unwrap();
    let outcome = worker.join();
    let _ = std::fs::remove_dir_all(&dir);
    outcome.unwrap();
}
