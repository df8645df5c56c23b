//! `cargo xtask docker build|push`: the static binary, the `FROM scratch` image, and
//! pushing it to Docker Hub (or any registry) with credentials passed on stdin only.

use std::path::PathBuf;
use std::process::Command;
use std::time::Instant;

use anyhow::{bail, Context, Result};

use crate::runner::{workspace_root, Runner};
use crate::{env, git};

/// The target of the static binary.
pub const TARGET: &str = "x86_64-unknown-linux-musl";
/// Its own target directory: no lock contention with a `cargo test` running alongside.
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
}

/// A private Docker client configuration (credentials) for one run, removed afterwards:
/// a login never outlives the stage, on a laptop or in CI. The directory is new (never an
/// existing one), readable by its owner only, and removed on SIGINT/SIGTERM too.
pub struct DockerConfig {
    dir: PathBuf,
}

impl DockerConfig {
    pub fn new() -> Result<DockerConfig> {
        let mut random = [0u8; 12];
        std::fs::File::open("/dev/urandom")
            .and_then(|mut f| std::io::Read::read_exact(&mut f, &mut random))
            .context("cannot read /dev/urandom")?;
        let suffix: String = random.iter().map(|b| format!("{b:02x}")).collect();
        let dir = std::env::temp_dir().join(format!("oc-xtask-docker-{suffix}"));
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

fn check_toolchain(runner: &Runner) -> Result<()> {
    if !on_path("docker") {
        bail!("docker build: cannot run `docker`: not found on PATH (install Docker: https://docs.docker.com/engine/install/)");
    }
    check_static_toolchain(runner)
}

/// What the static binary needs: musl-gcc and the Rust musl target.
pub fn check_static_toolchain(runner: &Runner) -> Result<()> {
    if !on_path("objcopy") {
        bail!("docker build: missing tool objcopy, needed to keep the site's symbols in the static binary (apt-get install binutils)");
    }
    if !on_path("musl-gcc") {
        bail!("docker build: missing tool musl-gcc, needed to build SQLite and ring (rustls' cryptography) for {TARGET} (apt-get install musl-tools)");
    }
    if on_path("rustup") {
        let installed = runner.capture(
            "rustup",
            runner.command("rustup").args(["target", "list", "--installed"]),
        )?;
        if !installed.lines().any(|line| line.trim() == TARGET) {
            bail!("docker build: the Rust target {TARGET} is not installed (rustup target add {TARGET})");
        }
    }
    Ok(())
}

/// Adds `build` (and its flags) to a `docker` command: an image Heroku's registry takes,
/// a Docker V2 schema 2 manifest for linux/amd64. With BuildKit (buildx) that means no
/// provenance or SBOM attestations; the legacy builder makes none.
pub fn add_image_build(runner: &Runner, docker: &mut Command) {
    if !runner.dry_run && buildx_available(runner) {
        docker.args(["buildx", "build", "--load", "--provenance=false", "--sbom=false"]);
    } else {
        docker.arg("build");
    }
    docker.args(["--platform", "linux/amd64"]);
}

fn buildx_available(runner: &Runner) -> bool {
    runner
        .capture("docker buildx", runner.command("docker").args(["buildx", "version"]))
        .is_ok()
}

/// The static binary built for the image.
pub fn binary_path() -> PathBuf {
    workspace_root()
        .join(TARGET_DIR)
        .join(TARGET)
        .join("release/oc-lettings")
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
pub fn static_binary(runner: &Runner, features: &str) -> Result<PathBuf> {
    let mut cargo = runner.cargo();
    if runner.dry_run || auditable_available(runner) {
        cargo.arg("auditable");
    } else {
        println!("    note: cargo-auditable is not installed (cargo install cargo-auditable --locked): the binary will carry no dependency list for scanners");
    }
    cargo
        .args([
            "build",
            "--release",
            "--locked",
            "--package",
            "oc-lettings",
            "--features",
            features,
            "--target",
            TARGET,
        ])
        .env("CARGO_TARGET_DIR", workspace_root().join(TARGET_DIR));
    runner.run("static binary", &mut cargo)?;
    // The release profile keeps the symbol table (`strip = "debuginfo"`); the image keeps
    // the site's own symbols only: its functions (`oc_lettings::…`) and its trait impls
    // (`<… as oc_lettings::…>::…`, `<oc_lettings::… as …>::…`), the names Sentry's stack
    // traces show, for +0.1 MB. Not other crates' generic functions instantiated with the
    // site's types (`diesel::…<oc_lettings::…>`): their mangled names are long, 0.4 MB
    // more for frames below the site's own; the whole table (+3 MB) would break the 20 MB
    // budget.
    runner.run(
        "keep the site's symbols",
        runner
            .command("objcopy")
            .args([
                "--wildcard",
                "--strip-all",
                "--keep-symbol=_ZN11oc_lettings*",
                "--keep-symbol=_ZN*_$LT$oc_lettings*",
                "--keep-symbol=_ZN*$u20$as$u20$oc_lettings*",
            ])
            .arg(binary_path())
            .arg(binary_path()),
    )?;
    if !runner.dry_run {
        let size = std::fs::metadata(binary_path())
            .with_context(|| format!("no binary at {}", binary_path().display()))?
            .len();
        println!("    {} ({:.1} MB)", binary_path().display(), size as f64 / 1e6);
    }
    Ok(binary_path())
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

/// `cargo xtask docker build`
pub fn build(runner: &Runner, image: &Image) -> Result<()> {
    let started = Instant::now();
    if !runner.dry_run {
        check_toolchain(runner)?;
    }
    // The commit's time, not the clock's (the image's BUILD_TIME label and environment).
    let build_time = git::commit_time()?;
    static_binary(runner, STATIC_FEATURES)?;

    let mut docker = runner.command("docker");
    add_image_build(runner, &mut docker);
    docker
        .args(["--file", "Dockerfile"])
        .args([
            "--build-arg",
            &format!("GIT_SHA={}", image.sha),
            "--build-arg",
            &format!("BUILD_TIME={build_time}"),
            "--build-arg",
            &format!("NEWEST_MIGRATION={}", newest_migration()?),
        ])
        .args(["--tag", &image.sha_tag(), "--tag", &image.latest_tag(), "."]);
    runner.run("image", &mut docker)?;
    if !runner.dry_run {
        let size = runner.capture(
            "image size",
            runner
                .command("docker")
                .args(["image", "inspect", "--format", "{{.Size}}", &image.sha_tag()]),
        )?;
        let mb = size.parse::<f64>().unwrap_or(0.0) / 1e6;
        println!(
            "built {} and {} ({mb:.1} MB) in {:.1}s",
            image.sha_tag(),
            image.latest_tag(),
            started.elapsed().as_secs_f64()
        );
    }
    Ok(())
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

/// `cargo xtask docker push [--registry HOST]` (`DOCKER_REGISTRY`; Docker Hub by default)
pub fn push(runner: &Runner, image: &Image, registry: &str) -> Result<()> {
    let registry = (!crate::registry::is_docker_hub(registry)).then_some(registry);
    let mut needed = env::Needed::default();
    let username = needed.var("DOCKERHUB_USERNAME", "the Docker Hub (or --registry) user to push as");
    let password = needed.var("DOCKERHUB_PASSWORD", "that user's password or access token");
    needed.check()?;
    if !runner.dry_run && !image_exists(runner, &image.sha_tag()) {
        bail!(
            "no local image {}: run `cargo xtask docker build` first",
            image.sha_tag()
        );
    }
    let config = DockerConfig::new()?;
    login(runner, &config, registry, &username, &password)?;
    for tag in [image.sha_tag(), image.latest_tag()] {
        let remote = match registry {
            Some(host) => format!("{host}/{tag}"),
            None => tag.clone(),
        };
        if remote != tag {
            runner.run("docker tag", config.docker(runner).args(["tag", &tag, &remote]))?;
        }
        runner.run("docker push", config.docker(runner).args(["push", &remote]))?;
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
