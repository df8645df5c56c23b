//! ARCHITECTURE.md's layers of `app/src`, checked against the code: every top-level
//! module is in exactly one documented layer, no module refers to one of a higher layer
//! (`crate::<module>` anywhere outside its tests), and the references within a layer form
//! no loop. So the page stays true as the code changes.
#![allow(clippy::unwrap_used)]

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};

fn app_dir() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

/// The top-level modules of `app/src` (files and folders, `lib.rs` and `main.rs` aside).
fn modules() -> BTreeSet<String> {
    modules_of(&app_dir().join("src"))
}

/// The top-level modules of a crate's `src` (files and folders, `lib.rs` and `main.rs` aside).
fn modules_of(src: &Path) -> BTreeSet<String> {
    std::fs::read_dir(src)
        .unwrap()
        .map(|entry| entry.unwrap().file_name().into_string().unwrap())
        .filter(|name| name != "lib.rs" && name != "main.rs")
        .map(|name| name.trim_end_matches(".rs").to_owned())
        .collect()
}

/// The layers as ARCHITECTURE.md lists them: each numbered item of the section "Layers of
/// `app/src`", the modules it names in backticks (`name` or `name/`).
fn documented_layers(text: &str, modules: &BTreeSet<String>) -> Vec<(String, BTreeSet<String>)> {
    let section = text
        .split("## Layers of `app/src`")
        .nth(1)
        .expect("ARCHITECTURE.md has its layers section")
        .split("\n## ")
        .next()
        .unwrap();
    let mut layers: Vec<(String, String)> = Vec::new();
    for line in section.lines() {
        let numbered = line
            .split_once(". ")
            .filter(|(number, _)| !number.is_empty() && number.chars().all(|c| c.is_ascii_digit()));
        if let Some((_, item)) = numbered {
            let name = item.split("**").nth(1).unwrap_or(item).to_owned();
            layers.push((name, item.to_owned()));
        } else if line.starts_with(' ') {
            if let Some((_, item)) = layers.last_mut() {
                item.push(' ');
                item.push_str(line.trim());
            }
        } else if !line.is_empty() && !layers.is_empty() {
            // The first paragraph after the list ends it.
            break;
        }
    }
    layers
        .into_iter()
        .map(|(name, body)| {
            let named = body
                .split('`')
                .skip(1)
                .step_by(2)
                .map(|quoted| quoted.trim_end_matches('/'))
                .filter(|quoted| modules.contains(*quoted))
                .map(str::to_owned)
                .collect();
            (name, named)
        })
        .collect()
}

/// The `.rs` files under `path`.
fn rust_files(path: &Path) -> Vec<PathBuf> {
    if path.is_file() {
        return vec![path.to_owned()];
    }
    let mut files = Vec::new();
    for entry in std::fs::read_dir(path).unwrap() {
        let path = entry.unwrap().path();
        if path.is_dir() {
            files.extend(rust_files(&path));
        } else if path.extension().is_some_and(|ext| ext == "rs") {
            files.push(path);
        }
    }
    files
}

/// The crate's modules that `source` refers to outside its tests: `crate::<name>` and the
/// names of `use crate::{…}` groups.
fn references(source: &str, modules: &BTreeSet<String>) -> BTreeSet<String> {
    let code = source.split("#[cfg(test)]").next().unwrap();
    let mut found = BTreeSet::new();
    for (at, _) in code.match_indices("crate::") {
        // `crate::` and `$crate::`, not another name ending in "crate".
        if code[..at]
            .chars()
            .next_back()
            .is_some_and(|c| c.is_alphanumeric() || c == '_')
        {
            continue;
        }
        let rest = &code[at + "crate::".len()..];
        if let Some(group) = rest.strip_prefix('{') {
            let group = group.split('}').next().unwrap();
            for item in group.split(',') {
                let name = item.trim().split("::").next().unwrap().trim_start_matches('{');
                if modules.contains(name) {
                    found.insert(name.to_owned());
                }
            }
            continue;
        }
        let name: String = rest.chars().take_while(|c| c.is_alphanumeric() || *c == '_').collect();
        if modules.contains(&name) {
            found.insert(name);
        }
    }
    found
}

/// Each module of `app/src`'s references to the other modules, with the file that makes each.
fn import_graph(modules: &BTreeSet<String>) -> BTreeMap<String, BTreeMap<String, PathBuf>> {
    import_graph_of(&app_dir().join("src"), modules)
}

/// Each module's references to the other modules of `src`, with the file that makes each.
fn import_graph_of(src: &Path, modules: &BTreeSet<String>) -> BTreeMap<String, BTreeMap<String, PathBuf>> {
    let mut graph = BTreeMap::new();
    for module in modules {
        let path = if src.join(module).is_dir() {
            src.join(module)
        } else {
            src.join(format!("{module}.rs"))
        };
        let mut edges = BTreeMap::new();
        for file in rust_files(&path) {
            let source = std::fs::read_to_string(&file).unwrap();
            for target in references(&source, modules) {
                if &target != module {
                    edges.entry(target).or_insert_with(|| file.clone());
                }
            }
        }
        graph.insert(module.clone(), edges);
    }
    graph
}

/// A loop among `members` through `graph`'s edges, as the modules along it, if any.
fn find_loop(graph: &BTreeMap<String, BTreeMap<String, PathBuf>>, members: &BTreeSet<String>) -> Option<Vec<String>> {
    fn visit(
        node: &str,
        graph: &BTreeMap<String, BTreeMap<String, PathBuf>>,
        members: &BTreeSet<String>,
        path: &mut Vec<String>,
        done: &mut BTreeSet<String>,
    ) -> Option<Vec<String>> {
        if let Some(start) = path.iter().position(|n| n == node) {
            let mut cycle = path[start..].to_vec();
            cycle.push(node.to_owned());
            return Some(cycle);
        }
        if done.contains(node) {
            return None;
        }
        path.push(node.to_owned());
        for next in graph[node].keys().filter(|next| members.contains(*next)) {
            if let Some(cycle) = visit(next, graph, members, path, done) {
                return Some(cycle);
            }
        }
        path.pop();
        done.insert(node.to_owned());
        None
    }
    let mut done = BTreeSet::new();
    members
        .iter()
        .find_map(|start| visit(start, graph, members, &mut Vec::new(), &mut done))
}

#[test]
fn the_layers_of_app_src_point_down_as_architecture_md_says() {
    let modules = modules();
    let text = std::fs::read_to_string(app_dir().join("../ARCHITECTURE.md")).unwrap();
    let layers = documented_layers(&text, &modules);
    assert!(layers.len() >= 4, "the layers section lists its layers: {layers:?}");

    let mut layer_of: BTreeMap<&str, usize> = BTreeMap::new();
    for (index, (name, named)) in layers.iter().enumerate() {
        for module in named {
            if let Some(other) = layer_of.insert(module, index) {
                panic!(
                    "ARCHITECTURE.md names `{module}` in two layers: {} and {name}",
                    layers[other].0
                );
            }
        }
    }
    let missing: Vec<&String> = modules.iter().filter(|m| !layer_of.contains_key(m.as_str())).collect();
    assert!(
        missing.is_empty(),
        "modules of app/src in no layer of ARCHITECTURE.md: {missing:?}"
    );

    let graph = import_graph(&modules);
    let mut upward = Vec::new();
    for (module, edges) in &graph {
        for (target, file) in edges {
            if layer_of[target.as_str()] > layer_of[module.as_str()] {
                upward.push(format!(
                    "{} ({}) imports {target} ({})",
                    file.strip_prefix(app_dir()).unwrap_or(file).display(),
                    layers[layer_of[module.as_str()]].0,
                    layers[layer_of[target.as_str()]].0
                ));
            }
        }
    }
    assert!(upward.is_empty(), "imports that point up:\n{}", upward.join("\n"));

    for (name, named) in &layers {
        if let Some(cycle) = find_loop(&graph, named) {
            panic!("a loop within the layer {name}: {}", cycle.join(" -> "));
        }
    }
}

#[test]
fn the_import_graph_of_xtask_src_has_no_loop_and_no_platform_imports_another() {
    let src = app_dir().join("../xtask/src");
    let modules = modules_of(&src);
    let graph = import_graph_of(&src, &modules);
    if let Some(cycle) = find_loop(&graph, &modules) {
        panic!("a loop in xtask/src: {}", cycle.join(" -> "));
    }
    for (platform, other) in [("heroku", "aws"), ("aws", "heroku")] {
        assert!(
            !graph[platform].contains_key(other),
            "xtask's {platform} imports {other} ({:?}): what both need belongs in deploy/",
            graph[platform][other]
        );
    }
}

#[test]
fn the_checker_sees_what_it_checks() {
    let modules: BTreeSet<String> = ["db", "admin", "forms", "page_cache"].map(str::to_owned).into();
    // Paths, groups and nested groups; tests and other crates' names are not references.
    let source = "use crate::db::DbConnection;\nuse crate::{admin::model, forms};\n\
                  fn f() { crate::page_cache::clear(); other_crate::admin::x(); }\n\
                  #[cfg(test)]\nmod tests { use crate::admin; }";
    assert_eq!(
        references(source, &modules),
        ["admin", "db", "forms", "page_cache"].map(str::to_owned).into()
    );
    assert!(references("use crate::clock;", &modules).is_empty());
    let text = "## Layers of `app/src`\n\n1. **Low**: `db` and `forms/`.\n2. **High**: `admin`\n   and `page_cache`.\n\nAfter.\n`admin` again.\n";
    let layers = documented_layers(text, &modules);
    assert_eq!(layers.len(), 2);
    assert_eq!(layers[0].0, "Low");
    assert_eq!(layers[0].1, ["db", "forms"].map(str::to_owned).into());
    assert_eq!(layers[1].1, ["admin", "page_cache"].map(str::to_owned).into());
    // A loop is found, and named.
    let mut graph = BTreeMap::new();
    let edge = |to: &str| BTreeMap::from([(to.to_owned(), PathBuf::new())]);
    graph.insert("db".to_owned(), edge("forms"));
    graph.insert("forms".to_owned(), edge("db"));
    graph.insert("admin".to_owned(), edge("db"));
    graph.insert("page_cache".to_owned(), BTreeMap::new());
    let cycle = find_loop(&graph, &modules).unwrap();
    assert_eq!(cycle.first(), cycle.last());
    assert!(cycle.contains(&"db".to_owned()) && cycle.contains(&"forms".to_owned()));
    graph.insert("forms".to_owned(), BTreeMap::new());
    assert_eq!(find_loop(&graph, &modules), None);
}

#[test]
fn admin_paths_are_spelled_in_one_place() {
    // Outside `admin/urls.rs`, no code (comments aside, tests aside) and no template
    // spells an admin path: each takes its links from there.
    let mut spelled = Vec::new();
    for file in rust_files(&app_dir().join("src")) {
        if file.ends_with("admin/urls.rs") {
            continue;
        }
        let source = std::fs::read_to_string(&file).unwrap();
        let code = source.split("#[cfg(test)]").next().unwrap();
        for (number, line) in code.lines().enumerate() {
            if !line.trim_start().starts_with("//") && line.contains("\"/admin") {
                spelled.push(format!("{}:{}: {}", file.display(), number + 1, line.trim()));
            }
        }
    }
    for entry in std::fs::read_dir(app_dir().join("templates/admin")).unwrap() {
        let file = entry.unwrap().path();
        let text = std::fs::read_to_string(&file).unwrap();
        for (number, line) in text.lines().enumerate() {
            if line.contains("\"/admin/") {
                spelled.push(format!("{}:{}: {}", file.display(), number + 1, line.trim()));
            }
        }
    }
    assert!(
        spelled.is_empty(),
        "admin paths spelled outside admin/urls.rs:\n{}",
        spelled.join("\n")
    );
}
