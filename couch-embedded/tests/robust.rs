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

/// A path: segments from what the engine routes on and what it must refuse.
fn path_text() -> impl Strategy<Value = String> {
    let segment = prop_oneof![
        Just("db".to_string()),
        Just("_users".to_string()),
        Just("_all_dbs".to_string()),
        Just("_session".to_string()),
        Just("_security".to_string()),
        Just("_find".to_string()),
        Just("_bulk_docs".to_string()),
        Just("_all_docs".to_string()),
        Just("_changes".to_string()),
        Just("_index".to_string()),
        Just("_design".to_string()),
        Just("_view".to_string()),
        Just("_local".to_string()),
        Just("org.couchdb.user:bob".to_string()),
        Just("..".to_string()),
        Just("a%2Fb".to_string()),
        Just("%ff%fe".to_string()),
        Just("Upper".to_string()),
        "[a-z_$()+/-]{0,8}",
        "\\PC{0,4}",
    ];
    let param = prop_oneof![
        Just("limit"),
        Just("skip"),
        Just("since"),
        Just("feed"),
        Just("timeout"),
        Just("heartbeat"),
        Just("startkey"),
        Just("endkey"),
        Just("keys"),
        Just("include_docs"),
        Just("descending"),
        Just("filter"),
        Just("rev"),
        Just("group_level"),
        Just("reduce")
    ];
    let value = prop_oneof![
        Just("-1".to_string()),
        Just("0".to_string()),
        Just("18446744073709551616".to_string()),
        Just("true".to_string()),
        Just("now".to_string()),
        Just("normal".to_string()),
        Just("%5B1%5D".to_string()),
        Just("%22a%22".to_string()),
        Just("_selector".to_string()),
        Just("_doc_ids".to_string()),
        "[a-z0-9%-]{0,6}",
    ];
    (proptest::collection::vec(segment, 0..5), proptest::collection::vec((param, value), 0..4)).prop_map(
        |(segments, params)| {
            let query: Vec<String> = params.iter().map(|(k, v)| format!("{k}={v}")).collect();
            // Longpolls answer at once: a fuzzer must not wait a minute per case.
            format!("/{}?{}&timeout=0", segments.join("/"), query.join("&"))
        },
    )
}

/// The engine with an admin, shared by every case (its state grows as cases write).
fn guarded() -> &'static Engine {
    static ENGINE: std::sync::LazyLock<Engine> = std::sync::LazyLock::new(|| {
        let e = Engine::new().with_admin("admin", "password");
        e.handle("PUT", "/db", b"");
        e
    });
    &ENGINE
}

proptest! {
    // `FUZZ_CASES=1000000` for a long run (the issue's notes give its figures).
    #![proptest_config(ProptestConfig {
        cases: std::env::var("FUZZ_CASES").ok().and_then(|c| c.parse().ok()).unwrap_or(3000),
        failure_persistence: None,
        ..ProptestConfig::default()
    })]

    /// Random requests (method × path × query × body × credentials) at the engine as
    /// `couch-sql serve` calls it: an answer with a 1xx–5xx status and a JSON body,
    /// never a panic, whatever comes in.
    #[test]
    fn random_http_requests_are_answered_never_panicked_on(
        method in prop_oneof![Just("GET"), Just("POST"), Just("PUT"), Just("DELETE"), Just("HEAD"), Just("COPY"), Just("PATCH")],
        path in path_text(),
        body in prop_oneof![
            json_text().prop_map(String::into_bytes),
            proptest::collection::vec(any::<u8>(), 0..64),
            Just(br#"{"docs": [{"_id": "_design/x", "views": {"v": {"map": "function(doc){}"}}}, {"_id": "a", "n": 1}]}"#.to_vec()),
            Just(br#"{"members": {"names": ["bob"]}, "admins": {"roles": ["r"]}}"#.to_vec()),
        ],
        auth in prop_oneof![
            Just(None),
            Just(Some("Basic YWRtaW46cGFzc3dvcmQ=")), // admin:password
            Just(Some("Basic Ym9iOnB3")), // bob:pw, no such user
            Just(Some("Basic !!!")),
            Just(Some("Bearer x")),
        ],
        cookie in prop_oneof![Just(None), Just(Some("AuthSession=garbage")), Just(Some("AuthSession=YWRtaW46MDow"))],
    ) {
        let reply = guarded().handle_http(method, &path, auth, cookie, &body);
        prop_assert!((100..600).contains(&reply.status));
        if method != "HEAD" {
            prop_assert!(serde_json::from_slice::<serde_json::Value>(&reply.body).is_ok());
        }
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
