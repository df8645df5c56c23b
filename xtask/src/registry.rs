//! A small client of the OCI distribution API (Docker Hub, Heroku's registry, ECR, the
//! tests' loopback registry): read a manifest and its image config (labels), and put a
//! manifest under another tag. Credentials go in Basic auth, or, when the registry asks
//! for a bearer token (Docker Hub), to the token service it names.

use std::collections::HashMap;

use anyhow::{anyhow, bail, Result};
use reqwest::blocking::{Client, RequestBuilder, Response};
use reqwest::StatusCode;
use serde::Deserialize;

use crate::arch::Arch;
use crate::http::{http_client, registry_url};

/// Docker V2 schema 2 and OCI image manifests (single platform), and the two kinds of
/// index (a Docker manifest list, an OCI image index) that name one per platform.
pub const MANIFEST_TYPES: &str = "application/vnd.docker.distribution.manifest.v2+json, \
     application/vnd.oci.image.manifest.v1+json, \
     application/vnd.docker.distribution.manifest.list.v2+json, \
     application/vnd.oci.image.index.v1+json";

/// The index `docker push` publishes for a multi-architecture build: a Docker manifest
/// list, the kind of index that goes with the V2 schema 2 manifests the Docker engine
/// pushes (Docker Hub, ECR and Docker Desktop read it, and pick their platform).
pub const MANIFEST_LIST: &str = "application/vnd.docker.distribution.manifest.list.v2+json";

/// What `DOCKER_REGISTRY` names by default, and the host its API answers on.
pub const DOCKER_HUB: &str = "docker.io";
const DOCKER_HUB_API: &str = "registry-1.docker.io";

/// A manifest as the registry stores it: its exact bytes (re-put elsewhere unchanged, so
/// its digest stays the same), its media type, and the config digest (the image id).
#[derive(Debug, Clone)]
pub struct Manifest {
    pub bytes: Vec<u8>,
    pub media_type: String,
    pub config_digest: String,
}

pub struct Registry {
    http: Client,
    base: String,
    pub host: String,
    credentials: Option<(String, String)>,
    token: std::cell::RefCell<Option<String>>,
}

#[derive(Deserialize)]
struct ManifestBody {
    #[serde(rename = "schemaVersion")]
    schema_version: u32,
    #[serde(rename = "mediaType", default)]
    media_type: Option<String>,
    #[serde(default)]
    config: Option<ConfigRef>,
    /// An index's entries, one per platform.
    #[serde(default)]
    manifests: Option<Vec<IndexEntry>>,
}

/// One entry of an index (a Docker manifest list or an OCI image index).
#[derive(Debug, Clone, Deserialize, serde::Serialize, PartialEq, Eq)]
pub struct IndexEntry {
    #[serde(rename = "mediaType")]
    pub media_type: String,
    pub digest: String,
    pub size: usize,
    #[serde(default)]
    pub platform: Option<IndexPlatform>,
}

#[derive(Debug, Clone, Deserialize, serde::Serialize, PartialEq, Eq)]
pub struct IndexPlatform {
    pub architecture: String,
    pub os: String,
}

/// What a tag names, as a deploy needs it: the digest to pin, and the architectures
/// that digest can run on.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Named {
    pub digest: String,
    pub architectures: Vec<Arch>,
}

/// The linux architectures an index has entries for.
fn index_architectures(entries: &[IndexEntry]) -> Vec<Arch> {
    entries
        .iter()
        .filter_map(|e| e.platform.as_ref())
        .filter(|p| p.os == "linux")
        .filter_map(|p| Arch::from_name(&p.architecture))
        .collect()
}

/// A single image's manifest from its parsed `body` and exact `bytes`.
fn single(body: ManifestBody, bytes: Vec<u8>, header_type: String, what: &str) -> Result<Manifest> {
    let config = body
        .config
        .filter(|c| body.schema_version == 2 && c.digest.starts_with("sha256:"));
    let Some(config) = config else {
        bail!("{what}: not a V2 schema 2 image manifest");
    };
    Ok(Manifest {
        media_type: body.media_type.unwrap_or(header_type),
        config_digest: config.digest,
        bytes,
    })
}

/// Docker's V2 schema 2 media types, by the OCI types they stand for.
const OCI_TO_DOCKER: &[(&str, &str)] = &[
    (
        "application/vnd.oci.image.manifest.v1+json",
        "application/vnd.docker.distribution.manifest.v2+json",
    ),
    (
        "application/vnd.oci.image.config.v1+json",
        "application/vnd.docker.container.image.v1+json",
    ),
    (
        "application/vnd.oci.image.layer.v1.tar+gzip",
        "application/vnd.docker.image.rootfs.diff.tar.gzip",
    ),
];

/// An OCI image manifest rewritten as the Docker V2 schema 2 manifest of the same image
/// (the same config and layers, by digest: only the media types change), for a registry
/// that takes V2 schema 2 only (Heroku's). `None` when it is already V2 schema 2; an
/// error for what V2 schema 2 cannot say (an index, a zstd or uncompressed layer).
pub fn as_docker_v2(manifest: &[u8]) -> Result<Option<Vec<u8>>> {
    let mut json: serde_json::Value =
        serde_json::from_slice(manifest).map_err(|err| anyhow!("not an image manifest: {err}"))?;
    let docker = |media_type: &str| -> Result<String> {
        OCI_TO_DOCKER
            .iter()
            .find(|(oci, _)| *oci == media_type)
            .map(|(_, docker)| (*docker).to_owned())
            .ok_or_else(|| anyhow!("{media_type} has no Docker V2 schema 2 equivalent"))
    };
    let kind = json["mediaType"].as_str().unwrap_or("").to_owned();
    if kind == "application/vnd.docker.distribution.manifest.v2+json" {
        return Ok(None);
    }
    if json.get("manifests").is_some() {
        bail!("an image index: push one architecture's image (Heroku's registry takes no index)");
    }
    if kind != "application/vnd.oci.image.manifest.v1+json" && !(kind.is_empty() && json.get("config").is_some()) {
        bail!("{kind:?} is not an image manifest");
    }
    json["mediaType"] = serde_json::Value::String(docker("application/vnd.oci.image.manifest.v1+json")?);
    let config_type = json["config"]["mediaType"].as_str().unwrap_or("").to_owned();
    json["config"]["mediaType"] = serde_json::Value::String(docker(&config_type)?);
    if let Some(layers) = json["layers"].as_array_mut() {
        for layer in layers {
            let layer_type = layer["mediaType"].as_str().unwrap_or("").to_owned();
            layer["mediaType"] = serde_json::Value::String(docker(&layer_type)?);
        }
    }
    if let Some(object) = json.as_object_mut() {
        // Attestation or build metadata: V2 schema 2 has no annotations.
        object.remove("annotations");
    }
    Ok(Some(serde_json::to_vec(&json)?))
}

/// The body of a Docker manifest list naming `manifests`, one per architecture.
pub fn manifest_list(manifests: &[(Arch, &Manifest)]) -> Vec<u8> {
    let entries: Vec<IndexEntry> = manifests
        .iter()
        .map(|(arch, manifest)| IndexEntry {
            media_type: manifest.media_type.clone(),
            digest: manifest.digest(),
            size: manifest.bytes.len(),
            platform: Some(IndexPlatform {
                architecture: arch.name().to_owned(),
                os: "linux".to_owned(),
            }),
        })
        .collect();
    serde_json::to_vec_pretty(&serde_json::json!({
        "schemaVersion": 2,
        "mediaType": MANIFEST_LIST,
        "manifests": entries,
    }))
    .unwrap_or_default()
}

#[derive(Deserialize)]
struct ConfigRef {
    digest: String,
    /// The blob's size in bytes, as the manifest gives it.
    #[serde(default)]
    size: Option<u64>,
}

#[derive(Deserialize)]
struct Layers {
    #[serde(default)]
    config: Option<ConfigRef>,
    #[serde(default)]
    layers: Vec<ConfigRef>,
}

/// A blob a manifest names: its digest and, when the manifest gives it, its size.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BlobRef {
    pub digest: String,
    pub size: Option<u64>,
}

/// The most a blob may hold when its manifest gives no size (a layer of this site's image
/// is some 15 MB).
pub const MAX_BLOB_BYTES: u64 = 4 << 30;
/// The most an image's config (JSON) may hold when read into memory.
pub const MAX_CONFIG_BYTES: u64 = 4 << 20;

/// `sha256:<hex>` of `bytes`, as registries name blobs and manifests.
pub fn digest_of(bytes: &[u8]) -> String {
    let hash = ring::digest::digest(&ring::digest::SHA256, bytes);
    let hex: String = hash.as_ref().iter().map(|b| format!("{b:02x}")).collect();
    format!("sha256:{hex}")
}

impl Manifest {
    /// The manifest's own digest (`sha256:…` of its exact bytes): what `repo@digest` pins.
    pub fn digest(&self) -> String {
        digest_of(&self.bytes)
    }

    /// The blobs it names: its config, then its layers, each with its size.
    pub fn blobs(&self) -> Result<Vec<BlobRef>> {
        let parts: Layers = serde_json::from_slice(&self.bytes)?;
        let config_size = parts.config.and_then(|c| c.size);
        let mut blobs = vec![BlobRef {
            digest: self.config_digest.clone(),
            size: config_size,
        }];
        blobs.extend(parts.layers.into_iter().map(|l| BlobRef {
            digest: l.digest,
            size: l.size,
        }));
        Ok(blobs)
    }
}

/// `registry/repo:tag` as Docker names it: Docker Hub's images carry no host.
pub fn reference(registry: &str, repo: &str, tag: &str) -> String {
    if is_docker_hub(registry) {
        format!("{repo}:{tag}")
    } else {
        format!("{registry}/{repo}:{tag}")
    }
}

pub fn is_docker_hub(registry: &str) -> bool {
    matches!(registry, DOCKER_HUB | "index.docker.io" | "registry-1.docker.io" | "")
}

/// `key="value"` pairs of a `WWW-Authenticate: Bearer …` challenge (a quoted value may
/// hold commas: `scope="repository:me/x:pull,push"`).
fn challenge_params(header: &str) -> Option<HashMap<String, String>> {
    let mut rest = header.trim().strip_prefix("Bearer ")?.trim();
    let mut params = HashMap::new();
    while !rest.is_empty() {
        let (key, after) = rest.split_once('=')?;
        let (value, after) = if let Some(quoted) = after.strip_prefix('"') {
            let end = quoted.find('"')?;
            (&quoted[..end], &quoted[end + 1..])
        } else {
            after.split_once(',').map_or((after, ""), |(v, a)| (v, a))
        };
        params.insert(key.trim().to_ascii_lowercase(), value.to_owned());
        rest = after.trim_start().trim_start_matches(',').trim_start();
    }
    Some(params)
}

/// A query value, percent-encoded (RFC 3986 unreserved characters kept; SigV4 encodes
/// the same way).
pub fn percent_encode(value: &str) -> String {
    value
        .bytes()
        .map(|b| match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'.' | b'_' | b'~' => (b as char).to_string(),
            _ => format!("%{b:02X}"),
        })
        .collect()
}

/// Whether a registry at `base` (its API's URL) may have its credentials sent to the
/// token service at `realm`: the same host (any port), or Docker Hub's API and its token
/// service.
fn trusts_token_service(base: &str, realm: &str) -> bool {
    let host = |url: &str| {
        reqwest::Url::parse(url)
            .ok()
            .and_then(|u| u.host_str().map(str::to_ascii_lowercase))
    };
    match (host(base), host(realm)) {
        (Some(registry), Some(service)) => {
            registry == service || (registry == DOCKER_HUB_API && service == "auth.docker.io")
        }
        _ => false,
    }
}

impl Registry {
    pub fn new(registry: &str, credentials: Option<(String, String)>) -> Result<Registry> {
        let api_host = if is_docker_hub(registry) {
            DOCKER_HUB_API
        } else {
            registry
        };
        Ok(Registry {
            http: http_client()?,
            base: registry_url(api_host)?,
            host: registry.to_owned(),
            credentials,
            token: std::cell::RefCell::new(None),
        })
    }

    /// The repository's name in API paths: Docker Hub's one-part names are `library/…`.
    fn path(&self, repo: &str) -> String {
        if is_docker_hub(&self.host) && !repo.contains('/') {
            format!("library/{repo}")
        } else {
            repo.to_owned()
        }
    }

    fn authorize(&self, request: RequestBuilder) -> RequestBuilder {
        if let Some(token) = self.token.borrow().as_ref() {
            return request.bearer_auth(token);
        }
        match &self.credentials {
            Some((user, password)) => request.basic_auth(user, Some(password)),
            None => request,
        }
    }

    /// Sends the request; on a bearer challenge, fetches a token once and sends it again.
    fn send(&self, build: impl Fn() -> RequestBuilder, what: &str) -> Result<Response> {
        let response = self
            .authorize(build())
            .send()
            .map_err(|err| anyhow!("{what}: cannot reach the registry {}: {err}", self.host))?;
        if response.status() != StatusCode::UNAUTHORIZED || self.token.borrow().is_some() {
            return Ok(response);
        }
        let challenge = response
            .headers()
            .get("www-authenticate")
            .and_then(|v| v.to_str().ok())
            .and_then(challenge_params);
        let Some(params) = challenge else {
            return Ok(response);
        };
        self.fetch_token(&params, what)?;
        self.authorize(build())
            .send()
            .map_err(|err| anyhow!("{what}: cannot reach the registry {}: {err}", self.host))
    }

    fn fetch_token(&self, params: &HashMap<String, String>, what: &str) -> Result<()> {
        #[derive(Deserialize)]
        struct Token {
            #[serde(default)]
            token: Option<String>,
            #[serde(default)]
            access_token: Option<String>,
        }
        let realm = params
            .get("realm")
            .ok_or_else(|| anyhow!("{what}: the registry's challenge names no token service"))?;
        let realm = crate::http::checked_base_url(realm, "the registry's token service")?;
        let query: Vec<String> = ["service", "scope"]
            .into_iter()
            .filter_map(|k| params.get(k).map(|v| format!("{k}={}", percent_encode(v))))
            .collect();
        let separator = if realm.contains('?') { '&' } else { '?' };
        let mut request = self.http.get(format!("{realm}{separator}{}", query.join("&")));
        if let Some((user, password)) = &self.credentials {
            // The registry names its token service; the credentials go there only when
            // it is the registry's own host (or Docker Hub's own token service): a
            // registry, or whoever answers for it, cannot send them elsewhere.
            if !trusts_token_service(&self.base, &realm) {
                bail!(
                    "{what}: the registry {} sends its login to {realm}, another host: the credentials are not sent there \
                     (only to the registry's own host, or auth.docker.io for Docker Hub)",
                    self.host
                );
            }
            request = request.basic_auth(user, Some(password));
        }
        let response = request
            .send()
            .map_err(|err| anyhow!("{what}: cannot reach the token service {realm}: {err}"))?;
        if !response.status().is_success() {
            bail!(
                "{what}: the registry's token service refused the login ({}): check DOCKERHUB_USERNAME and DOCKERHUB_PASSWORD",
                response.status()
            );
        }
        let token: Token = response
            .json()
            .map_err(|err| anyhow!("{what}: the token service sent no token: {err}"))?;
        let token = token
            .token
            .or(token.access_token)
            .ok_or_else(|| anyhow!("{what}: the token service sent no token"))?;
        *self.token.borrow_mut() = Some(token);
        Ok(())
    }

    fn refused(&self, status: StatusCode, what: &str) -> anyhow::Error {
        match status.as_u16() {
            401 | 403 => anyhow!(
                "{what}: the registry {} refused the credentials ({status}): check DOCKERHUB_USERNAME and DOCKERHUB_PASSWORD",
                self.host
            ),
            _ => anyhow!("{what}: the registry {} answered {status}", self.host),
        }
    }

    /// The linux/amd64 image of `repo:reference` (what Heroku runs, and what the schema
    /// guard reads the labels of), or `None` when the registry has no such tag.
    pub fn manifest(&self, repo: &str, reference: &str) -> Result<Option<Manifest>> {
        self.manifest_for(repo, reference, Arch::Amd64)
    }

    /// The image of `repo:reference` for `arch`: the manifest itself when it is a single
    /// image, the entry for `arch` when it is an index (an error naming the platforms it
    /// has when `arch` is not one of them); `None` when there is no such tag.
    pub fn manifest_for(&self, repo: &str, reference: &str, arch: Arch) -> Result<Option<Manifest>> {
        self.fetch(repo, reference, Some(arch))
    }

    /// The single-platform image `repo:reference` (an index is an error: Heroku's
    /// registry takes only a V2 schema 2 manifest), or `None` when there is no such tag.
    pub fn single_manifest(&self, repo: &str, reference: &str) -> Result<Option<Manifest>> {
        self.fetch(repo, reference, None)
    }

    fn fetch(&self, repo: &str, reference: &str, resolve: Option<Arch>) -> Result<Option<Manifest>> {
        let what = format!("reading {}", crate::registry::reference(&self.host, repo, reference));
        let Some((bytes, header_type)) = self.raw_manifest(repo, reference, &what)? else {
            return Ok(None);
        };
        let body: ManifestBody =
            serde_json::from_slice(&bytes).map_err(|err| anyhow!("{what}: not an image manifest: {err}"))?;
        if let Some(entries) = body.manifests {
            let Some(arch) = resolve else {
                bail!(
                    "{what}: an image index (of {}), not a single-platform V2 schema 2 manifest",
                    index_architectures(&entries)
                        .iter()
                        .map(|a| a.platform())
                        .collect::<Vec<_>>()
                        .join(", ")
                );
            };
            let wanted = entries.iter().find(|e| {
                e.platform
                    .as_ref()
                    .is_some_and(|p| p.os == "linux" && Arch::from_name(&p.architecture) == Some(arch))
            });
            let Some(entry) = wanted else {
                let platforms: Vec<String> = entries
                    .iter()
                    .filter_map(|e| e.platform.as_ref().map(|p| format!("{}/{}", p.os, p.architecture)))
                    .collect();
                bail!(
                    "{what}: the index has no {} image (it has {})",
                    arch.platform(),
                    platforms.join(", ")
                );
            };
            let inner = self.manifest_for(repo, &entry.digest, arch)?.ok_or_else(|| {
                anyhow!(
                    "{what}: the index names {}, which the registry does not have",
                    entry.digest
                )
            })?;
            if inner.digest() != entry.digest {
                bail!("{what}: {} arrived with other content", entry.digest);
            }
            return Ok(Some(inner));
        }
        single(body, bytes, header_type, &what).map(Some)
    }

    /// What `repo:reference` is: its digest, and the architectures it has (an index's
    /// linux entries, or the one its image config names); `None` when there is no such tag.
    pub fn describe(&self, repo: &str, reference: &str) -> Result<Option<Named>> {
        let what = format!("reading {}", crate::registry::reference(&self.host, repo, reference));
        let Some((bytes, header_type)) = self.raw_manifest(repo, reference, &what)? else {
            return Ok(None);
        };
        let body: ManifestBody =
            serde_json::from_slice(&bytes).map_err(|err| anyhow!("{what}: not an image manifest: {err}"))?;
        let digest = digest_of(&bytes);
        if let Some(entries) = body.manifests {
            return Ok(Some(Named {
                digest,
                architectures: index_architectures(&entries),
            }));
        }
        let manifest = single(body, bytes, header_type, &what)?;
        let architecture = self.architecture(repo, &manifest.config_digest)?;
        Ok(Some(Named {
            digest,
            architectures: Arch::from_name(&architecture).into_iter().collect(),
        }))
    }

    /// The exact bytes and content type of the manifest (or index) `repo:reference`.
    fn raw_manifest(&self, repo: &str, reference: &str, what: &str) -> Result<Option<(Vec<u8>, String)>> {
        let url = format!("{}/v2/{}/manifests/{reference}", self.base, self.path(repo));
        let response = self.send(|| self.http.get(&url).header("Accept", MANIFEST_TYPES), what)?;
        if response.status() == StatusCode::NOT_FOUND {
            return Ok(None);
        }
        if !response.status().is_success() {
            return Err(self.refused(response.status(), what));
        }
        let header_type = response
            .headers()
            .get("content-type")
            .and_then(|v| v.to_str().ok())
            .unwrap_or("")
            .to_owned();
        let bytes = response
            .bytes()
            .map_err(|err| anyhow!("{what}: the manifest did not arrive: {err}"))?
            .to_vec();
        Ok(Some((bytes, header_type)))
    }

    /// The labels of the image whose config is `config_digest` in `repo`.
    pub fn labels(&self, repo: &str, config_digest: &str) -> Result<HashMap<String, String>> {
        #[derive(Deserialize)]
        struct ImageConfig {
            #[serde(default)]
            config: Option<Inner>,
        }
        #[derive(Deserialize)]
        struct Inner {
            #[serde(rename = "Labels", default)]
            labels: Option<HashMap<String, String>>,
        }
        let what = format!("reading the labels of {repo}@{config_digest}");
        let url = format!("{}/v2/{}/blobs/{config_digest}", self.base, self.path(repo));
        let response = self.send(|| self.http.get(&url), &what)?;
        if !response.status().is_success() {
            return Err(self.refused(response.status(), &what));
        }
        let config: ImageConfig = response
            .json()
            .map_err(|err| anyhow!("{what}: not an image config: {err}"))?;
        Ok(config.config.and_then(|c| c.labels).unwrap_or_default())
    }

    /// The architecture the image whose config is `config_digest` was built for.
    pub fn architecture(&self, repo: &str, config_digest: &str) -> Result<String> {
        #[derive(Deserialize)]
        struct ImageConfig {
            #[serde(default)]
            architecture: String,
        }
        let what = format!("reading the config of {repo}@{config_digest}");
        let bytes = self.blob(repo, config_digest, &what)?;
        let config: ImageConfig =
            serde_json::from_slice(&bytes).map_err(|err| anyhow!("{what}: not an image config: {err}"))?;
        Ok(config.architecture)
    }

    /// Whether `repo` holds the blob `digest`.
    fn has_blob(&self, repo: &str, digest: &str, what: &str) -> Result<bool> {
        let url = format!("{}/v2/{}/blobs/{digest}", self.base, self.path(repo));
        let response = self.send(|| self.http.head(&url), what)?;
        match response.status() {
            status if status.is_success() => Ok(true),
            StatusCode::NOT_FOUND => Ok(false),
            status => Err(self.refused(status, what)),
        }
    }

    /// A small blob (an image's config), in memory: at most [`MAX_CONFIG_BYTES`].
    fn blob(&self, repo: &str, digest: &str, what: &str) -> Result<Vec<u8>> {
        let mut bytes = Vec::new();
        let blob = BlobRef {
            digest: digest.to_owned(),
            size: None,
        };
        self.fetch_blob(repo, &blob, MAX_CONFIG_BYTES, &mut bytes, what)?;
        Ok(bytes)
    }

    /// Streams the blob into `sink`, hashing as it comes: more than `cap` bytes (or than
    /// the manifest's size, when it gives one) stops the download at once; content whose
    /// digest or size is not the manifest's is refused. Returns its size.
    fn fetch_blob(
        &self,
        repo: &str,
        blob: &BlobRef,
        cap: u64,
        sink: &mut dyn std::io::Write,
        what: &str,
    ) -> Result<u64> {
        use std::io::Read as _;
        let digest = &blob.digest;
        let url = format!("{}/v2/{}/blobs/{digest}", self.base, self.path(repo));
        let mut response = self.send(|| self.http.get(&url), what)?;
        if !response.status().is_success() {
            return Err(self.refused(response.status(), what));
        }
        let cap = blob.size.map_or(cap, |size| size.min(cap));
        let mut hash = ring::digest::Context::new(&ring::digest::SHA256);
        let mut buffer = vec![0u8; 64 * 1024];
        let mut total: u64 = 0;
        loop {
            let n = response
                .read(&mut buffer)
                .map_err(|err| anyhow!("{what}: the blob {digest} did not arrive: {err}"))?;
            if n == 0 {
                break;
            }
            total += n as u64;
            if total > cap {
                bail!(
                    "{what}: the blob {digest} is larger than {cap} bytes (its manifest's size, or the limit): refused"
                );
            }
            hash.update(&buffer[..n]);
            sink.write_all(&buffer[..n])
                .map_err(|err| anyhow!("{what}: cannot keep the blob {digest}: {err}"))?;
        }
        let got: String = hash.finish().as_ref().iter().map(|b| format!("{b:02x}")).collect();
        if format!("sha256:{got}") != *digest {
            bail!("{what}: the blob {digest} arrived with other content");
        }
        if blob.size.is_some_and(|size| size != total) {
            bail!(
                "{what}: the blob {digest} arrived with {total} bytes, not the manifest's {}",
                blob.size.unwrap_or(0)
            );
        }
        Ok(total)
    }

    /// Uploads the blob `digest` from `file` (`len` bytes; one monolithic upload: POST,
    /// then a PUT that streams the file).
    fn put_blob(&self, repo: &str, digest: &str, file: &std::path::Path, len: u64, what: &str) -> Result<()> {
        let start = format!("{}/v2/{}/blobs/uploads/", self.base, self.path(repo));
        let response = self.send(|| self.http.post(&start), what)?;
        if !response.status().is_success() {
            return Err(self.refused(response.status(), what));
        }
        let location = response
            .headers()
            .get("location")
            .and_then(|v| v.to_str().ok())
            .ok_or_else(|| anyhow!("{what}: the registry gave no upload location"))?
            .to_owned();
        let location = if location.starts_with('/') {
            format!("{}{location}", self.base)
        } else {
            location
        };
        let separator = if location.contains('?') { '&' } else { '?' };
        let url = format!("{location}{separator}digest={}", percent_encode(digest));
        // The POST above settled the login (a bearer token, if the registry wants one).
        let body =
            std::fs::File::open(file).map_err(|err| anyhow!("{what}: cannot reopen the blob {digest}: {err}"))?;
        let response = self
            .authorize(
                self.http
                    .put(&url)
                    .header("Content-Type", "application/octet-stream")
                    .body(reqwest::blocking::Body::sized(body, len)),
            )
            .send()
            .map_err(|err| anyhow!("{what}: cannot reach the registry {}: {err}", self.host))?;
        if !response.status().is_success() {
            return Err(self.refused(response.status(), what));
        }
        Ok(())
    }

    /// Copies the image `repo:tag` of this registry to `target` as `target_repo:tag`,
    /// over the registries' APIs (no Docker daemon): each blob `target` lacks, then the
    /// manifest's exact bytes, so the digest stays the same. An index is copied whole:
    /// each of its images (by digest), then the index itself under `tag`. Returns what
    /// `tag` names, or `None` when this registry has no such image.
    pub fn copy_image(&self, repo: &str, tag: &str, target: &Registry, target_repo: &str) -> Result<Option<Named>> {
        let what = format!(
            "copying {} to {}",
            crate::registry::reference(&self.host, repo, tag),
            crate::registry::reference(&target.host, target_repo, tag)
        );
        let Some((bytes, header_type)) = self.raw_manifest(repo, tag, &what)? else {
            return Ok(None);
        };
        let body: ManifestBody =
            serde_json::from_slice(&bytes).map_err(|err| anyhow!("{what}: not an image manifest: {err}"))?;
        let digest = digest_of(&bytes);
        let Some(entries) = body.manifests else {
            let manifest = single(body, bytes, header_type, &what)?;
            self.copy_blobs(repo, &manifest, target, target_repo, &what)?;
            target.put_manifest(target_repo, tag, &manifest)?;
            let architecture = self.architecture(repo, &manifest.config_digest)?;
            return Ok(Some(Named {
                digest,
                architectures: Arch::from_name(&architecture).into_iter().collect(),
            }));
        };
        for entry in &entries {
            let Some((inner_bytes, inner_type)) = self.raw_manifest(repo, &entry.digest, &what)? else {
                bail!(
                    "{what}: the index names {}, which the registry does not have",
                    entry.digest
                );
            };
            if digest_of(&inner_bytes) != entry.digest {
                bail!("{what}: {} arrived with other content", entry.digest);
            }
            let inner: ManifestBody =
                serde_json::from_slice(&inner_bytes).map_err(|err| anyhow!("{what}: not an image manifest: {err}"))?;
            let manifest = single(inner, inner_bytes, inner_type, &what)?;
            self.copy_blobs(repo, &manifest, target, target_repo, &what)?;
            target.put_manifest(target_repo, &entry.digest, &manifest)?;
        }
        let index = Manifest {
            media_type: body.media_type.unwrap_or(header_type),
            config_digest: String::new(),
            bytes,
        };
        target.put_manifest(target_repo, tag, &index)?;
        Ok(Some(Named {
            digest,
            architectures: index_architectures(&entries),
        }))
    }

    /// Each blob of `manifest` that `target` lacks, from this registry.
    fn copy_blobs(
        &self,
        repo: &str,
        manifest: &Manifest,
        target: &Registry,
        target_repo: &str,
        what: &str,
    ) -> Result<()> {
        for blob in manifest.blobs()? {
            if target.has_blob(target_repo, &blob.digest, what)? {
                continue;
            }
            // Through a temporary file: a layer is never held whole in memory.
            let mut file = tempfile::NamedTempFile::new().map_err(|err| anyhow!("{what}: no temporary file: {err}"))?;
            let len = self.fetch_blob(repo, &blob, MAX_BLOB_BYTES, file.as_file_mut(), what)?;
            target.put_blob(target_repo, &blob.digest, file.path(), len, what)?;
        }
        Ok(())
    }

    /// Puts `manifest` (its exact bytes) under `repo:tag`: a new name for an image already
    /// in `repo`, with no layer moved.
    /// Makes `repo:tag` a Docker V2 schema 2 manifest, whatever the Docker that pushed it
    /// wrote (one with the containerd image store, or buildx, pushes OCI): an OCI image
    /// manifest is put again as its V2 schema 2 twin (same config and layers). Says so
    /// when it converts; an index or a layer V2 schema 2 cannot name is an error.
    pub fn ensure_docker_v2(&self, repo: &str, tag: &str) -> Result<()> {
        let what = format!("reading {}", crate::registry::reference(&self.host, repo, tag));
        let Some((bytes, _)) = self.raw_manifest(repo, tag, &what)? else {
            bail!("{what}: not there after its push");
        };
        let converted = as_docker_v2(&bytes).map_err(|err| anyhow!("{what}: {err}"))?;
        if let Some(bytes) = converted {
            println!(
                "    {} was pushed as OCI: put again as Docker V2 schema 2 (the registry takes nothing else)",
                crate::registry::reference(&self.host, repo, tag)
            );
            let manifest = Manifest {
                bytes,
                media_type: "application/vnd.docker.distribution.manifest.v2+json".to_owned(),
                config_digest: String::new(),
            };
            self.put_manifest(repo, tag, &manifest)?;
        }
        Ok(())
    }

    pub fn put_manifest(&self, repo: &str, tag: &str, manifest: &Manifest) -> Result<()> {
        let what = format!("tagging {}", crate::registry::reference(&self.host, repo, tag));
        let url = format!("{}/v2/{}/manifests/{tag}", self.base, self.path(repo));
        let response = self.send(
            || {
                self.http
                    .put(&url)
                    .header("Content-Type", &manifest.media_type)
                    .body(manifest.bytes.clone())
            },
            &what,
        )?;
        if !response.status().is_success() {
            return Err(self.refused(response.status(), &what));
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_oci_manifest_becomes_its_docker_v2_twin_and_the_rest_is_refused() {
        let oci = serde_json::json!({
            "schemaVersion": 2,
            "mediaType": "application/vnd.oci.image.manifest.v1+json",
            "config": {"mediaType": "application/vnd.oci.image.config.v1+json", "digest": "sha256:aa", "size": 10},
            "layers": [{"mediaType": "application/vnd.oci.image.layer.v1.tar+gzip", "digest": "sha256:bb", "size": 20}],
            "annotations": {"org.opencontainers.image.created": "2026-12-02T00:00:00Z"}
        });
        let converted = as_docker_v2(&serde_json::to_vec(&oci).unwrap()).unwrap().unwrap();
        let docker: serde_json::Value = serde_json::from_slice(&converted).unwrap();
        assert_eq!(
            docker["mediaType"],
            "application/vnd.docker.distribution.manifest.v2+json"
        );
        assert_eq!(
            docker["config"]["mediaType"],
            "application/vnd.docker.container.image.v1+json"
        );
        assert_eq!(docker["config"]["digest"], "sha256:aa", "the same config");
        assert_eq!(
            docker["layers"][0]["mediaType"],
            "application/vnd.docker.image.rootfs.diff.tar.gzip"
        );
        assert_eq!(docker["layers"][0]["digest"], "sha256:bb", "the same layer");
        assert!(docker.get("annotations").is_none());
        // Already V2 schema 2: left alone.
        assert!(as_docker_v2(&converted).unwrap().is_none());
        // What V2 schema 2 cannot say.
        let mut zstd = oci.clone();
        zstd["layers"][0]["mediaType"] = "application/vnd.oci.image.layer.v1.tar+zstd".into();
        assert!(as_docker_v2(&serde_json::to_vec(&zstd).unwrap()).is_err());
        let index = serde_json::json!({"schemaVersion": 2, "mediaType": "application/vnd.oci.image.index.v1+json", "manifests": []});
        let err = as_docker_v2(&serde_json::to_vec(&index).unwrap())
            .unwrap_err()
            .to_string();
        assert!(err.contains("index"), "{err}");
    }

    #[test]
    fn docker_hub_images_are_named_without_a_host() {
        assert_eq!(reference("docker.io", "me/oc-lettings", "abc"), "me/oc-lettings:abc");
        assert_eq!(
            reference("127.0.0.1:5000", "me/oc-lettings", "abc"),
            "127.0.0.1:5000/me/oc-lettings:abc"
        );
        assert_eq!(
            Registry::new("docker.io", None).unwrap().base,
            "https://registry-1.docker.io"
        );
    }

    #[test]
    fn bearer_challenges_are_read() {
        let params = challenge_params(
            r#"Bearer realm="https://auth.docker.io/token",service="registry.docker.io",scope="repository:me/x:pull,push""#,
        )
        .unwrap();
        assert_eq!(params["realm"], "https://auth.docker.io/token");
        assert_eq!(params["scope"], "repository:me/x:pull,push");
        assert_eq!(params["service"], "registry.docker.io");
        assert!(challenge_params(r#"Basic realm="x""#).is_none());
        assert_eq!(
            percent_encode("repository:me/x:pull,push"),
            "repository%3Ame%2Fx%3Apull%2Cpush"
        );
    }

    /// A registry on loopback that answers each request with the next of `bodies`.
    fn serving(bodies: Vec<Vec<u8>>) -> (String, std::thread::JoinHandle<()>) {
        use std::io::{BufRead, BufReader, Write};
        let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let host = listener.local_addr().unwrap().to_string();
        let server = std::thread::spawn(move || {
            for body in bodies {
                let (stream, _) = listener.accept().unwrap();
                let mut reader = BufReader::new(stream.try_clone().unwrap());
                loop {
                    let mut line = String::new();
                    if reader.read_line(&mut line).unwrap() == 0 || line.trim().is_empty() {
                        break;
                    }
                }
                let mut stream = stream;
                let head = format!(
                    "HTTP/1.1 200 OK\r\nContent-Length: {}\r\nConnection: close\r\n\r\n",
                    body.len()
                );
                let _ = stream.write_all(head.as_bytes());
                let _ = stream.write_all(&body);
            }
        });
        (host, server)
    }

    #[test]
    fn a_blob_is_streamed_checked_and_capped_by_its_manifests_size() {
        let layer = vec![7u8; 200_000];
        let digest = digest_of(&layer);
        let (host, server) = serving(vec![layer.clone(), layer.clone(), layer.clone(), b"other".to_vec()]);
        let registry = Registry::new(&host, None).unwrap();
        let blob = |size| BlobRef {
            digest: digest.clone(),
            size,
        };
        let mut kept = Vec::new();
        let len = registry
            .fetch_blob("me/app", &blob(Some(200_000)), MAX_BLOB_BYTES, &mut kept, "copying")
            .unwrap();
        assert_eq!((len, kept.len()), (200_000, 200_000));
        // Bigger than the manifest says: refused, and not kept beyond the size.
        let mut kept = Vec::new();
        let err = registry
            .fetch_blob("me/app", &blob(Some(1_000)), MAX_BLOB_BYTES, &mut kept, "copying")
            .unwrap_err();
        assert!(err.to_string().contains("larger than 1000 bytes"), "{err}");
        assert!(kept.len() <= 1_000 + 64 * 1024, "stopped at once: {}", kept.len());
        // No size given: the cap holds.
        let err = registry
            .fetch_blob("me/app", &blob(None), 10_000, &mut Vec::new(), "copying")
            .unwrap_err();
        assert!(err.to_string().contains("larger than 10000 bytes"), "{err}");
        // Other content under the digest's name.
        let err = registry
            .fetch_blob("me/app", &blob(None), MAX_BLOB_BYTES, &mut Vec::new(), "copying")
            .unwrap_err();
        assert!(err.to_string().contains("arrived with other content"), "{err}");
        server.join().unwrap();
    }

    #[test]
    fn credentials_go_only_to_the_registrys_own_token_service() {
        assert!(trusts_token_service(
            "https://registry-1.docker.io",
            "https://auth.docker.io/token"
        ));
        assert!(trusts_token_service(
            "http://127.0.0.1:5000",
            "http://127.0.0.1:5001/token"
        ));
        assert!(trusts_token_service("https://ghcr.io", "https://GHCR.io/token"));
        assert!(!trusts_token_service(
            "https://registry.example",
            "https://evil.example/token"
        ));
        assert!(!trusts_token_service(
            "https://registry.example",
            "https://registry.example.evil.example/token"
        ));
        assert!(!trusts_token_service(
            "https://evil.example",
            "https://auth.docker.io/token"
        ));
        assert!(!trusts_token_service("https://registry.example", "not a url"));
    }

    /// A registry that wants a bearer token, as Docker Hub does: the first request gets a
    /// challenge, the token service wants the Basic credentials and the challenge's
    /// service and scope, and the second request must carry the token.
    #[test]
    fn a_bearer_challenge_is_answered_with_a_token_from_the_named_service() {
        use std::io::{BufRead, BufReader, Write};
        let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let host = listener.local_addr().unwrap().to_string();
        let realm = format!("http://{host}/token");
        let server = std::thread::spawn(move || {
            let mut seen = Vec::new();
            for _ in 0..3 {
                let (stream, _) = listener.accept().unwrap();
                let mut reader = BufReader::new(stream.try_clone().unwrap());
                let mut head = Vec::new();
                loop {
                    let mut line = String::new();
                    reader.read_line(&mut line).unwrap();
                    if line.trim().is_empty() {
                        break;
                    }
                    head.push(line.trim().to_owned());
                }
                let mut stream = stream;
                let request_line = head[0].clone();
                let auth = head
                    .iter()
                    .find_map(|h| h.strip_prefix("authorization: ").map(str::to_owned))
                    .unwrap_or_default();
                seen.push((request_line.clone(), auth.clone()));
                let (status, headers, body) = if request_line.starts_with("GET /token?") {
                    ("200 OK", String::new(), r#"{"token":"t0ken"}"#.to_owned())
                } else if auth == "Bearer t0ken" {
                    (
                        "200 OK",
                        "Content-Type: application/vnd.docker.distribution.manifest.v2+json\r\n".to_owned(),
                        r#"{"schemaVersion":2,"mediaType":"application/vnd.docker.distribution.manifest.v2+json","config":{"digest":"sha256:abc"},"layers":[]}"#.to_owned(),
                    )
                } else {
                    (
                        "401 Unauthorized",
                        format!(
                            "WWW-Authenticate: Bearer realm=\"http://{}/token\",service=\"registry.test\",scope=\"repository:me/app:pull\"\r\n",
                            stream.local_addr().unwrap()
                        ),
                        String::new(),
                    )
                };
                write!(
                    stream,
                    "HTTP/1.1 {status}\r\n{headers}Content-Length: {}\r\nConnection: close\r\n\r\n{body}",
                    body.len()
                )
                .unwrap();
            }
            seen
        });
        let registry = Registry::new(&host, Some(("me".to_owned(), "pw".to_owned()))).unwrap();
        let manifest = registry.manifest("me/app", "abc").unwrap().unwrap();
        assert_eq!(manifest.config_digest, "sha256:abc");
        let seen = server.join().unwrap();
        assert!(seen[0].1.starts_with("Basic "), "{seen:?}");
        assert_eq!(
            seen[1].0, "GET /token?service=registry.test&scope=repository%3Ame%2Fapp%3Apull HTTP/1.1",
            "{realm}"
        );
        assert_eq!(seen[1].1, "Basic bWU6cHc=", "the token service gets the credentials");
        assert_eq!(seen[2].1, "Bearer t0ken", "the retry carries the token");
    }
}
