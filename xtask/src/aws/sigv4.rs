//! AWS Signature Version 4 (the `Authorization` header of every ECS and ECR request):
//! the canonical request, the string to sign, the derived key, as AWS documents them
//! ("Create a signed AWS API request"). HMAC and SHA-256 come from ring, already the TLS
//! stack's.

use ring::{digest, hmac};

/// The keys a request is signed with (from `AWS_ACCESS_KEY_ID`, `AWS_SECRET_ACCESS_KEY`,
/// `AWS_SESSION_TOKEN`). `Debug` never shows the secret or the token.
#[derive(Clone)]
pub struct Credentials {
    pub access_key_id: String,
    pub secret_access_key: String,
    pub session_token: Option<String>,
}

impl std::fmt::Debug for Credentials {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Credentials")
            .field("access_key_id", &self.access_key_id)
            .field("secret_access_key", &"<redacted>")
            .field("session_token", &self.session_token.as_ref().map(|_| "<redacted>"))
            .finish()
    }
}

/// What is signed: one HTTP request.
#[derive(Debug, Clone)]
pub struct Request<'a> {
    pub method: &'a str,
    /// The absolute path, already URI-encoded (`/` for the JSON APIs).
    pub path: &'a str,
    /// Query parameters, not yet encoded.
    pub query: &'a [(&'a str, &'a str)],
    /// Every header to sign, `host` included; `x-amz-date` (and `x-amz-security-token`
    /// with temporary credentials) are added by [`sign`].
    pub headers: &'a [(&'a str, &'a str)],
    pub body: &'a [u8],
}

pub fn sha256_hex(data: &[u8]) -> String {
    hex(digest::digest(&digest::SHA256, data).as_ref())
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

fn hmac_sha256(key: &[u8], data: &str) -> Vec<u8> {
    hmac::sign(&hmac::Key::new(hmac::HMAC_SHA256, key), data.as_bytes())
        .as_ref()
        .to_vec()
}

/// RFC 3986 encoding as SigV4 wants it: unreserved characters kept, the rest `%XX`.
pub use crate::registry::percent_encode as uri_encode;

/// Header names lower-cased and sorted, values trimmed with inner runs of spaces
/// collapsed: (canonical headers block, signed header list).
fn canonical_headers(headers: &[(String, String)]) -> (String, String) {
    let mut sorted: Vec<(String, String)> = headers
        .iter()
        .map(|(name, value)| {
            (
                name.to_ascii_lowercase(),
                value.split_whitespace().collect::<Vec<_>>().join(" "),
            )
        })
        .collect();
    sorted.sort();
    let block: String = sorted.iter().map(|(n, v)| format!("{n}:{v}\n")).collect();
    let signed = sorted.iter().map(|(n, _)| n.as_str()).collect::<Vec<_>>().join(";");
    (block, signed)
}

/// The canonical request of `request` with `headers` (all of them signed).
pub fn canonical_request(request: &Request<'_>, headers: &[(String, String)]) -> (String, String) {
    let mut query: Vec<(String, String)> = request
        .query
        .iter()
        .map(|(k, v)| (uri_encode(k), uri_encode(v)))
        .collect();
    query.sort();
    let query = query
        .iter()
        .map(|(k, v)| format!("{k}={v}"))
        .collect::<Vec<_>>()
        .join("&");
    let (block, signed) = canonical_headers(headers);
    let canonical = format!(
        "{}\n{}\n{query}\n{block}\n{signed}\n{}",
        request.method,
        request.path,
        sha256_hex(request.body)
    );
    (canonical, signed)
}

/// The signing key of a day, region and service.
pub fn signing_key(secret: &str, date: &str, region: &str, service: &str) -> Vec<u8> {
    let k_date = hmac_sha256(format!("AWS4{secret}").as_bytes(), date);
    let k_region = hmac_sha256(&k_date, region);
    let k_service = hmac_sha256(&k_region, service);
    hmac_sha256(&k_service, "aws4_request")
}

/// The headers to add to `request` (at `amz_date`, `YYYYMMDDTHHMMSSZ`) so that AWS
/// accepts it: `x-amz-date`, `x-amz-security-token` when the credentials have one, and
/// `authorization`.
pub fn sign(
    request: &Request<'_>,
    credentials: &Credentials,
    region: &str,
    service: &str,
    amz_date: &str,
) -> Vec<(String, String)> {
    let mut added = vec![("x-amz-date".to_owned(), amz_date.to_owned())];
    if let Some(token) = &credentials.session_token {
        added.push(("x-amz-security-token".to_owned(), token.clone()));
    }
    let mut headers: Vec<(String, String)> = request
        .headers
        .iter()
        .map(|(n, v)| ((*n).to_owned(), (*v).to_owned()))
        .collect();
    headers.extend(added.iter().cloned());
    let (canonical, signed) = canonical_request(request, &headers);
    let date = &amz_date[..8.min(amz_date.len())];
    let scope = format!("{date}/{region}/{service}/aws4_request");
    let string_to_sign = format!(
        "AWS4-HMAC-SHA256\n{amz_date}\n{scope}\n{}",
        sha256_hex(canonical.as_bytes())
    );
    let key = signing_key(&credentials.secret_access_key, date, region, service);
    let signature = hex(&hmac_sha256(&key, &string_to_sign));
    added.push((
        "authorization".to_owned(),
        format!(
            "AWS4-HMAC-SHA256 Credential={}/{scope}, SignedHeaders={signed}, Signature={signature}",
            credentials.access_key_id
        ),
    ));
    added
}

#[cfg(test)]
mod tests {
    use super::*;

    fn example() -> Credentials {
        Credentials {
            access_key_id: "AKIDEXAMPLE".into(),
            secret_access_key: "wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY".into(),
            session_token: Some("session-token-example".into()),
        }
    }

    /// The vector was made with botocore's own signer (`SigV4Auth(Credentials(...), "ecs",
    /// "eu-west-1").add_auth(request)`, botocore 1.43.11) for this exact request; the
    /// test `aws::a_signature_matches_botocore` re-checks against botocore itself
    /// when it is installed.
    #[test]
    fn a_json_api_request_is_signed_as_botocore_signs_it() {
        let body = br#"{"cluster":"oc","services":["web"]}"#;
        let request = Request {
            method: "POST",
            path: "/",
            query: &[],
            headers: &[
                ("Content-Type", "application/x-amz-json-1.1"),
                ("X-Amz-Target", "AmazonEC2ContainerServiceV20141113.DescribeServices"),
                ("host", "ecs.eu-west-1.amazonaws.com"),
            ],
            body,
        };
        let added = sign(&request, &example(), "eu-west-1", "ecs", "20261126T103009Z");
        let authorization = &added.iter().find(|(n, _)| n == "authorization").unwrap().1;
        assert_eq!(
            authorization,
            "AWS4-HMAC-SHA256 Credential=AKIDEXAMPLE/20261126/eu-west-1/ecs/aws4_request, \
             SignedHeaders=content-type;host;x-amz-date;x-amz-security-token;x-amz-target, \
             Signature=f00bb17cbdb8e4a8f689bd0b91a67e1080e2a7ab44f21ff1f712e232288f23eb"
        );
        assert!(added.contains(&("x-amz-security-token".into(), "session-token-example".into())));
        // Any change to what is signed changes the signature.
        let other = Request {
            body: br#"{"cluster":"oc","services":["web2"]}"#,
            ..request
        };
        let changed = sign(&other, &example(), "eu-west-1", "ecs", "20261126T103009Z");
        assert_ne!(changed.last(), added.last());
    }

    #[test]
    fn the_canonical_request_sorts_and_encodes() {
        let request = Request {
            method: "GET",
            path: "/",
            query: &[("b", "x y"), ("a", "1/2")],
            headers: &[("Host", "example.com"), ("X-Thing", "  a   b ")],
            body: b"",
        };
        let headers: Vec<(String, String)> = request
            .headers
            .iter()
            .map(|(n, v)| ((*n).to_owned(), (*v).to_owned()))
            .collect();
        let (canonical, signed) = canonical_request(&request, &headers);
        assert_eq!(signed, "host;x-thing");
        assert_eq!(
            canonical,
            "GET\n/\na=1%2F2&b=x%20y\nhost:example.com\nx-thing:a b\n\nhost;x-thing\n\
             e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"
        );
        assert!(!format!("{:?}", example()).contains("EXAMPLEKEY"));
        assert!(!format!("{:?}", example()).contains("session-token-example"));
    }
}
