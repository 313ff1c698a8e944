//! Compile-time diagnostics of `couch_sql!` and `#[derive(CouchRow)]`:
//! one file per error class in tests/ui, each with its reviewed .stderr.

#[test]
fn compile_errors() {
    let t = trybuild::TestCases::new();
    t.compile_fail("tests/ui/*.rs");
    // Programs that must compile and run (names a user may choose, …).
    t.pass("tests/ui/pass/*.rs");
}
