//! Embeds the shipped SQL models (`sql/**`) so the binary builds a warehouse from anywhere; a
//! `sql/` folder next to where govmedia runs (or `--models DIR`) takes precedence.

use std::fs;
use std::path::Path;

fn collect(dir: &Path, root: &Path, out: &mut Vec<String>) {
    let Ok(entries) = fs::read_dir(dir) else { return };
    let mut paths: Vec<_> = entries.filter_map(|e| e.ok()).map(|e| e.path()).collect();
    paths.sort();
    for p in paths {
        if p.is_dir() {
            collect(&p, root, out);
        } else if matches!(p.extension().and_then(|e| e.to_str()), Some("sql") | Some("toml")) {
            let rel = p.strip_prefix(root).expect("under root").to_string_lossy().replace('\\', "/");
            out.push(rel);
        }
    }
}

fn main() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let sql = root.join("sql");
    println!("cargo:rerun-if-changed=sql");
    let mut files = Vec::new();
    collect(&sql, &sql, &mut files);
    let mut code =
        String::from("/// (path under sql/, contents) of every shipped model file.\npub static EMBEDDED: &[(&str, &str)] = &[\n");
    for f in &files {
        code.push_str(&format!("    ({f:?}, include_str!(concat!(env!(\"CARGO_MANIFEST_DIR\"), \"/sql/{f}\"))),\n"));
    }
    code.push_str("];\n");
    let out = Path::new(&std::env::var("OUT_DIR").expect("OUT_DIR")).join("embedded_models.rs");
    fs::write(out, code).expect("write embedded_models.rs");
}
