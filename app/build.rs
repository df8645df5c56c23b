//! Build script: embeds `static/` (content-hashed names, brotli and gzip variants computed
//! here, once) and `templates/` into the binary, so nothing is read from disk at run time
//! and a missing asset is a build or test failure, never a failed request.

use std::error::Error;
use std::fmt::Write as _;
use std::fs;
use std::io::Write as _;
use std::path::{Path, PathBuf};

use sha2::{Digest, Sha256};

type BuildResult<T> = Result<T, Box<dyn Error>>;

fn main() -> BuildResult<()> {
    println!("cargo:rerun-if-changed=static");
    println!("cargo:rerun-if-changed=templates");
    println!("cargo:rerun-if-changed=migrations");
    println!("cargo:rerun-if-changed=data/common-passwords.txt.gz");
    common_passwords()?;
    // The global allocator (features `mimalloc`/`jemalloc`; `system` otherwise): `--version`.
    let allocator = match (
        std::env::var_os("CARGO_FEATURE_MIMALLOC").is_some(),
        std::env::var_os("CARGO_FEATURE_JEMALLOC").is_some(),
    ) {
        (true, true) => return Err("choose one allocator feature: mimalloc or jemalloc".into()),
        (true, false) => "mimalloc",
        (false, true) => "jemalloc",
        (false, false) => "system",
    };
    println!("cargo:rustc-env=OC_ALLOCATOR={allocator}");
    let manifest = PathBuf::from(std::env::var("CARGO_MANIFEST_DIR")?);
    let out = PathBuf::from(std::env::var("OUT_DIR")?);
    write_asset_table(&manifest.join("static"), &out)?;
    write_template_table(&manifest.join("templates"), &out)?;
    Ok(())
}

/// Every regular file below `root`, as (path relative to root with `/`, absolute path), sorted.
fn files_below(root: &Path) -> BuildResult<Vec<(String, PathBuf)>> {
    let mut found = Vec::new();
    let mut pending = vec![root.to_path_buf()];
    while let Some(dir) = pending.pop() {
        for entry in fs::read_dir(&dir)? {
            let path = entry?.path();
            if path.is_dir() {
                pending.push(path);
            } else if path.is_file() {
                let relative = path.strip_prefix(root)?;
                let name = relative
                    .components()
                    .map(|c| c.as_os_str().to_string_lossy().into_owned())
                    .collect::<Vec<_>>()
                    .join("/");
                if !name.split('/').any(|part| part.starts_with('.')) {
                    found.push((name, fs::canonicalize(&path)?));
                }
            }
        }
    }
    found.sort();
    Ok(found)
}

fn content_type(name: &str) -> &'static str {
    match name.rsplit_once('.').map(|(_, ext)| ext) {
        Some("css") => "text/css; charset=utf-8",
        Some("js") => "text/javascript; charset=utf-8",
        Some("svg") => "image/svg+xml",
        Some("png") => "image/png",
        Some("jpg" | "jpeg") => "image/jpeg",
        Some("ico") => "image/x-icon",
        Some("webp") => "image/webp",
        Some("woff2") => "font/woff2",
        Some("woff") => "font/woff",
        Some("txt") => "text/plain; charset=utf-8",
        Some("json") => "application/json",
        Some("webmanifest") => "application/manifest+json",
        _ => "application/octet-stream",
    }
}

/// Compressing already-compressed formats wastes bytes and CPU.
fn compressible(name: &str) -> bool {
    !matches!(
        name.rsplit_once('.').map(|(_, ext)| ext),
        Some("png" | "jpg" | "jpeg" | "webp" | "woff2" | "woff" | "gz" | "br")
    )
}

/// `css/styles.css` + hash -> `css/styles.0123456789ab.css`, as Django's manifest storage does.
fn hashed_name(name: &str, hash: &str) -> String {
    let (dir, file) = match name.rsplit_once('/') {
        Some((dir, file)) => (format!("{dir}/"), file),
        None => (String::new(), name),
    };
    match file.rsplit_once('.') {
        Some((stem, ext)) if !stem.is_empty() => format!("{dir}{stem}.{hash}.{ext}"),
        _ => format!("{dir}{file}.{hash}"),
    }
}

fn brotli(data: &[u8]) -> BuildResult<Vec<u8>> {
    let mut out = Vec::new();
    {
        let mut writer = brotli::CompressorWriter::new(&mut out, 4096, 11, 22);
        writer.write_all(data)?;
    }
    Ok(out)
}

fn gzip(data: &[u8]) -> BuildResult<Vec<u8>> {
    let mut encoder = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::best());
    encoder.write_all(data)?;
    Ok(encoder.finish()?)
}

/// A compressed variant is kept only when it saves bytes (as Whitenoise does).
fn variant(out: &Path, index: usize, ext: &str, data: &[u8], original: usize) -> BuildResult<String> {
    if data.len() >= original {
        return Ok("None".to_owned());
    }
    let path = out.join(format!("asset-{index}.{ext}"));
    fs::write(&path, data)?;
    Ok(format!("Some(include_bytes!({:?}))", path.to_string_lossy()))
}

fn write_asset_table(root: &Path, out: &Path) -> BuildResult<()> {
    let mut code = String::from("pub(crate) static ASSETS: &[Asset] = &[\n");
    for (index, (name, path)) in files_below(root)?.into_iter().enumerate() {
        let data = fs::read(&path)?;
        let digest = Sha256::digest(&data);
        let hex: String = digest.iter().map(|b| format!("{b:02x}")).collect();
        let short = &hex[..12];
        let (br, gz) = if compressible(&name) {
            (
                variant(out, index, "br", &brotli(&data)?, data.len())?,
                variant(out, index, "gz", &gzip(&data)?, data.len())?,
            )
        } else {
            ("None".to_owned(), "None".to_owned())
        };
        writeln!(
            code,
            "    Asset {{ name: {name:?}, hashed_name: {hashed:?}, content_type: {ct:?}, \
             hash: {hash:?}, identity: include_bytes!({path:?}), brotli: {br}, gzip: {gz} }},",
            hashed = hashed_name(&name, short),
            ct = content_type(&name),
            hash = &hex[..32],
            path = path.to_string_lossy(),
        )?;
    }
    code.push_str("];\n");
    fs::write(out.join("assets_table.rs"), code)?;
    Ok(())
}

fn write_template_table(root: &Path, out: &Path) -> BuildResult<()> {
    let mut code = String::from("pub(crate) static TEMPLATE_SOURCES: &[(&str, &str)] = &[\n");
    for (name, path) in files_below(root)? {
        writeln!(code, "    ({name:?}, include_str!({:?})),", path.to_string_lossy())?;
    }
    code.push_str("];\n");
    fs::write(out.join("templates_table.rs"), code)?;
    Ok(())
}

/// Django's list of 20 000 common passwords (lower-case, one a line), inflated into
/// OUT_DIR for `include_str!` (`password_rules`).
fn common_passwords() -> BuildResult<()> {
    use std::io::Read;
    let gz = std::fs::read("data/common-passwords.txt.gz")?;
    let mut text = String::new();
    flate2::read::GzDecoder::new(&gz[..]).read_to_string(&mut text)?;
    let out = std::path::PathBuf::from(std::env::var("OUT_DIR")?).join("common-passwords.txt");
    std::fs::write(out, text)?;
    Ok(())
}
