//! Embeds `library/` into the binary: every file becomes a `(path, bytes)` pair in
//! `$OUT_DIR/library.rs`, included by `src/catalog/embedded.rs`.

use std::fmt::Write as _;
use std::path::Path;

fn walk(root: &Path, dir: &Path, out: &mut Vec<(String, String)>) {
    let Ok(entries) = std::fs::read_dir(dir) else {
        return;
    };
    let mut entries: Vec<_> = entries.flatten().collect();
    entries.sort_by_key(|e| e.file_name());
    for entry in entries {
        let path = entry.path();
        let Ok(kind) = entry.file_type() else {
            continue;
        };
        if kind.is_dir() {
            walk(root, &path, out);
        } else if kind.is_file() {
            let rel = path
                .strip_prefix(root)
                .expect("walked paths are under the root")
                .to_string_lossy()
                .replace('\\', "/");
            out.push((rel, path.display().to_string()));
        }
    }
}

fn main() {
    // On Linux with glibc 2.36 or later (the first whose loader reads them), the programs'
    // relative relocations are packed (DT_RELR; binutils 2.38 makes them, older ones ignore
    // the option): the loader reads a table of a few kilobytes instead of ~470 KB at every
    // start. The executable stays position-independent (docs/benchmarks.md says why).
    if packs_relocations() {
        println!("cargo:rustc-link-arg-bins=-Wl,-z,pack-relative-relocs");
    }
    let manifest = std::env::var("CARGO_MANIFEST_DIR").expect("cargo sets CARGO_MANIFEST_DIR");
    let root = Path::new(&manifest).join("library");
    println!("cargo:rerun-if-changed=library");
    let mut files = Vec::new();
    walk(&root, &root, &mut files);
    let mut code = String::from("pub static FILES: &[(&str, &[u8])] = &[\n");
    for (rel, abs) in &files {
        writeln!(code, "    ({rel:?}, include_bytes!({abs:?})),").expect("writing to a String");
    }
    code.push_str("];\n");
    let out = Path::new(&std::env::var("OUT_DIR").expect("cargo sets OUT_DIR")).join("library.rs");
    std::fs::write(out, code).expect("OUT_DIR is writable");
}

/// Whether to link with packed relative relocations: building for this very Linux/glibc system
/// (not cross-compiling), whose glibc (`getconf GNU_LIBC_VERSION`) is 2.36 or later.
fn packs_relocations() -> bool {
    let var = |name: &str| std::env::var(name).unwrap_or_default();
    if var("CARGO_CFG_TARGET_OS") != "linux"
        || var("CARGO_CFG_TARGET_ENV") != "gnu"
        || var("HOST") != var("TARGET")
    {
        return false;
    }
    let Ok(out) = std::process::Command::new("getconf")
        .arg("GNU_LIBC_VERSION")
        .output()
    else {
        return false;
    };
    let text = String::from_utf8_lossy(&out.stdout);
    let Some(version) = text.trim().strip_prefix("glibc ") else {
        return false;
    };
    let mut parts = version.split('.').map(|p| p.parse::<u32>().unwrap_or(0));
    let (major, minor) = (parts.next().unwrap_or(0), parts.next().unwrap_or(0));
    (major, minor) >= (2, 36)
}
