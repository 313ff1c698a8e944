//! The README's tour and live query are `examples/tour.rs` and `examples/live.rs`, word
//! for word, so they compile and run in CI.

/// The text between `<!-- {marker}:start -->` and `<!-- {marker}:end -->` in README.md.
fn readme_block(marker: &str) -> String {
    let readme = std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/README.md")).unwrap();
    let open = format!("<!-- {marker}:start -->\n```rust\n");
    let start = readme.find(&open).unwrap_or_else(|| panic!("the {marker} start marker")) + open.len();
    let close = format!("```\n<!-- {marker}:end -->");
    let end = readme[start..].find(&close).unwrap_or_else(|| panic!("the {marker} end marker")) + start;
    readme[start..end].to_string()
}

#[test]
fn the_readme_tour_is_the_example() {
    let tour = std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/examples/tour.rs")).unwrap();
    assert_eq!(readme_block("tour"), tour, "README.md's tour differs from examples/tour.rs");
}

#[test]
fn the_readme_live_query_is_the_example() {
    let live = std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/examples/live.rs")).unwrap();
    assert_eq!(readme_block("live"), live, "README.md's live query differs from examples/live.rs");
}

#[test]
fn the_readme_local_first_app_is_the_example() {
    let sync = std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/examples/sync.rs")).unwrap();
    assert_eq!(readme_block("sync"), sync, "README.md's local-first app differs from examples/sync.rs");
}

#[test]
fn the_guide_pages_the_readme_links_exist() {
    let readme = std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/README.md")).unwrap();
    for link in readme.split("](").skip(1).filter_map(|s| s.split(')').next()) {
        let path = link.split('#').next().unwrap();
        if path.starts_with("http") || path.is_empty() {
            continue;
        }
        assert!(
            std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join(path).exists(),
            "README links to a missing {path}"
        );
    }
}

#[test]
fn the_guide_links_resolve() {
    let docs = std::path::Path::new(concat!(env!("CARGO_MANIFEST_DIR"), "/docs"));
    for page in std::fs::read_dir(docs).unwrap() {
        let page = page.unwrap().path();
        let text = std::fs::read_to_string(&page).unwrap();
        for link in text.split("](").skip(1).filter_map(|s| s.split(')').next()) {
            let path = link.split('#').next().unwrap();
            if path.starts_with("http") || path.is_empty() || path.contains(' ') {
                continue;
            }
            assert!(docs.join(path).exists(), "{} links to a missing {path}", page.display());
        }
    }
}
