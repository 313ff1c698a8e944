//! The README's tour is `examples/tour.rs`, word for word, so it compiles and runs in CI.

#[test]
fn the_readme_tour_is_the_example() {
    let readme = std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/README.md")).unwrap();
    let tour = std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/examples/tour.rs")).unwrap();
    let start = readme.find("<!-- tour:start -->\n```rust\n").expect("the tour's start marker")
        + "<!-- tour:start -->\n```rust\n".len();
    let end = readme[start..].find("```\n<!-- tour:end -->").expect("the tour's end marker") + start;
    assert_eq!(&readme[start..end], tour, "README.md's tour differs from examples/tour.rs");
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
