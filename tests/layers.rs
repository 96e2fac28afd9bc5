//! The layering rules of ARCHITECTURE.md, checked on the source: the
//! top-level modules import each other one way only, the option layer is
//! imported by the entry points alone, and the model stays pure.

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};

/// The `.rs` files below `dir`.
fn rust_files(dir: &Path) -> Vec<PathBuf> {
    let mut files = Vec::new();
    let mut stack = vec![dir.to_path_buf()];
    while let Some(dir) = stack.pop() {
        for entry in std::fs::read_dir(&dir).unwrap() {
            let path = entry.unwrap().path();
            if path.is_dir() {
                stack.push(path);
            } else if path.extension().is_some_and(|e| e == "rs") {
                files.push(path);
            }
        }
    }
    files
}

/// A file's code without its unit tests (they may reach anywhere).
fn without_tests(text: &str) -> &str {
    match text.find("#[cfg(test)]\nmod tests") {
        Some(i) => &text[..i],
        None => text,
    }
}

/// Each top-level module of `src/` and the top-level modules it names
/// through `crate::…`.
fn imports() -> BTreeMap<String, BTreeSet<String>> {
    let src = Path::new(env!("CARGO_MANIFEST_DIR")).join("src");
    let mut graph: BTreeMap<String, BTreeSet<String>> = BTreeMap::new();
    for path in rust_files(&src) {
        if path.ends_with("tests.rs") {
            continue;
        }
        let rel = path.strip_prefix(&src).unwrap();
        let top = rel
            .components()
            .next()
            .unwrap()
            .as_os_str()
            .to_string_lossy()
            .trim_end_matches(".rs")
            .to_owned();
        let text = std::fs::read_to_string(&path).unwrap();
        let code = without_tests(&text);
        let deps = graph.entry(top.clone()).or_default();
        for (i, _) in code.match_indices("crate::") {
            let name: String = code[i + 7..]
                .chars()
                .take_while(|c| c.is_ascii_alphanumeric() || *c == '_')
                .collect();
            if !name.is_empty() && name != top {
                deps.insert(name);
            }
        }
    }
    graph
}

fn reaches(graph: &BTreeMap<String, BTreeSet<String>>, from: &str, to: &str) -> bool {
    let mut seen = BTreeSet::new();
    let mut stack = vec![from.to_owned()];
    while let Some(m) = stack.pop() {
        for d in graph.get(&m).into_iter().flatten() {
            if d == to {
                return true;
            }
            if seen.insert(d.clone()) {
                stack.push(d.clone());
            }
        }
    }
    false
}

#[test]
fn top_level_modules_import_each_other_one_way() {
    let graph = imports();
    let mut loops = Vec::new();
    for (m, deps) in &graph {
        for d in deps {
            if m < d && reaches(&graph, d, m) {
                loops.push(format!("{m} <-> {d}"));
            }
        }
    }
    assert!(loops.is_empty(), "import loops: {loops:?}\n{graph:#?}");
}

#[test]
fn only_the_entry_points_import_the_option_layer() {
    let entry = ["main", "run", "commands", "cli", "config"];
    for (m, deps) in imports() {
        if entry.contains(&m.as_str()) {
            continue;
        }
        for layer in ["cli", "config", "run", "commands"] {
            assert!(
                !deps.contains(layer),
                "{m} imports {layer}: engines are handed plain values"
            );
        }
    }
}

#[test]
fn the_model_is_pure() {
    let graph = imports();
    let model = &graph["model"];
    assert!(model.is_empty(), "model imports {model:?}");
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("src/model");
    for path in rust_files(&dir) {
        if path.ends_with("tests.rs") {
            continue;
        }
        let text = std::fs::read_to_string(&path).unwrap();
        let text = without_tests(&text);
        for io in [
            "tokio::",
            "ratatui::",
            "crossterm::",
            "std::fs",
            "std::net::TcpStream",
            "SystemTime::now",
            "Instant::now",
        ] {
            assert!(
                !text.contains(io),
                "{} uses {io}: the model has no I/O and no clock",
                path.display()
            );
        }
    }
}
