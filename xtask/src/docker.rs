//! `cargo xtask docker build|push`: the static binary, the `FROM scratch` image, and
//! pushing it to Docker Hub (or any registry) with credentials passed on stdin only.

use std::path::PathBuf;
use std::process::Command;
use std::time::Instant;

use anyhow::{bail, Context, Result};

use crate::arch::{toolchain_for, Arch, Toolchain};
use crate::runner::{workspace_root, Runner};
use crate::{env, git};

/// The static binaries' own target directory: no lock contention with a `cargo test` running alongside.
pub const TARGET_DIR: &str = "target/image";

/// `--repo`, else `DOCKER_REPO`, else `$DOCKERHUB_USERNAME/oc-lettings`, else `oc-lettings`.
pub fn repo(flag: Option<String>) -> String {
    flag.or_else(|| env::optional("DOCKER_REPO"))
        .or_else(|| env::optional("DOCKERHUB_USERNAME").map(|user| format!("{user}/oc-lettings")))
        .unwrap_or_else(|| "oc-lettings".to_owned())
}

/// The registry images are pushed to and promoted from: `--registry`, else
/// `DOCKER_REGISTRY`, else Docker Hub.
pub fn registry(flag: Option<String>) -> String {
    flag.or_else(|| env::optional("DOCKER_REGISTRY"))
        .unwrap_or_else(|| crate::registry::DOCKER_HUB.to_owned())
}

/// `DOCKERHUB_USERNAME` and `DOCKERHUB_PASSWORD`, when both are set.
pub fn registry_credentials() -> Option<(String, String)> {
    Some((
        env::optional("DOCKERHUB_USERNAME")?,
        env::optional("DOCKERHUB_PASSWORD")?,
    ))
}

/// An image built from this commit: `repo:sha` and `repo:latest`.
#[derive(Debug, Clone)]
pub struct Image {
    pub repo: String,
    pub sha: String,
}

impl Image {
    pub fn for_commit(repo: String) -> Result<Image> {
        Ok(Image { repo, sha: git::sha()? })
    }

    pub fn sha_tag(&self) -> String {
        format!("{}:{}", self.repo, self.sha)
    }

    pub fn latest_tag(&self) -> String {
        format!("{}:latest", self.repo)
    }

    /// The tag of one architecture's image in a multi-architecture build (`repo:sha-arm64`).
    pub fn arch_tag(&self, arch: Arch) -> String {
        format!("{}:{}-{}", self.repo, self.sha, arch.name())
    }
}

/// A private Docker client configuration (credentials) for one run, removed afterwards:
/// a login never outlives the stage, on a laptop or in CI. The directory is new (never an
/// existing one), readable by its owner only, and removed on SIGINT/SIGTERM too.
pub struct DockerConfig {
    dir: PathBuf,
}

/// The name every private Docker configuration directory starts with.
pub const CONFIG_PREFIX: &str = "oc-xtask-docker-";

impl DockerConfig {
    pub fn new() -> Result<DockerConfig> {
        let mut random = [0u8; 12];
        std::fs::File::open("/dev/urandom")
            .and_then(|mut f| std::io::Read::read_exact(&mut f, &mut random))
            .context("cannot read /dev/urandom")?;
        let suffix: String = random.iter().map(|b| format!("{b:02x}")).collect();
        // A stage killed outright (SIGKILL) left its login behind: a later one sweeps it.
        let swept = crate::cleanup::sweep_stale(&std::env::temp_dir(), CONFIG_PREFIX);
        if swept > 0 {
            eprintln!("removed {swept} Docker configuration(s) left by interrupted stages over a day ago");
        }
        let dir = std::env::temp_dir().join(format!("{CONFIG_PREFIX}{suffix}"));
        create_private_dir(&dir)?;
        crate::cleanup::register(&dir);
        Ok(DockerConfig { dir })
    }

    pub fn docker(&self, runner: &Runner) -> Command {
        let mut command = runner.command("docker");
        command.env("DOCKER_CONFIG", &self.dir);
        command
    }
}

/// Creates `dir` with mode 0700; fails if anything is already there.
fn create_private_dir(dir: &std::path::Path) -> Result<()> {
    #[cfg(unix)]
    {
        use std::os::unix::fs::DirBuilderExt;
        std::fs::DirBuilder::new()
            .mode(0o700)
            .create(dir)
            .with_context(|| format!("cannot create {}", dir.display()))
    }
    #[cfg(not(unix))]
    {
        std::fs::create_dir(dir).with_context(|| format!("cannot create {}", dir.display()))
    }
}

impl Drop for DockerConfig {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.dir);
        crate::cleanup::unregister(&self.dir);
    }
}

fn on_path(program: &str) -> bool {
    std::env::var_os("PATH").is_some_and(|paths| std::env::split_paths(&paths).any(|dir| dir.join(program).is_file()))
}

fn check_toolchain(runner: &Runner, arches: &[Arch]) -> Result<()> {
    if !on_path("docker") {
        bail!("docker build: cannot run `docker`: not found on PATH (install Docker: https://docs.docker.com/engine/install/)");
    }
    for arch in arches {
        check_static_toolchain(runner, *arch)?;
    }
    Ok(())
}

/// `STATIC_TOOLCHAIN`, and the toolchain it means for `arch`.
pub fn toolchain(arch: Arch) -> Result<Toolchain> {
    toolchain_for(arch, env::optional("STATIC_TOOLCHAIN").as_deref(), on_path("musl-gcc"))
}

/// Whether zig can be run: `zig` on PATH, or PyPI's `ziglang` (what cargo-zigbuild finds
/// through `python3 -m ziglang`).
fn zig_available(runner: &Runner) -> bool {
    on_path("zig")
        || runner
            .capture("ziglang", runner.command("python3").args(["-c", "import ziglang"]))
            .is_ok()
}

/// What the static binary for `arch` needs: its Rust target, a C toolchain for it
/// (musl-gcc, or zig with cargo-zigbuild) and an objcopy; each missing one named with
/// the command that installs it.
pub fn check_static_toolchain(runner: &Runner, arch: Arch) -> Result<()> {
    let target = arch.target();
    if objcopy(arch).is_none() {
        bail!(
            "docker build: missing tool {}, needed to keep the site's symbols in the {} binary (`rustup component add llvm-tools`{})",
            if arch == Arch::Amd64 { "objcopy" } else { "llvm-objcopy" },
            arch.name(),
            if arch == Arch::Amd64 { ", or apt-get install binutils" } else { "" }
        );
    }
    match toolchain(arch)? {
        Toolchain::MuslGcc => {}
        Toolchain::Zig => {
            if !on_path("cargo-zigbuild") {
                bail!("docker build: missing tool cargo-zigbuild, needed to build SQLite and ring for {target} without musl-gcc (cargo install --locked cargo-zigbuild)");
            }
            if !zig_available(runner) {
                bail!("docker build: missing zig, the C compiler and linker cargo-zigbuild uses for {target} (pip3 install ziglang)");
            }
        }
    }
    if on_path("rustup") {
        let installed = runner.capture(
            "rustup",
            runner.command("rustup").args(["target", "list", "--installed"]),
        )?;
        if !installed.lines().any(|line| line.trim() == target) {
            bail!("docker build: the Rust target {target} is not installed (rustup target add {target})");
        }
    }
    Ok(())
}

/// The objcopy that keeps the site's symbols in `arch`'s binary: GNU objcopy for amd64
/// where it is installed (Debian's reads x86 files only), else LLVM's, from rustup's
/// `llvm-tools` component (reads both; macOS has no objcopy of its own).
fn objcopy(arch: Arch) -> Option<PathBuf> {
    if arch == Arch::Amd64 && on_path("objcopy") {
        return Some(PathBuf::from("objcopy"));
    }
    let rustc = |what: &str| {
        std::process::Command::new("rustc")
            .args(["--print", what])
            .output()
            .ok()
            .and_then(|o| String::from_utf8(o.stdout).ok())
            .map(|s| s.trim().to_owned())
    };
    let llvm = PathBuf::from(rustc("sysroot")?)
        .join("lib/rustlib")
        .join(rustc("host-tuple")?)
        .join("bin/llvm-objcopy");
    llvm.is_file().then_some(llvm)
}

/// Adds `build` (and its flags) to a `docker` command: an image Heroku's registry takes,
/// a Docker V2 schema 2 manifest for linux/amd64. With BuildKit (buildx) that means no
/// provenance or SBOM attestations; the legacy builder makes none.
pub fn add_image_build(runner: &Runner, docker: &mut Command) {
    add_image_build_for(runner, docker, Arch::Amd64);
}

/// As [`add_image_build`], for `arch`.
pub fn add_image_build_for(runner: &Runner, docker: &mut Command, arch: Arch) {
    if !runner.dry_run && buildx_available(runner) {
        docker.args(["buildx", "build", "--load", "--provenance=false", "--sbom=false"]);
    } else {
        docker.arg("build");
    }
    docker.args(["--platform", &arch.platform()]);
}

/// The architecture the Docker daemon runs on (`docker version`'s server).
fn daemon_arch(runner: &Runner) -> Option<Arch> {
    runner
        .capture(
            "docker version",
            runner
                .command("docker")
                .args(["version", "--format", "{{.Server.Arch}}"]),
        )
        .ok()
        .and_then(|arch| Arch::from_name(arch.trim()))
}

/// Re-labels the image `staging`, built by the classic builder for the daemon's platform
/// from `arch`'s binary, as the `arch` image it is, under `tags`: `docker save`, its
/// config's `architecture` (and arm64's `variant`) set, `docker load`. Its layers are
/// untouched; its id (the config's digest) changes with the config.
fn retarget(runner: &Runner, staging: &str, arch: Arch, tags: &[String]) -> Result<()> {
    runner.step(&format!("retarget {staging} as {}", arch.platform()), || {
        let dir = private_temp_dir("oc-xtask-retarget")?;
        let result = retarget_in(runner, &dir, staging, arch, tags);
        let _ = std::fs::remove_dir_all(&dir);
        let _ = runner.capture("docker rmi", runner.command("docker").args(["rmi", staging]));
        result
    })
}

fn retarget_in(runner: &Runner, dir: &std::path::Path, staging: &str, arch: Arch, tags: &[String]) -> Result<()> {
    #[derive(serde::Deserialize, serde::Serialize)]
    struct Entry {
        #[serde(rename = "Config")]
        config: String,
        #[serde(rename = "RepoTags")]
        repo_tags: Vec<String>,
        #[serde(rename = "Layers")]
        layers: Vec<String>,
    }
    let (saved, tree, fixed) = (dir.join("saved.tar"), dir.join("image"), dir.join("fixed.tar"));
    std::fs::create_dir(&tree).with_context(|| format!("cannot create {}", tree.display()))?;
    let mut save = runner.command("docker");
    save.args(["save", "--output"]).arg(&saved).arg(staging);
    runner.capture("docker save", &mut save)?;
    let mut untar = runner.command("tar");
    untar.arg("-xf").arg(&saved).arg("-C").arg(&tree);
    runner.capture("tar", &mut untar)?;
    let manifest_path = tree.join("manifest.json");
    let text = std::fs::read_to_string(&manifest_path)
        .context("docker save wrote no manifest.json (a Docker with the containerd image store has buildx: use it)")?;
    let mut entries: Vec<Entry> = serde_json::from_str(&text).context("docker save's manifest.json")?;
    let [entry] = entries.as_mut_slice() else {
        bail!("docker save wrote {} images, expected one", entries.len());
    };
    let old = tree.join(&entry.config);
    let mut config: serde_json::Value =
        serde_json::from_slice(&std::fs::read(&old).with_context(|| format!("cannot read {}", old.display()))?)
            .context("the image config")?;
    config["architecture"] = serde_json::Value::String(arch.name().to_owned());
    match arch {
        Arch::Arm64 => config["variant"] = serde_json::Value::String("v8".to_owned()),
        Arch::Amd64 => {
            if let Some(object) = config.as_object_mut() {
                object.remove("variant");
            }
        }
    }
    let bytes = serde_json::to_vec(&config)?;
    let name = format!(
        "{}.json",
        crate::registry::digest_of(&bytes).trim_start_matches("sha256:")
    );
    std::fs::remove_file(&old)?;
    std::fs::write(tree.join(&name), &bytes)?;
    entry.config = name;
    entry.repo_tags = tags.to_vec();
    std::fs::write(&manifest_path, serde_json::to_vec(&entries)?)?;
    let _ = std::fs::remove_file(tree.join("repositories"));
    let mut tar = runner.command("tar");
    tar.arg("-cf").arg(&fixed).arg("-C").arg(&tree).arg(".");
    runner.capture("tar", &mut tar)?;
    let mut load = runner.command("docker");
    load.args(["load", "--quiet", "--input"]).arg(&fixed);
    runner.capture("docker load", &mut load)?;
    Ok(())
}

/// A new owner-only directory under the temporary directory, named `prefix-<random>`.
fn private_temp_dir(prefix: &str) -> Result<PathBuf> {
    let mut random = [0u8; 8];
    std::fs::File::open("/dev/urandom")
        .and_then(|mut f| std::io::Read::read_exact(&mut f, &mut random))
        .context("cannot read /dev/urandom")?;
    let suffix: String = random.iter().map(|b| format!("{b:02x}")).collect();
    let dir = std::env::temp_dir().join(format!("{prefix}-{suffix}"));
    create_private_dir(&dir)?;
    Ok(dir)
}

fn buildx_available(runner: &Runner) -> bool {
    runner
        .capture("docker buildx", runner.command("docker").args(["buildx", "version"]))
        .is_ok()
}

/// The static binary built for the image of `arch`, relative to the workspace root (the
/// Dockerfile's `BINARY`).
pub fn binary_relative(arch: Arch) -> String {
    format!("{TARGET_DIR}/{}/release/oc-lettings", arch.target())
}

/// The static binary built for the image of `arch`.
pub fn binary_path(arch: Arch) -> PathBuf {
    workspace_root().join(binary_relative(arch))
}

pub fn image_exists(runner: &Runner, tag: &str) -> bool {
    runner
        .capture(
            "docker image inspect",
            runner
                .command("docker")
                .args(["image", "inspect", "--format", "{{.Id}}", tag]),
        )
        .is_ok()
}

/// The Cargo features of the static binary: the allocator chosen by measurement
/// (bench/README.md).
pub const STATIC_FEATURES: &str = "mimalloc";

/// Whether cargo-auditable is installed (`cargo auditable`).
fn auditable_available(runner: &Runner) -> bool {
    runner
        .capture("cargo auditable", runner.cargo().args(["auditable", "--version"]))
        .is_ok()
}

/// Builds the static binary (with `features` instead of [`STATIC_FEATURES`] for the
/// bench's allocator trial); returns its path. The commit is not compiled in (the image's
/// environment names it: see `app/src/release.rs`), so a new commit with no source change
/// rebuilds and relinks nothing. With cargo-auditable (CI installs it)
/// the binary carries its dependency list (`.dep-v0`), which Trivy and Grype read from a
/// `FROM scratch` image; without it, one line says so.
pub fn static_binary(runner: &Runner, features: &str, arch: Arch) -> Result<PathBuf> {
    let mut cargo = runner.cargo();
    if runner.dry_run || auditable_available(runner) {
        cargo.arg("auditable");
    } else {
        println!("    note: cargo-auditable is not installed (cargo install cargo-auditable --locked): the binary will carry no dependency list for scanners");
    }
    let build = match toolchain(arch)? {
        Toolchain::MuslGcc => "build",
        Toolchain::Zig => "zigbuild",
    };
    cargo
        .args([
            build,
            "--release",
            "--locked",
            "--package",
            "oc-lettings",
            "--features",
            features,
            "--target",
            arch.target(),
        ])
        .env("CARGO_TARGET_DIR", workspace_root().join(TARGET_DIR));
    if build == "zigbuild" {
        // zig's linker takes `--strip-debug` (the release profile's `strip = "debuginfo"`)
        // as "strip everything": the symbol table would go too. Linked unstripped, the
        // objcopy below removes the DWARF and keeps the site's symbols, as for musl-gcc.
        cargo.env("CARGO_PROFILE_RELEASE_STRIP", "none");
    }
    runner.run("static binary", &mut cargo)?;
    let binary = binary_path(arch);
    // The release profile keeps the symbol table (`strip = "debuginfo"`); the image keeps
    // the site's own symbols only: its functions (`oc_lettings::…`) and its trait impls
    // (`<… as oc_lettings::…>::…`, `<oc_lettings::… as …>::…`), the names Sentry's stack
    // traces show, for +0.1 MB. Not other crates' generic functions instantiated with the
    // site's types (`diesel::…<oc_lettings::…>`): their mangled names are long, 0.4 MB
    // more for frames below the site's own; the whole table (+3 MB) would break the 20 MB
    // budget.
    // Written beside it, then renamed over it: a `docker build` reading the binary at that
    // moment (another build, a test) reads one whole file, never a half-written one.
    let objcopy = objcopy(arch).unwrap_or_else(|| PathBuf::from("objcopy"));
    let stripped = binary.with_extension("stripped");
    runner.run(
        "keep the site's symbols",
        runner
            .command(&objcopy.to_string_lossy())
            .args([
                "--wildcard",
                "--strip-all",
                "--keep-symbol=_ZN11oc_lettings*",
                "--keep-symbol=_ZN*_$LT$oc_lettings*",
                "--keep-symbol=_ZN*$u20$as$u20$oc_lettings*",
            ])
            .arg(&binary)
            .arg(&stripped),
    )?;
    if !runner.dry_run {
        std::fs::rename(&stripped, &binary)
            .with_context(|| format!("cannot replace {} with {}", binary.display(), stripped.display()))?;
    }
    if !runner.dry_run {
        let size = std::fs::metadata(&binary)
            .with_context(|| format!("no binary at {}", binary.display()))?
            .len();
        println!("    {} ({:.1} MB)", binary.display(), size as f64 / 1e6);
    }
    Ok(binary)
}

/// The newest embedded migration, as diesel records it (`2026-11-26-000001_login_throttle`
/// is `20261126000001`).
pub fn newest_migration() -> Result<String> {
    let dir = workspace_root().join("app/migrations/postgres");
    let newest = std::fs::read_dir(&dir)
        .with_context(|| format!("cannot list {}", dir.display()))?
        .filter_map(|entry| entry.ok()?.file_name().into_string().ok())
        .max()
        .with_context(|| format!("no migrations in {}", dir.display()))?;
    Ok(migration_version(&newest))
}

/// A migration directory's name as diesel's version: the part before `_`, digits only.
pub fn migration_version(name: &str) -> String {
    name.split('_')
        .next()
        .unwrap_or(name)
        .chars()
        .filter(char::is_ascii_digit)
        .collect()
}

/// `cargo xtask docker build` for the host's default, amd64 (what Heroku runs).
pub fn build(runner: &Runner, image: &Image) -> Result<()> {
    build_for(runner, image, &[Arch::Amd64])
}

/// The architecture `repo:sha` and `repo:latest` name locally: the host's when it was
/// built, else the first.
pub fn local_default(arches: &[Arch]) -> Arch {
    match Arch::host() {
        Some(host) if arches.contains(&host) => host,
        _ => arches.first().copied().unwrap_or(Arch::Amd64),
    }
}

/// `cargo xtask docker build [--platform linux/amd64,linux/arm64]`: one static binary and
/// one `FROM scratch` image per architecture. One architecture is tagged `repo:sha` and
/// `repo:latest`; with several, each is also `repo:sha-<arch>`, and the two plain tags
/// name the host's (`docker push` makes them an index).
pub fn build_for(runner: &Runner, image: &Image, arches: &[Arch]) -> Result<()> {
    let started = Instant::now();
    if !runner.dry_run {
        check_toolchain(runner, arches)?;
    }
    // The commit's time, not the clock's (the image's BUILD_TIME label and environment).
    let build_time = git::commit_time()?;
    let newest = newest_migration()?;
    let default = local_default(arches);
    // BuildKit (buildx: Docker Desktop, CircleCI) builds any platform's FROM-scratch
    // image; the classic builder only its daemon's own (a foreign platform stops at the
    // first COPY), so there the image is built for the daemon's platform and retargeted
    // afterwards (`retarget`: its config's architecture set). Asked of Docker once.
    let classic_daemon = if runner.dry_run || buildx_available(runner) {
        None
    } else {
        daemon_arch(runner)
    };
    for &arch in arches {
        static_binary(runner, STATIC_FEATURES, arch)?;
        let foreign = classic_daemon.is_some_and(|daemon| daemon != arch);
        let built_as = classic_daemon.filter(|_| foreign).unwrap_or(arch);
        let mut docker = runner.command("docker");
        add_image_build_for(runner, &mut docker, built_as);
        docker.args(["--file", "Dockerfile"]).args([
            "--build-arg",
            &format!("GIT_SHA={}", image.sha),
            "--build-arg",
            &format!("BUILD_TIME={build_time}"),
            "--build-arg",
            &format!("NEWEST_MIGRATION={newest}"),
            "--build-arg",
            &format!("BINARY={}", binary_relative(arch)),
            "--build-arg",
            &format!("TARGETARCH={}", arch.name()),
        ]);
        let mut tags = Vec::new();
        if arches.len() > 1 {
            tags.push(image.arch_tag(arch));
        }
        if arch == default {
            tags.extend([image.sha_tag(), image.latest_tag()]);
        }
        let staging = format!("{}:{}-staging-{}", image.repo, image.sha, arch.name());
        if foreign {
            docker.args(["--tag", &staging]);
        } else {
            for tag in &tags {
                docker.args(["--tag", tag]);
            }
        }
        docker.arg(".");
        runner.run(&format!("image ({})", arch.platform()), &mut docker)?;
        if foreign {
            retarget(runner, &staging, arch, &tags)?;
        }
        if !runner.dry_run {
            let size = runner.capture(
                "image size",
                runner
                    .command("docker")
                    .args(["image", "inspect", "--format", "{{.Size}}", &tags[0]]),
            )?;
            let mb = size.parse::<f64>().unwrap_or(0.0) / 1e6;
            println!("    {} ({mb:.1} MB, {})", tags.join(", "), arch.platform());
        }
    }
    if !runner.dry_run {
        println!(
            "built {} and {} for {} in {:.1}s",
            image.sha_tag(),
            image.latest_tag(),
            arches.iter().map(|a| a.platform()).collect::<Vec<_>>().join(", "),
            started.elapsed().as_secs_f64()
        );
    }
    Ok(())
}

/// The architecture of the local image `reference` (`amd64`, `arm64`).
pub fn local_architecture(runner: &Runner, reference: &str) -> Option<String> {
    runner
        .capture(
            "docker image inspect",
            runner
                .command("docker")
                .args(["image", "inspect", "--format", "{{.Architecture}}", reference]),
        )
        .ok()
        .filter(|v| !v.is_empty())
}

/// The label `name` of the local image `reference`, if it has one.
pub fn local_label(runner: &Runner, reference: &str, name: &str) -> Option<String> {
    runner
        .capture(
            "docker image inspect",
            runner.command("docker").args([
                "image",
                "inspect",
                "--format",
                &format!("{{{{index .Config.Labels \"{name}\"}}}}"),
                reference,
            ]),
        )
        .ok()
        .filter(|v| !v.is_empty() && v != "<no value>")
}

/// Logs in to `registry` (None: Docker Hub) with the password on stdin.
pub fn login(
    runner: &Runner,
    config: &DockerConfig,
    registry: Option<&str>,
    username: &str,
    password: &str,
) -> Result<()> {
    let mut login = config.docker(runner);
    login.args(["login", "--username", username, "--password-stdin"]);
    if let Some(registry) = registry {
        login.arg(registry);
    }
    runner.run_with_secret("docker login", &mut login, password)
}

/// `cargo xtask docker push [--registry HOST] [--platform …]` (`DOCKER_REGISTRY`; Docker
/// Hub by default): `repo:sha` and `repo:latest`; for a multi-architecture build, each
/// architecture's image as `repo:sha-<arch>`, then `repo:sha` and `repo:latest` as an
/// index of them all (a Docker manifest list), so each machine pulls its own.
pub fn push(runner: &Runner, image: &Image, registry: &str, arches: &[Arch]) -> Result<()> {
    let host = (!crate::registry::is_docker_hub(registry)).then_some(registry);
    let mut needed = env::Needed::for_dry_run(runner.dry_run);
    let username = needed.var("DOCKERHUB_USERNAME", "the Docker Hub (or --registry) user to push as");
    let password = needed.var("DOCKERHUB_PASSWORD", "that user's password or access token");
    needed.check()?;
    let multi = arches.len() > 1;
    let local: Vec<(Option<Arch>, String)> = if multi {
        arches.iter().map(|&a| (Some(a), image.arch_tag(a))).collect()
    } else {
        vec![(None, image.sha_tag()), (None, image.latest_tag())]
    };
    if !runner.dry_run {
        if let Some((_, missing)) = local.iter().find(|(_, tag)| !image_exists(runner, tag)) {
            let platforms = arches.iter().map(|a| a.platform()).collect::<Vec<_>>().join(",");
            bail!("no local image {missing}: run `cargo xtask docker build --platform {platforms}` first");
        }
    }
    let config = DockerConfig::new()?;
    login(runner, &config, host, &username, &password)?;
    for (_, tag) in &local {
        let remote = match host {
            Some(host) => format!("{host}/{tag}"),
            None => tag.clone(),
        };
        if &remote != tag {
            runner.run("docker tag", config.docker(runner).args(["tag", tag, &remote]))?;
        }
        runner.run("docker push", config.docker(runner).args(["push", &remote]))?;
    }
    if multi {
        let step = format!(
            "image index: {} and :latest naming {}",
            crate::registry::reference(registry, &image.repo, &image.sha),
            local.iter().map(|(_, t)| t.as_str()).collect::<Vec<_>>().join(", ")
        );
        if runner.dry_run {
            println!("==> {step}");
            return Ok(());
        }
        let digest = runner.step(&step, || push_index(image, registry, arches, (username, password)))?;
        println!(
            "pushed {} ({digest}, {})",
            image.sha_tag(),
            arches.iter().map(|a| a.platform()).collect::<Vec<_>>().join(", ")
        );
        return Ok(());
    }
    if !runner.dry_run {
        let digests = runner.capture(
            "digest",
            config.docker(runner).args([
                "image",
                "inspect",
                "--format",
                "{{join .RepoDigests \" \"}}",
                &image.sha_tag(),
            ]),
        )?;
        println!("pushed {} ({digests})", image.sha_tag());
    }
    Ok(())
}

/// Puts the index of the pushed `repo:sha-<arch>` images under `repo:sha` and
/// `repo:latest`; returns its digest. Each entry is checked to be the architecture it
/// claims (the image config's `architecture`), so an index never misleads a pull.
fn push_index(image: &Image, registry: &str, arches: &[Arch], login: (String, String)) -> Result<String> {
    let registry = crate::registry::Registry::new(registry, Some(login))?;
    let mut manifests = Vec::new();
    for &arch in arches {
        let tag = format!("{}-{}", image.sha, arch.name());
        let manifest = registry
            .manifest_for(&image.repo, &tag, arch)?
            .ok_or_else(|| anyhow::anyhow!("{}:{tag} is not in {} after its push", image.repo, registry.host))?;
        let built_for = registry.architecture(&image.repo, &manifest.config_digest)?;
        if Arch::from_name(&built_for) != Some(arch) {
            bail!("{}:{tag} is an image for {built_for}, not {}", image.repo, arch.name());
        }
        manifests.push((arch, manifest));
    }
    let pairs: Vec<(Arch, &crate::registry::Manifest)> = manifests.iter().map(|(a, m)| (*a, m)).collect();
    let index = crate::registry::Manifest {
        bytes: crate::registry::manifest_list(&pairs),
        media_type: crate::registry::MANIFEST_LIST.to_owned(),
        config_digest: String::new(),
    };
    for tag in [image.sha.as_str(), "latest"] {
        registry.put_manifest(&image.repo, tag, &index)?;
    }
    Ok(index.digest())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn migration_versions_read_as_diesel_records_them() {
        assert_eq!(migration_version("2026-11-26-000001_login_throttle"), "20261126000001");
        assert_eq!(migration_version("2026-12-01-000003"), "20261201000003");
        let newest = newest_migration().unwrap();
        assert_eq!(newest.len(), 14, "{newest}");
    }

    #[test]
    fn the_private_config_is_new_and_owner_only() {
        use std::os::unix::fs::PermissionsExt;
        let config = DockerConfig::new().unwrap();
        let mode = std::fs::metadata(&config.dir).unwrap().permissions().mode() & 0o777;
        assert_eq!(mode, 0o700);
        assert!(
            create_private_dir(&config.dir).is_err(),
            "an existing directory is never reused"
        );
        let dir = config.dir.clone();
        drop(config);
        assert!(!dir.exists(), "removed at the end of the stage");
    }
}
