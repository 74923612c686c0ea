//! Each crate's modules import downward only: no two modules of a crate need each other,
//! directly or around a circle. Read from the sources, so a new cycle fails here by name.

use std::collections::{BTreeMap, BTreeSet};
use std::path::Path;

/// The crates whose `src/` is checked (the workspace's libraries and binaries).
const CRATES: &[&str] = &[
    "kiss-schema",
    "kiss-dynamic",
    "kiss-codegen",
    "kiss-client",
    "kiss-sandbox",
    "kiss-cli",
    "kiss-store",
    "xtask",
];

/// A file's code without its tests and comment lines.
fn code_of(code: &str) -> String {
    code.split("#[cfg(test)]")
        .next()
        .unwrap_or("")
        .lines()
        .filter(|line| !line.trim_start().starts_with("//"))
        .collect::<Vec<_>>()
        .join("\n")
}

/// The names a path refers to next: `x` of `x::…`, or each of a group `{a, b::c}`.
fn names_after(rest: &str) -> Vec<String> {
    let parts: Vec<&str> = match rest.strip_prefix('{') {
        Some(group) => group.split('}').next().unwrap_or("").split(',').collect(),
        None => vec![rest],
    };
    parts
        .into_iter()
        .map(|part| {
            part.trim()
                .chars()
                .take_while(|c| c.is_alphanumeric() || *c == '_')
                .collect()
        })
        .collect()
}

/// The modules a module's code (its tests left out) refers to through `crate::`.
fn imports(
    code: &str,
    modules: &BTreeSet<String>,
    reexports: &BTreeMap<String, String>,
) -> BTreeSet<String> {
    let code = code_of(code);
    let mut found = BTreeSet::new();
    for (i, _) in code.match_indices("crate::") {
        for name in names_after(&code[i + "crate::".len()..]) {
            if modules.contains(&name) {
                found.insert(name);
            } else if let Some(module) = reexports.get(&name) {
                found.insert(module.clone());
            }
        }
    }
    found
}

/// `pub use module::{A, B}` lines of a crate root: which module each re-exported name is from.
fn reexports(root: &str) -> BTreeMap<String, String> {
    let mut map = BTreeMap::new();
    for statement in root.split(';') {
        let statement = statement.trim();
        let Some(rest) = statement.strip_prefix("pub use ") else {
            continue;
        };
        let Some((module, names)) = rest.split_once("::") else {
            continue;
        };
        let names = names.trim_start_matches('{').trim_end_matches('}');
        for name in names.split(',') {
            map.insert(name.trim().to_owned(), module.trim().to_owned());
        }
    }
    map
}

fn cycle(graph: &BTreeMap<String, BTreeSet<String>>) -> Option<Vec<String>> {
    fn visit(
        node: &str,
        graph: &BTreeMap<String, BTreeSet<String>>,
        path: &mut Vec<String>,
        done: &mut BTreeSet<String>,
    ) -> Option<Vec<String>> {
        if let Some(start) = path.iter().position(|n| n == node) {
            let mut found = path[start..].to_vec();
            found.push(node.to_owned());
            return Some(found);
        }
        if done.contains(node) {
            return None;
        }
        path.push(node.to_owned());
        for next in graph.get(node).into_iter().flatten() {
            if let Some(found) = visit(next, graph, path, done) {
                return Some(found);
            }
        }
        path.pop();
        done.insert(node.to_owned());
        None
    }
    let mut done = BTreeSet::new();
    graph
        .keys()
        .find_map(|node| visit(node, graph, &mut Vec::new(), &mut done))
}

#[test]
fn no_crate_has_modules_that_import_each_other_in_a_circle() {
    let workspace = Path::new(env!("CARGO_MANIFEST_DIR")).join("..");
    for krate in CRATES {
        let src = workspace.join(krate).join("src");
        let mut sources = BTreeMap::new();
        for entry in std::fs::read_dir(&src).unwrap() {
            let path = entry.unwrap().path();
            let name = path.file_stem().unwrap().to_string_lossy().into_owned();
            if path.extension().is_some_and(|e| e == "rs") {
                sources.insert(name, std::fs::read_to_string(&path).unwrap());
            } else if path.is_dir() {
                // A module with a folder: one node of the crate's graph (all its files'
                // imports), and a graph of its own among its files.
                let files = folder_sources(&path);
                let graph = folder_graph(&files);
                if let Some(found) = cycle(&graph) {
                    panic!(
                        "{krate}: {name}/ has files that import each other in a circle: {}",
                        found.join(" -> ")
                    );
                }
                let all: Vec<&str> = files.values().map(String::as_str).collect();
                sources.insert(name, all.join("\n"));
            }
        }
        let root = sources
            .get("lib")
            .or_else(|| sources.get("main"))
            .cloned()
            .unwrap_or_default();
        let reexports = reexports(&root);
        let modules: BTreeSet<String> = sources
            .keys()
            .filter(|m| *m != "lib" && *m != "main")
            .cloned()
            .collect();
        let graph: BTreeMap<String, BTreeSet<String>> = modules
            .iter()
            .map(|m| {
                let mut uses = imports(&sources[m], &modules, &reexports);
                uses.remove(m);
                (m.clone(), uses)
            })
            .collect();
        assert!(
            modules.len() < 2 || graph.values().any(|uses| !uses.is_empty()) || *krate == "kiss-schema",
            "{krate}: no imports between modules were found; is the scan still reading the sources?"
        );
        if let Some(found) = cycle(&graph) {
            panic!(
                "{krate}: modules import each other in a circle: {}",
                found.join(" -> ")
            );
        }
    }
}

/// The `.rs` files of a module's folder, by stem (`mod` for `mod.rs`).
fn folder_sources(folder: &Path) -> BTreeMap<String, String> {
    let mut files = BTreeMap::new();
    for entry in std::fs::read_dir(folder).unwrap() {
        let path = entry.unwrap().path();
        assert!(
            !path.is_dir(),
            "{}: a folder in a module's folder; teach this test to read it",
            path.display()
        );
        if path.extension().is_some_and(|e| e == "rs") {
            let name = path.file_stem().unwrap().to_string_lossy().into_owned();
            files.insert(name, std::fs::read_to_string(&path).unwrap());
        }
    }
    files
}

/// Within a module's folder, which file refers to which: `mod.rs` to a child through
/// `child::`, a child to a sibling through `super::sibling`, and a child to `mod.rs` through
/// `super::` followed by anything that is not a sibling (the parent's own items).
fn folder_graph(files: &BTreeMap<String, String>) -> BTreeMap<String, BTreeSet<String>> {
    let children: BTreeSet<String> = files.keys().filter(|f| *f != "mod").cloned().collect();
    files
        .iter()
        .map(|(name, code)| {
            let code = code_of(code);
            let mut uses = BTreeSet::new();
            if name == "mod" {
                for child in &children {
                    let referred = code.match_indices(&format!("{child}::")).any(|(i, _)| {
                        !code[..i].ends_with(|c: char| c.is_alphanumeric() || c == '_')
                    });
                    if referred {
                        uses.insert(child.clone());
                    }
                }
            } else {
                for (i, _) in code.match_indices("super::") {
                    for next in names_after(&code[i + "super::".len()..]) {
                        if children.contains(&next) {
                            uses.insert(next);
                        } else if !next.is_empty() {
                            uses.insert("mod".to_owned());
                        }
                    }
                }
            }
            uses.remove(name);
            (name.clone(), uses)
        })
        .collect()
}

#[test]
fn a_folder_whose_child_uses_its_parent_that_uses_it_is_a_circle() {
    let files: BTreeMap<String, String> = [
        ("mod", "mod writer;\nuse writer::Writer;"),
        ("writer", "use super::copy;\nfn f() { super::BATCH }"),
        ("copy", "fn g() {}"),
    ]
    .map(|(a, b)| (a.to_owned(), b.to_owned()))
    .into();
    let graph = folder_graph(&files);
    assert_eq!(graph["mod"], ["writer"].map(String::from).into());
    assert_eq!(graph["writer"], ["copy", "mod"].map(String::from).into());
    assert_eq!(
        cycle(&graph).unwrap(),
        ["mod", "writer", "mod"].map(String::from)
    );
}

#[test]
fn the_scan_finds_a_circle_when_there_is_one() {
    let modules: BTreeSet<String> = ["a", "b", "c"].map(String::from).into();
    let reexports = reexports("pub use c::{Gamma, Delta};");
    let a = imports("use crate::b::X;", &modules, &reexports);
    let b = imports(
        "use crate::{c::Y, Gamma};\nfn f() { crate::a::go() }",
        &modules,
        &reexports,
    );
    assert_eq!(a, ["b"].map(String::from).into());
    assert_eq!(b, ["a", "c"].map(String::from).into());
    let graph: BTreeMap<String, BTreeSet<String>> = [
        ("a".to_owned(), a),
        ("b".to_owned(), b),
        ("c".to_owned(), BTreeSet::new()),
    ]
    .into();
    assert_eq!(cycle(&graph).unwrap(), ["a", "b", "a"].map(String::from));
}
