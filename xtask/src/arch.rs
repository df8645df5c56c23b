//! The CPU architectures the image is built for, and how a static binary is compiled for
//! each: musl-gcc (Debian's musl-tools) for amd64 on a Linux x86_64 host that has it, else
//! zig as the C compiler and linker (`cargo zigbuild`), from Linux or macOS.

use anyhow::{bail, Result};

/// One architecture of the image.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum Arch {
    Amd64,
    Arm64,
}

impl Arch {
    /// The Rust target of its static binary.
    pub fn target(self) -> &'static str {
        match self {
            Arch::Amd64 => "x86_64-unknown-linux-musl",
            Arch::Arm64 => "aarch64-unknown-linux-musl",
        }
    }

    /// Its name in an image's config and an index (OCI `architecture`).
    pub fn name(self) -> &'static str {
        match self {
            Arch::Amd64 => "amd64",
            Arch::Arm64 => "arm64",
        }
    }

    /// Docker's `--platform` value.
    pub fn platform(self) -> String {
        format!("linux/{}", self.name())
    }

    /// From an OCI `architecture` (`amd64`, `arm64`) or ECS's `cpuArchitecture`
    /// (`X86_64`, `ARM64`).
    pub fn from_name(name: &str) -> Option<Arch> {
        match name.to_ascii_lowercase().as_str() {
            "amd64" | "x86_64" => Some(Arch::Amd64),
            "arm64" | "aarch64" => Some(Arch::Arm64),
            _ => None,
        }
    }

    /// The machine xtask runs on, when it is one of the two.
    pub fn host() -> Option<Arch> {
        Arch::from_name(std::env::consts::ARCH)
    }
}

/// `--platform linux/amd64,linux/arm64` as architectures, in that order, each once.
pub fn parse_platforms(value: &str) -> Result<Vec<Arch>> {
    let mut arches = Vec::new();
    for part in value.split(',').map(str::trim).filter(|p| !p.is_empty()) {
        let arch = part.strip_prefix("linux/").and_then(Arch::from_name).ok_or_else(|| {
            anyhow::anyhow!("--platform {part}: the image is built for linux/amd64 and linux/arm64 only")
        })?;
        if !arches.contains(&arch) {
            arches.push(arch);
        }
    }
    if arches.is_empty() {
        bail!("--platform: name at least one of linux/amd64, linux/arm64");
    }
    arches.sort();
    Ok(arches)
}

/// How the C parts (SQLite, ring, mimalloc) and the link of a static binary are done.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Toolchain {
    /// `cargo build` with Debian's musl-gcc: amd64 on a Linux x86_64 host.
    MuslGcc,
    /// `cargo zigbuild`: zig compiles the C code and links, for any target, from Linux or
    /// macOS (cargo-zigbuild from crates.io, zig from PyPI's `ziglang`).
    Zig,
}

/// The toolchain for `arch`: `STATIC_TOOLCHAIN=zig|musl-gcc` when set, else musl-gcc
/// where it can build that target here (amd64 on Linux x86_64 with musl-gcc on PATH),
/// else zig.
pub fn toolchain_for(arch: Arch, chosen: Option<&str>, musl_gcc_on_path: bool) -> Result<Toolchain> {
    match chosen {
        Some("zig") => return Ok(Toolchain::Zig),
        Some("musl-gcc") if arch == Arch::Amd64 => return Ok(Toolchain::MuslGcc),
        Some("musl-gcc") => bail!("STATIC_TOOLCHAIN=musl-gcc builds amd64 only; {} needs zig", arch.name()),
        Some(other) => bail!("STATIC_TOOLCHAIN={other}: use zig or musl-gcc"),
        None => {}
    }
    let native = cfg!(target_os = "linux") && Arch::host() == Some(Arch::Amd64);
    Ok(if arch == Arch::Amd64 && native && musl_gcc_on_path {
        Toolchain::MuslGcc
    } else {
        Toolchain::Zig
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn platforms_parse_in_one_order_and_refuse_the_rest() {
        assert_eq!(
            parse_platforms("linux/arm64, linux/amd64,linux/arm64").unwrap(),
            [Arch::Amd64, Arch::Arm64]
        );
        assert_eq!(parse_platforms("linux/amd64").unwrap(), [Arch::Amd64]);
        let err = parse_platforms("linux/riscv64").unwrap_err().to_string();
        assert!(err.contains("linux/amd64 and linux/arm64 only"), "{err}");
        assert!(parse_platforms("windows/amd64").is_err());
        assert!(parse_platforms(" , ").is_err());
        assert_eq!(Arch::from_name("X86_64"), Some(Arch::Amd64));
        assert_eq!(Arch::from_name("ARM64"), Some(Arch::Arm64));
    }

    #[test]
    fn zig_builds_what_musl_gcc_cannot() {
        assert_eq!(toolchain_for(Arch::Arm64, None, true).unwrap(), Toolchain::Zig);
        assert_eq!(toolchain_for(Arch::Amd64, None, false).unwrap(), Toolchain::Zig);
        assert_eq!(toolchain_for(Arch::Amd64, Some("zig"), true).unwrap(), Toolchain::Zig);
        assert!(toolchain_for(Arch::Arm64, Some("musl-gcc"), true).is_err());
        assert!(toolchain_for(Arch::Amd64, Some("gcc"), true).is_err());
        if cfg!(target_os = "linux") && cfg!(target_arch = "x86_64") {
            assert_eq!(toolchain_for(Arch::Amd64, None, true).unwrap(), Toolchain::MuslGcc);
        }
    }
}
