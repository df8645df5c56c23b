//! A small client of the OCI distribution API (Docker Hub, Heroku's registry, ECR, the
//! tests' loopback registry): read a manifest and its image config (labels), and put a
//! manifest under another tag. Credentials go in Basic auth, or, when the registry asks
//! for a bearer token (Docker Hub), to the token service it names.

use std::collections::HashMap;

use anyhow::{anyhow, bail, Result};
use reqwest::blocking::{Client, RequestBuilder, Response};
use reqwest::StatusCode;
use serde::Deserialize;

use crate::http::{http_client, registry_url};

/// Docker V2 schema 2 and OCI image manifests (single platform).
pub const MANIFEST_TYPES: &str =
    "application/vnd.docker.distribution.manifest.v2+json, application/vnd.oci.image.manifest.v1+json";

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
    config: ConfigRef,
}

#[derive(Deserialize)]
struct ConfigRef {
    digest: String,
}

#[derive(Deserialize)]
struct Layers {
    #[serde(default)]
    layers: Vec<ConfigRef>,
}

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

    /// The blobs it names: its config, then its layers.
    pub fn blobs(&self) -> Result<Vec<String>> {
        let layers: Layers = serde_json::from_slice(&self.bytes)?;
        let mut blobs = vec![self.config_digest.clone()];
        blobs.extend(layers.layers.into_iter().map(|l| l.digest));
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

    /// The manifest of `repo:reference`, or `None` when the registry has no such tag.
    pub fn manifest(&self, repo: &str, reference: &str) -> Result<Option<Manifest>> {
        let what = format!("reading {}", crate::registry::reference(&self.host, repo, reference));
        let url = format!("{}/v2/{}/manifests/{reference}", self.base, self.path(repo));
        let response = self.send(|| self.http.get(&url).header("Accept", MANIFEST_TYPES), &what)?;
        if response.status() == StatusCode::NOT_FOUND {
            return Ok(None);
        }
        if !response.status().is_success() {
            return Err(self.refused(response.status(), &what));
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
        let body: ManifestBody =
            serde_json::from_slice(&bytes).map_err(|err| anyhow!("{what}: not an image manifest: {err}"))?;
        if body.schema_version != 2 || !body.config.digest.starts_with("sha256:") {
            bail!(
                "{what}: not a V2 schema 2 image manifest (a multi-platform index? build with --platform linux/amd64)"
            );
        }
        Ok(Some(Manifest {
            media_type: body.media_type.unwrap_or(header_type),
            config_digest: body.config.digest,
            bytes,
        }))
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

    fn blob(&self, repo: &str, digest: &str, what: &str) -> Result<Vec<u8>> {
        let url = format!("{}/v2/{}/blobs/{digest}", self.base, self.path(repo));
        let response = self.send(|| self.http.get(&url), what)?;
        if !response.status().is_success() {
            return Err(self.refused(response.status(), what));
        }
        let bytes = response
            .bytes()
            .map_err(|err| anyhow!("{what}: the blob {digest} did not arrive: {err}"))?;
        if digest_of(&bytes) != digest {
            bail!("{what}: the blob {digest} arrived with other content");
        }
        Ok(bytes.to_vec())
    }

    /// Uploads `bytes` as the blob `digest` (one monolithic upload: POST, then PUT).
    fn put_blob(&self, repo: &str, digest: &str, bytes: Vec<u8>, what: &str) -> Result<()> {
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
        let response = self.send(
            || {
                self.http
                    .put(&url)
                    .header("Content-Type", "application/octet-stream")
                    .body(bytes.clone())
            },
            what,
        )?;
        if !response.status().is_success() {
            return Err(self.refused(response.status(), what));
        }
        Ok(())
    }

    /// Copies the image `repo:tag` of this registry to `target` as `target_repo:tag`,
    /// over the registries' APIs (no Docker daemon): each blob `target` lacks, then the
    /// manifest's exact bytes, so the digest stays the same. Returns the manifest, or
    /// `None` when this registry has no such image.
    pub fn copy_image(&self, repo: &str, tag: &str, target: &Registry, target_repo: &str) -> Result<Option<Manifest>> {
        let Some(manifest) = self.manifest(repo, tag)? else {
            return Ok(None);
        };
        let what = format!(
            "copying {} to {}",
            crate::registry::reference(&self.host, repo, tag),
            crate::registry::reference(&target.host, target_repo, tag)
        );
        for digest in manifest.blobs()? {
            if target.has_blob(target_repo, &digest, &what)? {
                continue;
            }
            let bytes = self.blob(repo, &digest, &what)?;
            target.put_blob(target_repo, &digest, bytes, &what)?;
        }
        target.put_manifest(target_repo, tag, &manifest)?;
        Ok(Some(manifest))
    }

    /// Puts `manifest` (its exact bytes) under `repo:tag`: a new name for an image already
    /// in `repo`, with no layer moved.
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
