//! The modules of `model/src` import one another in one direction only.
//!
//! Every reference to another module of the crate (`crate::a::b`,
//! `super::a`, a parent's `pub use child::…`, the binary's `tidekv_model::…`)
//! is an edge from the file that writes it to the file of the module it
//! names (the longest prefix of the path that is a module). The test asserts
//! that these edges form no cycle, file by file, and that the library's
//! layers only look up: `model` ← `view` ← `checker` ← `cli`, with the
//! binary (`main.rs`, `bench/`) above them all.

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};

/// The library's layers, lowest first.
const LAYERS: [&str; 4] = ["model", "view", "checker", "cli"];

/// A module's path: `lib::model::tide`, `bin::bench::cmd`.
type Module = String;

fn rust_files(dir: &Path, out: &mut Vec<PathBuf>) {
    for entry in std::fs::read_dir(dir).unwrap() {
        let p = entry.unwrap().path();
        if p.is_dir() {
            rust_files(&p, out);
        } else if p.extension().is_some_and(|e| e == "rs") {
            out.push(p);
        }
    }
}

/// The module a file under `src` defines.
fn module_of(rel: &Path) -> Module {
    let parts: Vec<String> = rel.iter().map(|s| s.to_string_lossy().into_owned()).collect();
    let in_bin = parts[0] == "main.rs" || parts[0] == "bench";
    let mut m = vec![if in_bin { "bin" } else { "lib" }.to_string()];
    for (i, p) in parts.iter().enumerate() {
        let last = i + 1 == parts.len();
        if !last {
            m.push(p.clone());
        } else if !matches!(p.as_str(), "mod.rs" | "lib.rs" | "main.rs") {
            m.push(p.trim_end_matches(".rs").to_string());
        }
    }
    m.join("::")
}

/// The source without comments and string literals (so `"http://…"` and
/// doc links are not read as references).
fn code_only(src: &str) -> String {
    let mut out = String::with_capacity(src.len());
    for line in src.lines() {
        let mut in_str = false;
        let mut prev = ' ';
        let mut kept = String::new();
        let mut chars = line.chars().peekable();
        while let Some(c) = chars.next() {
            if in_str {
                if c == '"' && prev != '\\' {
                    in_str = false;
                }
                prev = if prev == '\\' && c == '\\' { ' ' } else { c };
                continue;
            }
            if c == '/' && chars.peek() == Some(&'/') {
                break;
            }
            if c == '"' {
                in_str = true;
                prev = ' ';
                kept.push_str("\"\"");
                continue;
            }
            kept.push(c);
        }
        out.push_str(&kept);
        out.push('\n');
    }
    out
}

/// Every path written in `code` that starts with one of `roots`, with
/// `use a::{b, c::d}` groups expanded (one level of braces).
fn paths(code: &str, root: &str) -> Vec<Vec<String>> {
    let ident = |c: char| c.is_ascii_alphanumeric() || c == '_';
    let mut out = Vec::new();
    let mut rest = code;
    while let Some(i) = rest.find(root) {
        let before = rest[..i].chars().last();
        rest = &rest[i..];
        if before.is_some_and(|c| ident(c) || c == ':') {
            rest = &rest[root.len()..];
            continue;
        }
        let mut segs = Vec::new();
        let mut s = rest;
        loop {
            let n = s.find(|c: char| !ident(c)).unwrap_or(s.len());
            segs.push(s[..n].to_string());
            s = &s[n..];
            if let Some(t) = s.strip_prefix("::") {
                s = t;
                if let Some(group) = s.strip_prefix('{') {
                    let end = group.find('}').unwrap_or(group.len());
                    for item in group[..end].split(',') {
                        let item: String = item.trim().chars().take_while(|&c| ident(c) || c == ':').collect();
                        if !item.is_empty() {
                            let mut p = segs.clone();
                            p.extend(item.split("::").map(str::to_string));
                            out.push(p);
                        }
                    }
                    break;
                }
                continue;
            }
            out.push(segs.clone());
            break;
        }
        rest = &rest[root.len()..];
    }
    out
}

/// The import graph of the crate in `src`: module → modules it refers to.
fn graph(files: &BTreeMap<Module, String>) -> BTreeMap<Module, BTreeSet<Module>> {
    let modules: BTreeSet<&Module> = files.keys().collect();
    // The deepest module a path (already made absolute) names.
    let resolve = |abs: Vec<String>| -> Option<Module> {
        (1..=abs.len())
            .rev()
            .map(|n| abs[..n].join("::"))
            .find(|m| modules.contains(m))
    };
    let mut g = BTreeMap::new();
    for (m, src) in files {
        let code = code_only(src);
        let me: Vec<String> = m.split("::").map(str::to_string).collect();
        let krate = me[0].clone();
        let parent = me[..me.len() - 1].to_vec();
        let mut abs = Vec::new();
        for p in paths(&code, "crate::") {
            abs.push([vec![krate.clone()], p[1..].to_vec()].concat());
        }
        for p in paths(&code, "super::") {
            abs.push([parent.clone(), p[1..].to_vec()].concat());
        }
        for p in paths(&code, "self::") {
            abs.push([me.clone(), p[1..].to_vec()].concat());
        }
        for p in paths(&code, "tidekv_model::") {
            abs.push([vec!["lib".to_string()], p[1..].to_vec()].concat());
        }
        // A parent's relative `use child::…` (re-exports).
        for line in code.lines() {
            let l = line.trim_start();
            let l = l.strip_prefix("pub ").unwrap_or(l);
            if let Some(u) = l.strip_prefix("use ") {
                let first: String = u.chars().take_while(|&c| c != ':' && c != ';').collect();
                let child = format!("{m}::{first}");
                if modules.contains(&child) {
                    abs.push(child.split("::").map(str::to_string).collect());
                }
            }
        }
        let edges: BTreeSet<Module> = abs.into_iter().filter_map(resolve).filter(|t| t != m).collect();
        g.insert(m.clone(), edges);
    }
    g
}

/// A cycle of `g`, if it has one.
fn find_cycle(g: &BTreeMap<Module, BTreeSet<Module>>) -> Option<Vec<Module>> {
    fn visit(
        g: &BTreeMap<Module, BTreeSet<Module>>,
        m: &Module,
        state: &mut BTreeMap<Module, u8>,
        stack: &mut Vec<Module>,
    ) -> Option<Vec<Module>> {
        state.insert(m.clone(), 1);
        stack.push(m.clone());
        for t in g.get(m).into_iter().flatten() {
            match state.get(t) {
                Some(1) => {
                    let from = stack.iter().position(|x| x == t).unwrap();
                    let mut cycle = stack[from..].to_vec();
                    cycle.push(t.clone());
                    return Some(cycle);
                }
                Some(_) => {}
                None => {
                    if let Some(c) = visit(g, t, state, stack) {
                        return Some(c);
                    }
                }
            }
        }
        stack.pop();
        state.insert(m.clone(), 2);
        None
    }
    let mut state = BTreeMap::new();
    for m in g.keys() {
        if !state.contains_key(m) {
            if let Some(c) = visit(g, m, &mut state, &mut Vec::new()) {
                return Some(c);
            }
        }
    }
    None
}

fn crate_files() -> BTreeMap<Module, String> {
    let src = Path::new(env!("CARGO_MANIFEST_DIR")).join("src");
    let mut files = Vec::new();
    rust_files(&src, &mut files);
    files
        .into_iter()
        .map(|f| {
            (
                module_of(f.strip_prefix(&src).unwrap()),
                std::fs::read_to_string(&f).unwrap(),
            )
        })
        .collect()
}

/// A library module's layer (its index in [`LAYERS`]); `None` for the root.
fn layer(m: &str) -> Option<usize> {
    let mut parts = m.split("::");
    (parts.next() == Some("lib"))
        .then(|| parts.next())
        .flatten()
        .map(|top| {
            LAYERS
                .iter()
                .position(|l| *l == top)
                .unwrap_or_else(|| panic!("{m}: not in a layer"))
        })
}

#[test]
fn module_imports_are_acyclic() {
    let g = graph(&crate_files());
    assert!(g.len() > 20, "found only {} modules", g.len());
    if let Some(c) = find_cycle(&g) {
        panic!("an import cycle: {}", c.join(" -> "));
    }
}

#[test]
fn layers_only_look_up() {
    let g = graph(&crate_files());
    let mut wrong = Vec::new();
    for (m, edges) in &g {
        for t in edges {
            if let (Some(a), Some(b)) = (layer(m), layer(t)) {
                if b > a {
                    wrong.push(format!("{m} -> {t}"));
                }
            }
            if m.starts_with("lib") && t.starts_with("bin") {
                wrong.push(format!("{m} -> {t}"));
            }
        }
    }
    assert!(wrong.is_empty(), "imports against the layers: {wrong:#?}");
}

/// The checks can fail: a cycle, a parent's re-export imported back and a
/// downward import are all found.
#[test]
fn the_checks_find_what_they_look_for() {
    let files = |list: &[(&str, &str)]| -> BTreeMap<Module, String> {
        list.iter().map(|(m, s)| (m.to_string(), s.to_string())).collect()
    };
    let cyc = files(&[
        ("lib", "pub mod a; pub mod b;"),
        ("lib::a", "use crate::b::{X, y::Z};"),
        ("lib::b", "fn f() { crate::a::g() }"),
        ("lib::b::y", ""),
    ]);
    let c = find_cycle(&graph(&cyc)).expect("a -> b -> a");
    assert!(
        c.contains(&"lib::a".to_string()) && c.contains(&"lib::b".to_string()),
        "{c:?}"
    );
    let reexport = files(&[
        ("lib::m", "mod c;\npub use c::T;"),
        ("lib::m::c", "use crate::m::U; // comment crate::x"),
    ]);
    assert!(find_cycle(&graph(&reexport)).is_some());
    let clean = files(&[
        ("lib::m", "mod c;\nmod d;\npub use c::T;"),
        ("lib::m::c", "use super::d::U; const S: &str = \"crate::m\";"),
        ("lib::m::d", ""),
    ]);
    assert_eq!(find_cycle(&graph(&clean)), None);
    let g = graph(&files(&[("lib::model::x", "use crate::cli::y;"), ("lib::cli::y", "")]));
    assert_eq!(g["lib::model::x"], BTreeSet::from(["lib::cli::y".to_string()]));
    assert!(layer("lib::cli::y") > layer("lib::model::x"));
}
