//! The layering rule of ARCHITECTURE.md, checked on the source: the domain (and everything below
//! it) never reaches up into the wiring. A `use crate::app`, `crate::web`, `crate::ui`, … in a
//! domain module, or a mention of the web layer's `AppState`, of axum or of an HTTP status code,
//! fails this test.
//!
//! The domain takes `&Services` (crates/xads/src/services.rs); `app::AppState` is the web
//! layer's state and wraps it.
//!
//! Also checked here: no module but `clock.rs` reads the system time (`Utc::now`,
//! `SystemTime::now`, `Local::now`); everything asks the injected `Clock`, so tests can move time.

use std::path::{Path, PathBuf};

/// Modules (files or folders under `crates/xads/src`) that form the domain and what is below it.
const LOWER_LAYERS: &[&str] = &[
    // the domain
    "connect.rs",
    "x.rs",
    "manage",
    "media",
    "sync",
    "experiments",
    // below it
    "services.rs",
    "store",
    "limiter",
    "fx.rs",
    "money.rs",
    "crypto.rs",
    "keys.rs",
    "pkce.rs",
    "clock.rs",
    "lease.rs",
    "db.rs",
    "config.rs",
    "redis_conn.rs",
];

/// What a lower layer must not name: the wiring above it.
const FORBIDDEN: &[&str] = &[
    "crate::app",
    "crate::web",
    "crate::ui",
    "crate::cli",
    "crate::commands",
    "crate::demo",
    "AppState",
    "axum",
    // Status codes live in the web layer: the domain returns typed values and errors, and
    // `web::answer` / `web::error` pick the status (issue 14, item 2).
    "StatusCode",
    "http::",
];

fn rust_files(path: &Path, out: &mut Vec<PathBuf>) {
    if path.is_dir() {
        let mut entries: Vec<_> = std::fs::read_dir(path)
            .expect("readable source folder")
            .map(|e| e.expect("readable entry").path())
            .collect();
        entries.sort();
        for p in entries {
            rust_files(&p, out);
        }
    } else if path.extension().is_some_and(|e| e == "rs") {
        out.push(path.to_path_buf());
    }
}

/// The top-level modules named in every `crate::{a, b::{c, d}, …}` group of `code` (whitespace
/// already removed, so groups spread over several lines are read whole).
fn grouped_modules(code: &str) -> Vec<String> {
    let mut modules = Vec::new();
    let mut rest = code;
    while let Some(start) = rest.find("crate::{") {
        rest = &rest[start + "crate::{".len()..];
        let (mut depth, mut item) = (0usize, String::new());
        for c in rest.chars() {
            match c {
                '{' => depth += 1,
                '}' if depth == 0 => break,
                '}' => depth -= 1,
                ',' if depth == 0 => {
                    modules.push(std::mem::take(&mut item));
                    continue;
                }
                _ => {}
            }
            item.push(c);
        }
        modules.push(item);
    }
    modules
        .into_iter()
        .map(|m| m.split("::").next().unwrap_or("").to_string())
        .collect()
}

/// The violations in one file's text: (line number, forbidden name, line); a group import
/// spread over several lines is reported at line 0 with its module.
fn violations(text: &str) -> Vec<(usize, &'static str, String)> {
    let mut found = Vec::new();
    let mut code_only = String::new();
    for (i, line) in text.lines().enumerate() {
        let code = line.trim_start();
        if code.starts_with("//") {
            continue;
        }
        let squeezed: String = code.chars().filter(|c| !c.is_whitespace()).collect();
        code_only.push_str(&squeezed);
        for name in FORBIDDEN {
            if squeezed.contains(name) {
                found.push((i + 1, *name, line.to_string()));
            }
        }
    }
    for module in grouped_modules(&code_only) {
        if let Some(name) = FORBIDDEN
            .iter()
            .find(|f| f.strip_prefix("crate::") == Some(module.as_str()))
        {
            found.push((0, *name, format!("use crate::{{… {module} …}}")));
        }
    }
    found
}

#[test]
fn the_domain_does_not_import_the_wiring() {
    let src = Path::new(env!("CARGO_MANIFEST_DIR")).join("src");
    let mut files = Vec::new();
    for module in LOWER_LAYERS {
        let path = src.join(module);
        assert!(path.exists(), "{} is listed but missing", path.display());
        rust_files(&path, &mut files);
    }
    assert!(files.len() > 20, "too few files read: {files:?}");
    let mut problems = Vec::new();
    for file in &files {
        let text = std::fs::read_to_string(file).expect("readable source file");
        for (line, name, code) in violations(&text) {
            problems.push(format!(
                "{}:{line}: names `{name}`: {}",
                file.display(),
                code.trim()
            ));
        }
    }
    assert!(
        problems.is_empty(),
        "lower layers reach into the wiring (take `&Services` instead):\n{}",
        problems.join("\n")
    );
}

#[test]
fn the_check_sees_each_form_of_import() {
    for bad in [
        "use crate::app::AppState;",
        "use crate::web::error::ApiError;",
        "use crate::{store, web};",
        "use crate::{ui::html, store};",
        "use crate::{\n    store::{self, entities},\n    web::error,\n};",
        "fn f(s: &crate::app::AppState) {}",
        "let r = axum::Router::new();",
        "Ok(Answer { status: http::StatusCode::CREATED, body })",
        "fn status(&self) -> StatusCode {",
    ] {
        assert!(!violations(bad).is_empty(), "not caught: {bad}");
    }
    for fine in [
        "use crate::services::Services;",
        "// crate::app is the wiring",
        "use crate::{store, services};",
        "use crate::{\n    store::{web_like, entities},\n    services,\n};",
        "let url = \"http://127.0.0.1:9/12/accounts\";",
    ] {
        assert!(violations(fine).is_empty(), "wrongly caught: {fine}");
    }
}

/// Ways of reading the system time that must go through `clock::Clock`.
const WALL_CLOCK_READS: &[&str] = &["Utc::now", "SystemTime::now", "Local::now"];

/// Files under `crates/xads/src` allowed to read the system time, with the reason.
const WALL_CLOCK_ALLOWED: &[(&str, &str)] = &[(
    "clock.rs",
    "the injected clock itself: system time plus the tests' offset",
)];

/// The lines of `text` (outside comments) that read the system time: (line number, line).
fn wall_clock_reads(text: &str) -> Vec<(usize, String)> {
    text.lines()
        .enumerate()
        .filter(|(_, line)| !line.trim_start().starts_with("//"))
        .filter(|(_, line)| {
            let squeezed: String = line.chars().filter(|c| !c.is_whitespace()).collect();
            WALL_CLOCK_READS.iter().any(|r| squeezed.contains(r))
        })
        .map(|(i, line)| (i + 1, line.to_string()))
        .collect()
}

#[test]
fn only_the_clock_reads_the_system_time() {
    let src = Path::new(env!("CARGO_MANIFEST_DIR")).join("src");
    let mut files = Vec::new();
    rust_files(&src, &mut files);
    assert!(files.len() > 50, "too few files read: {files:?}");
    let mut problems = Vec::new();
    for file in &files {
        let relative = file.strip_prefix(&src).expect("under src");
        if WALL_CLOCK_ALLOWED
            .iter()
            .any(|(allowed, _)| relative == Path::new(allowed))
        {
            continue;
        }
        let text = std::fs::read_to_string(file).expect("readable source file");
        for (line, code) in wall_clock_reads(&text) {
            problems.push(format!("{}:{line}: {}", file.display(), code.trim()));
        }
    }
    assert!(
        problems.is_empty(),
        "the system time read outside clock.rs (use `Services::clock` or pass a `Clock`):\n{}",
        problems.join("\n")
    );
}

#[test]
fn the_clock_check_sees_each_form_of_reading_the_time() {
    for bad in [
        "let now = Utc::now();",
        "let now = chrono::Utc::now().timestamp();",
        "let f: fn() -> DateTime<Utc> = Utc :: now;",
        "let t = std::time::SystemTime::now();",
        "let l = chrono::Local::now();",
    ] {
        assert_eq!(wall_clock_reads(bad).len(), 1, "not caught: {bad}");
    }
    for fine in [
        "let now = state.clock.now();",
        "// Utc::now() is read only by the clock",
        "let started = std::time::Instant::now();",
    ] {
        assert!(wall_clock_reads(fine).is_empty(), "wrongly caught: {fine}");
    }
}

/// Public type names that two different things still share, with the reason (to be emptied).
const SHARED_NAMES_ALLOWED: &[(&str, &str)] = &[];

/// The public types (`pub struct|enum|trait|type Name`) declared in `text`.
fn public_types(text: &str) -> Vec<String> {
    let mut names = Vec::new();
    for line in text.lines() {
        let code = line.trim_start();
        for kw in ["pub struct ", "pub enum ", "pub trait ", "pub type "] {
            if let Some(rest) = code.strip_prefix(kw) {
                let name: String = rest
                    .chars()
                    .take_while(|c| c.is_alphanumeric() || *c == '_')
                    .collect();
                // `pub struct $name` in a macro declares no name of its own.
                if !name.is_empty() {
                    names.push(name);
                }
            }
        }
    }
    names
}

/// Two different things never share a name: across the service and the client crate (the fake
/// keeps its own copy of X's vocabulary on purpose), no public type name is declared twice.
#[test]
fn no_two_public_types_share_a_name() {
    let crates = Path::new(env!("CARGO_MANIFEST_DIR")).join("..");
    let mut files = Vec::new();
    rust_files(&crates.join("xads/src"), &mut files);
    rust_files(&crates.join("xads-client/src"), &mut files);
    let mut seen: std::collections::BTreeMap<String, Vec<String>> = Default::default();
    for file in &files {
        let text = std::fs::read_to_string(file).expect("readable source file");
        for name in public_types(&text) {
            seen.entry(name).or_default().push(
                file.strip_prefix(&crates)
                    .unwrap_or(file)
                    .display()
                    .to_string(),
            );
        }
    }
    assert!(seen.len() > 100, "too few types read: {}", seen.len());
    let shared: Vec<String> = seen
        .iter()
        .filter(|(name, at)| at.len() > 1 && !SHARED_NAMES_ALLOWED.iter().any(|(n, _)| n == name))
        .map(|(name, at)| format!("{name}: {}", at.join(", ")))
        .collect();
    assert!(
        shared.is_empty(),
        "public type names declared twice (rename one side):\n{}",
        shared.join("\n")
    );
    assert_eq!(
        public_types("pub struct A<T> {\n  pub enum B {\npub(crate) struct C;"),
        ["A", "B"]
    );
}
