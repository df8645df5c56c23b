//! From `DATABASE_URL` (written for libpq, as every platform gives it) to what
//! tokio-postgres connects with: the same server, user, database and TLS rules, or a
//! one-line reason why the URL cannot be followed as libpq would. Every PostgreSQL
//! connection (the pool's, the change listener's, the async reader's) is opened here.
//!
//! libpq's TLS modes, kept as libpq means them (rustls speaks TLS here):
//! - `disable`: plain TCP;
//! - `prefer` (libpq's default) and `require`: encrypted, the certificate not checked
//!   (as libpq, unless `sslrootcert` is given: then as `verify-ca`); `prefer` falls back to
//!   plain TCP when the server has no TLS;
//! - `verify-ca`: the certificate must chain to `sslrootcert`;
//! - `verify-full`: that, and name the host connected to;
//! - `sslrootcert=system`: the Mozilla roots (webpki-roots) stand for the system's.
//!
//! Refused with a reason (start-up fails with it; nothing is silently weakened):
//! `sslmode=allow`, client certificates, `verify-*` without `sslrootcert`,
//! `channel_binding=require`, any parameter tokio-postgres does not know, a `PG…`
//! environment variable for what the URL leaves out (libpq would read it; nothing here
//! does) but for `PGSSLMODE` and `PGSSLROOTCERT`, which are read as libpq reads them, and
//! a URL without a password when a `~/.pgpass` exists (libpq would read it too).

use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};

use rustls::client::danger::{HandshakeSignatureValid, ServerCertVerified, ServerCertVerifier};
use rustls::pki_types::{CertificateDer, ServerName, UnixTime};
use rustls::{ClientConfig, DigitallySignedStruct, RootCertStore, SignatureScheme};
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio_postgres::config::SslMode;
use tokio_postgres::tls::{ChannelBinding, MakeTlsConnect, TlsConnect};

use crate::config::PostgresUrl;

/// Environment variables libpq reads for what a URL leaves out (refused here, not read).
const LIBPQ_ENV: &[&str] = &[
    "PGHOST",
    "PGHOSTADDR",
    "PGPORT",
    "PGDATABASE",
    "PGUSER",
    "PGPASSWORD",
    "PGPASSFILE",
    "PGSERVICE",
    "PGSERVICEFILE",
    "PGOPTIONS",
    "PGAPPNAME",
    "PGSSLMODE",
    "PGREQUIRESSL",
    "PGSSLCERT",
    "PGSSLKEY",
    "PGSSLROOTCERT",
    "PGSSLCRL",
    "PGSSLCRLDIR",
    "PGSSLSNI",
    "PGREQUIREPEER",
    "PGSSLMINPROTOCOLVERSION",
    "PGSSLMAXPROTOCOLVERSION",
    "PGGSSENCMODE",
    "PGCONNECT_TIMEOUT",
    "PGCLIENTENCODING",
    "PGTARGETSESSIONATTRS",
    "PGLOADBALANCEHOSTS",
    "PGCHANNELBINDING",
    "PGSSLNEGOTIATION",
    "PGDATESTYLE",
    "PGTZ",
    "PGOPTIONS",
];

/// The reader's connections' `application_name`, unless the URL sets one.
pub const READER_APPLICATION_NAME: &str = "oc-lettings-reader";
/// Every other connection's (the pool's, the listener's), unless the URL sets one.
pub const APPLICATION_NAME: &str = "oc-lettings";

/// How the site reaches the database.
pub struct PgTarget {
    /// Without an `application_name` unless the URL gives one (each kind of connection
    /// names itself, see [`PgTarget::connect_diesel`]).
    config: tokio_postgres::Config,
    tls: Tls,
    url: PostgresUrl,
}

#[derive(Clone)]
pub enum Tls {
    Off,
    Rustls(Arc<ClientConfig>),
}

impl PgTarget {
    /// The settings for `url`, or why it cannot be followed as libpq would.
    /// `env` reads an environment variable; `home` is the user's home directory.
    pub fn from_url(
        url: &PostgresUrl,
        env: impl Fn(&str) -> Option<String>,
        home: Option<std::path::PathBuf>,
    ) -> Result<PgTarget, String> {
        // The pool's own rule: the URL's connect_timeout, else ours.
        let raw = super::connection::with_connect_timeout(url.expose());
        let (base, query) = raw.split_once('?').unwrap_or((&raw, ""));
        let mut sslmode = "prefer".to_owned();
        let mut sslmode_given = false;
        let mut rootcert: Option<String> = None;
        let mut kept: Vec<&str> = Vec::new();
        for pair in query.split('&').filter(|pair| !pair.is_empty()) {
            let (key, value) = pair.split_once('=').unwrap_or((pair, ""));
            let value = percent_encoding::percent_decode_str(value)
                .decode_utf8_lossy()
                .into_owned();
            match key {
                "sslmode" => {
                    sslmode = value;
                    sslmode_given = true;
                }
                "sslrootcert" => rootcert = Some(value),
                "sslcert"
                | "sslkey"
                | "sslpassword"
                | "sslcrl"
                | "sslcrldir"
                | "sslsni"
                | "requirepeer"
                | "ssl_min_protocol_version"
                | "ssl_max_protocol_version"
                | "gssencmode"
                | "service"
                | "passfile"
                | "krbsrvname"
                | "gsslib"
                | "client_encoding" => {
                    return Err(format!(
                        "DATABASE_URL sets {key}, which oc-lettings does not support (it speaks to PostgreSQL without libpq)"
                    ));
                }
                "channel_binding" if value == "require" => {
                    return Err("DATABASE_URL sets channel_binding=require, which oc-lettings does not support".into());
                }
                _ => kept.push(pair),
            }
        }
        let rebuilt = format!("{base}?{}", kept.join("&"));
        let mut config: tokio_postgres::Config = rebuilt.parse().map_err(|err: tokio_postgres::Error| {
            format!(
                "tokio-postgres cannot read the URL: {}",
                url.redact_in(&err.to_string())
            )
        })?;
        // libpq's two TLS variables are read as libpq reads them: only for what the URL
        // leaves out. (Heroku's attached DATABASE_URL cannot be edited: PGSSLMODE=require is
        // how TLS is required there.)
        let mut sslmode_from = "DATABASE_URL";
        if !sslmode_given {
            if let Some(mode) = env("PGSSLMODE") {
                sslmode = mode;
                sslmode_from = "PGSSLMODE";
            }
        }
        if rootcert.is_none() && sslmode != "disable" {
            rootcert = env("PGSSLROOTCERT");
        }
        // The others would be read by libpq only for what the URL leaves out, and are not
        // read here: refused when they would matter.
        let url_sets = |name: &str| match name {
            "PGPASSWORD" | "PGPASSFILE" => config.get_password().is_some(),
            "PGUSER" => config.get_user().is_some(),
            "PGDATABASE" => config.get_dbname().is_some(),
            "PGHOST" | "PGHOSTADDR" => !config.get_hosts().is_empty() || !config.get_hostaddrs().is_empty(),
            "PGAPPNAME" => config.get_application_name().is_some(),
            "PGCONNECT_TIMEOUT" => true,
            "PGSSLMODE" | "PGSSLROOTCERT" => true,
            _ => false,
        };
        if let Some(name) = LIBPQ_ENV.iter().find(|name| env(name).is_some() && !url_sets(name)) {
            return Err(format!(
                "{name} is set, but only DATABASE_URL is read: put the setting in the URL, or unset {name}"
            ));
        }
        if config.get_password().is_none() {
            if let Some(pgpass) = home
                .as_ref()
                .map(|home| home.join(".pgpass"))
                .filter(|path| path.exists())
            {
                return Err(format!(
                    "DATABASE_URL has no password and {} exists, which is not read: put the password in the URL",
                    pgpass.display()
                ));
            }
        }
        let roots = match &rootcert {
            Some(path) => Some(load_roots(path)?),
            None => None,
        };
        let (mode, tls) = match (sslmode.as_str(), roots) {
            ("disable", _) => (SslMode::Disable, Tls::Off),
            ("prefer", None) => (SslMode::Prefer, Tls::Rustls(unverified()?)),
            ("require", None) => (SslMode::Require, Tls::Rustls(unverified()?)),
            ("prefer", Some(roots)) => (SslMode::Prefer, Tls::Rustls(verified(roots, false)?)),
            ("require" | "verify-ca", Some(roots)) => (SslMode::Require, Tls::Rustls(verified(roots, false)?)),
            ("verify-full", Some(roots)) => (SslMode::Require, Tls::Rustls(verified(roots, true)?)),
            ("verify-ca" | "verify-full", None) => {
                return Err(format!(
                    "{sslmode_from} sets sslmode={sslmode} without sslrootcert: add sslrootcert=<the CA file> (or sslrootcert=system) to DATABASE_URL"
                ));
            }
            (other, _) => {
                return Err(format!(
                    "{sslmode_from} sets sslmode={other}, which oc-lettings does not support: use disable, prefer, require, verify-ca or verify-full"
                ))
            }
        };
        config.ssl_mode(mode);
        Ok(PgTarget {
            config,
            tls,
            url: url.clone(),
        })
    }

    /// `text` with the URL's secrets redacted.
    pub fn redact(&self, text: &str) -> String {
        self.url.redact_in(text)
    }

    /// The URL (its `Debug` hides the password).
    pub fn url(&self) -> &PostgresUrl {
        &self.url
    }

    /// The settings, with `name` as the `application_name` unless the URL gives one (tells
    /// the connections apart in `pg_stat_activity`).
    fn named(&self, name: &str) -> tokio_postgres::Config {
        let mut config = self.config.clone();
        if config.get_application_name().is_none() {
            config.application_name(name);
        }
        config
    }

    /// Opens a connection named `application_name` (unless the URL names it), on the
    /// current runtime, which must go on driving it: diesel-async spawns its socket's task
    /// there.
    pub async fn connect_diesel(&self, application_name: &str) -> Result<diesel_async::AsyncPgConnection, String> {
        let config = self.named(application_name);
        let opened = match &self.tls {
            Tls::Off => self.open_with(config, tokio_postgres::NoTls).await,
            Tls::Rustls(tls) => self.open_with(config, MakeRustls(tls.clone())).await,
        };
        opened.map_err(|why| self.redact(&why))
    }

    /// Connects with `tls` and hands the connection to diesel-async.
    async fn open_with<T>(
        &self,
        config: tokio_postgres::Config,
        tls: T,
    ) -> Result<diesel_async::AsyncPgConnection, String>
    where
        T: MakeTlsConnect<tokio_postgres::Socket>,
        T::Stream: tokio_postgres::tls::TlsStream + Unpin + Send + 'static,
        T::TlsConnect: Send,
        <T::TlsConnect as TlsConnect<tokio_postgres::Socket>>::Future: Send,
    {
        let (client, connection) = config.connect(tls).await.map_err(|err| self.connect_error(&err))?;
        diesel_async::AsyncPgConnection::try_from_client_and_connection(client, connection)
            .await
            .map_err(|err| err.to_string())
    }

    /// `err` as one line a person can act on: its cause once, whether it is permanent
    /// (trying again changes nothing: fix the setting named) or transient (try again:
    /// the server may come back), and what was tried; the password redacted.
    fn connect_error(&self, err: &tokio_postgres::Error) -> String {
        let server = self.server();
        let user = self.config.get_user().unwrap_or("(none)");
        let database = self.config.get_dbname().unwrap_or(user);
        if let Some(db) = err.as_db_error() {
            use tokio_postgres::error::SqlState;
            let code = db.code();
            if *code == SqlState::INVALID_PASSWORD || *code == SqlState::INVALID_AUTHORIZATION_SPECIFICATION {
                return format!(
                    "cannot connect to the database at {server}: the server refused user {user:?}: {} (permanent: check the user and password in DATABASE_URL)",
                    self.redact(db.message())
                );
            }
            if *code == SqlState::INVALID_CATALOG_NAME {
                return format!(
                    "cannot connect to the database at {server}: database {database:?} does not exist (permanent: create it, or fix the name in DATABASE_URL)"
                );
            }
        }
        let io = error_chain(err)
            .iter()
            .find_map(|e| e.downcast_ref::<std::io::Error>().map(std::io::Error::kind));
        let timeout = self
            .config
            .get_connect_timeout()
            .map_or(String::new(), |t| format!(" within {}s", t.as_secs()));
        match io {
            Some(std::io::ErrorKind::ConnectionRefused) => format!(
                "cannot connect to the database at {server}: the connection was refused (transient: tried once; is PostgreSQL running and listening there?)"
            ),
            Some(std::io::ErrorKind::TimedOut) => format!(
                "cannot connect to the database at {server}: no answer{timeout} (transient: tried once; check the host, the port and any firewall)"
            ),
            _ if err.to_string().contains("timeout") => format!(
                "cannot connect to the database at {server}: no answer{timeout} (transient: tried once; check the host, the port and any firewall)"
            ),
            _ => {
                let message = error_chain(err)
                    .iter()
                    .map(ToString::to_string)
                    .collect::<Vec<_>>()
                    .join(": ");
                format!("cannot connect to the database at {server}: {}", self.redact(&message))
            }
        }
    }

    /// Where the connection goes, as a person would write it: `host:port`, or the socket
    /// directory (several hosts, comma-separated, as libpq tries them).
    pub fn server(&self) -> String {
        let ports = self.config.get_ports();
        let port = |i: usize| ports.get(i).or(ports.first()).copied().unwrap_or(5432);
        let hosts: Vec<String> = self
            .config
            .get_hosts()
            .iter()
            .enumerate()
            .map(|(i, host)| match host {
                tokio_postgres::config::Host::Tcp(name) if name.contains(':') => format!("[{name}]:{}", port(i)),
                tokio_postgres::config::Host::Tcp(name) => format!("{name}:{}", port(i)),
                #[cfg(unix)]
                tokio_postgres::config::Host::Unix(dir) => format!("{}/.s.PGSQL.{}", dir.display(), port(i)),
            })
            .collect();
        if hosts.is_empty() {
            "the default socket".to_owned()
        } else {
            hosts.join(",")
        }
    }
}

/// `err` and its causes, outermost first.
fn error_chain<'a>(err: &'a (dyn std::error::Error + 'static)) -> Vec<&'a (dyn std::error::Error + 'static)> {
    let mut chain = vec![err];
    let mut source = err.source();
    while let Some(inner) = source {
        chain.push(inner);
        source = inner.source();
    }
    chain
}

fn load_roots(path: &str) -> Result<RootCertStore, String> {
    use rustls::pki_types::pem::PemObject;
    let mut roots = RootCertStore::empty();
    if path == "system" {
        roots.extend(webpki_roots::TLS_SERVER_ROOTS.iter().cloned());
        return Ok(roots);
    }
    let certs = CertificateDer::pem_file_iter(path).map_err(|err| format!("sslrootcert {path}: {err}"))?;
    for cert in certs {
        let cert = cert.map_err(|err| format!("sslrootcert {path}: {err}"))?;
        roots.add(cert).map_err(|err| format!("sslrootcert {path}: {err}"))?;
    }
    if roots.is_empty() {
        return Err(format!("sslrootcert {path} holds no certificate"));
    }
    Ok(roots)
}

fn provider() -> Arc<rustls::crypto::CryptoProvider> {
    Arc::new(rustls::crypto::ring::default_provider())
}

fn builder() -> Result<rustls::ConfigBuilder<ClientConfig, rustls::WantsVerifier>, String> {
    ClientConfig::builder_with_provider(provider())
        .with_safe_default_protocol_versions()
        .map_err(|err| format!("TLS: {err}"))
}

/// `verify-ca` (`check_name` false) or `verify-full`.
fn verified(roots: RootCertStore, check_name: bool) -> Result<Arc<ClientConfig>, String> {
    let webpki = rustls::client::WebPkiServerVerifier::builder_with_provider(Arc::new(roots), provider())
        .build()
        .map_err(|err| format!("TLS: {err}"))?;
    let verifier: Arc<dyn ServerCertVerifier> = if check_name {
        webpki
    } else {
        Arc::new(LibpqVerifier {
            chain: Some(webpki),
            provider: provider(),
        })
    };
    Ok(Arc::new(
        builder()?
            .dangerous()
            .with_custom_certificate_verifier(verifier)
            .with_no_client_auth(),
    ))
}

/// `prefer` and `require` without a root certificate: encrypted, the certificate not
/// checked (libpq's meaning of these modes); the handshake's signatures still are.
fn unverified() -> Result<Arc<ClientConfig>, String> {
    let verifier = LibpqVerifier {
        chain: None,
        provider: provider(),
    };
    Ok(Arc::new(
        builder()?
            .dangerous()
            .with_custom_certificate_verifier(Arc::new(verifier))
            .with_no_client_auth(),
    ))
}

/// libpq's checks short of `verify-full`: with `chain` (`verify-ca`) the certificate must
/// chain to the root, whatever name it carries; without (`prefer`, `require`) any
/// certificate is taken. The handshake's signatures are always checked.
#[derive(Debug)]
struct LibpqVerifier {
    chain: Option<Arc<rustls::client::WebPkiServerVerifier>>,
    provider: Arc<rustls::crypto::CryptoProvider>,
}

impl ServerCertVerifier for LibpqVerifier {
    fn verify_server_cert(
        &self,
        end_entity: &CertificateDer<'_>,
        intermediates: &[CertificateDer<'_>],
        server_name: &ServerName<'_>,
        ocsp_response: &[u8],
        now: UnixTime,
    ) -> Result<ServerCertVerified, rustls::Error> {
        use rustls::CertificateError::{NotValidForName, NotValidForNameContext};
        let Some(chain) = &self.chain else {
            return Ok(ServerCertVerified::assertion());
        };
        match chain.verify_server_cert(end_entity, intermediates, server_name, ocsp_response, now) {
            Err(rustls::Error::InvalidCertificate(NotValidForName | NotValidForNameContext { .. })) => {
                Ok(ServerCertVerified::assertion())
            }
            other => other,
        }
    }

    fn verify_tls12_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        rustls::crypto::verify_tls12_signature(message, cert, dss, &self.provider.signature_verification_algorithms)
    }

    fn verify_tls13_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        rustls::crypto::verify_tls13_signature(message, cert, dss, &self.provider.signature_verification_algorithms)
    }

    fn supported_verify_schemes(&self) -> Vec<SignatureScheme> {
        self.provider.signature_verification_algorithms.supported_schemes()
    }
}

/// tokio-postgres's TLS hooks, over tokio-rustls.
struct MakeRustls(Arc<ClientConfig>);

struct RustlsConnect {
    config: Arc<ClientConfig>,
    name: Result<ServerName<'static>, String>,
}

impl MakeTlsConnect<tokio_postgres::Socket> for MakeRustls {
    type Stream = RustlsStream;
    type TlsConnect = RustlsConnect;
    type Error = std::io::Error;

    fn make_tls_connect(&mut self, domain: &str) -> Result<RustlsConnect, std::io::Error> {
        Ok(RustlsConnect {
            config: self.0.clone(),
            name: ServerName::try_from(domain.to_owned()).map_err(|err| format!("{domain}: {err}")),
        })
    }
}

impl TlsConnect<tokio_postgres::Socket> for RustlsConnect {
    type Stream = RustlsStream;
    type Error = std::io::Error;
    type Future = Pin<Box<dyn Future<Output = Result<RustlsStream, std::io::Error>> + Send>>;

    fn connect(self, stream: tokio_postgres::Socket) -> Self::Future {
        Box::pin(async move {
            let name = self.name.map_err(std::io::Error::other)?;
            let stream = tokio_rustls::TlsConnector::from(self.config)
                .connect(name, stream)
                .await?;
            Ok(RustlsStream(stream))
        })
    }
}

struct RustlsStream(tokio_rustls::client::TlsStream<tokio_postgres::Socket>);

impl tokio_postgres::tls::TlsStream for RustlsStream {
    /// No `tls-server-end-point` binding: SCRAM without `-PLUS` (libpq's `prefer` falls
    /// back the same way; `channel_binding=require` is refused).
    fn channel_binding(&self) -> ChannelBinding {
        ChannelBinding::none()
    }
}

impl AsyncRead for RustlsStream {
    fn poll_read(self: Pin<&mut Self>, cx: &mut Context<'_>, buf: &mut ReadBuf<'_>) -> Poll<std::io::Result<()>> {
        Pin::new(&mut self.get_mut().0).poll_read(cx, buf)
    }
}

impl AsyncWrite for RustlsStream {
    fn poll_write(self: Pin<&mut Self>, cx: &mut Context<'_>, buf: &[u8]) -> Poll<std::io::Result<usize>> {
        Pin::new(&mut self.get_mut().0).poll_write(cx, buf)
    }

    fn poll_flush(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<std::io::Result<()>> {
        Pin::new(&mut self.get_mut().0).poll_flush(cx)
    }

    fn poll_shutdown(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<std::io::Result<()>> {
        Pin::new(&mut self.get_mut().0).poll_shutdown(cx)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn target(url: &str, env: &[(&str, &str)]) -> Result<PgTarget, String> {
        let env: Vec<(String, String)> = env.iter().map(|(k, v)| ((*k).to_owned(), (*v).to_owned())).collect();
        PgTarget::from_url(
            &PostgresUrl::new(url),
            |name| env.iter().find(|(k, _)| k == name).map(|(_, v)| v.clone()),
            None,
        )
    }

    fn mode(target: &PgTarget) -> (SslMode, bool) {
        (target.config.get_ssl_mode(), matches!(target.tls, Tls::Rustls(_)))
    }

    #[test]
    fn libpq_ssl_modes_keep_their_meaning() {
        let plain = target("postgres://u:p@db.example.com:5433/app?sslmode=disable", &[]).unwrap();
        assert_eq!(mode(&plain), (SslMode::Disable, false));
        assert_eq!(plain.config.get_ports(), &[5433]);
        assert_eq!(plain.config.get_dbname(), Some("app"));
        assert_eq!(plain.config.get_password(), Some(&b"p"[..]));
        assert_eq!(
            plain.config.get_connect_timeout(),
            Some(&std::time::Duration::from_secs(3))
        );
        // libpq's default is `prefer`: TLS when the server offers it.
        let default = target("postgres://u:p@db.example.com/app", &[]).unwrap();
        assert_eq!(mode(&default), (SslMode::Prefer, true));
        let required = target(
            "postgres://u:p@db.example.com/app?sslmode=require&connect_timeout=9",
            &[],
        )
        .unwrap();
        assert_eq!(mode(&required), (SslMode::Require, true));
        assert_eq!(
            required.config.get_connect_timeout(),
            Some(&std::time::Duration::from_secs(9))
        );
        let system = target(
            "postgres://u:p@db.example.com/app?sslmode=verify-full&sslrootcert=system",
            &[],
        )
        .unwrap();
        assert_eq!(mode(&system), (SslMode::Require, true));
    }

    #[test]
    fn what_only_libpq_would_understand_is_refused_with_its_reason() {
        for (url, says) in [
            ("postgres://u:p@h/app?sslmode=verify-full", "sslrootcert"),
            ("postgres://u:p@h/app?sslmode=allow", "sslmode=allow"),
            ("postgres://u:p@h/app?sslcert=/c.crt&sslkey=/c.key", "sslcert"),
            ("postgres://u:p@h/app?channel_binding=require", "channel_binding"),
            ("postgres://u:p@h/app?service=prod", "service"),
            ("postgres://u:p@h/app?no_such_option=1", "tokio-postgres"),
            (
                "postgres://u:p@h/app?sslmode=verify-ca&sslrootcert=/no/such/ca.crt",
                "/no/such/ca.crt",
            ),
        ] {
            let why = target(url, &[])
                .err()
                .unwrap_or_else(|| panic!("{url} must be refused"));
            assert!(why.contains(says), "{url}: {why}");
        }
        let why = target("postgres://u:p@h/app", &[("PGSSLMODE", "verify-full")])
            .err()
            .unwrap();
        assert!(
            why.starts_with("PGSSLMODE sets sslmode=verify-full without sslrootcert"),
            "{why}"
        );
        let why = target("postgres://u@h/app", &[("PGPASSWORD", "x")]).err().unwrap();
        assert!(why.contains("PGPASSWORD"), "{why}");
        // PGSSLROOTCERT is read (where the URL has no sslrootcert), so its file must exist.
        let why = target(
            "postgres://u:p@h/app?sslmode=require",
            &[("PGSSLROOTCERT", "/no/ca.crt")],
        )
        .err()
        .unwrap();
        assert!(why.contains("/no/ca.crt"), "{why}");
        // PGSSLMODE counts where the URL has no sslmode, as in libpq, never over it.
        let required = target("postgres://u:p@h/app", &[("PGSSLMODE", "require")]).unwrap();
        assert_eq!(mode(&required).0, SslMode::Require);
        let plain = target("postgres://u:p@h/app?sslmode=disable", &[("PGSSLMODE", "require")]).unwrap();
        assert_eq!(mode(&plain).0, SslMode::Disable);
        // What the URL itself sets, libpq takes from the URL: the variable changes nothing.
        for (name, value) in [
            ("PGPASSWORD", "x"),
            ("PGUSER", "v"),
            ("PGSSLMODE", "verify-full"),
            ("PGDATABASE", "d"),
        ] {
            assert!(
                target("postgres://u:p@h/app?sslmode=require", &[(name, value)]).is_ok(),
                "{name}"
            );
        }
    }

    #[test]
    fn a_pgpass_file_matters_only_without_a_password() {
        let home = tempfile::tempdir().unwrap();
        std::fs::write(home.path().join(".pgpass"), "*:*:*:*:secret\n").unwrap();
        let with = |url: &str| PgTarget::from_url(&PostgresUrl::new(url), |_| None, Some(home.path().to_path_buf()));
        assert!(with("postgres://u:p@h/app").is_ok());
        let why = with("postgres://u@h/app").err().unwrap();
        assert!(why.contains(".pgpass"), "{why}");
    }

    #[test]
    fn the_password_never_shows_in_a_reason() {
        let why = target("postgres://u:hunter2-secret@h/app?sslmode=bogus%zz&x=1", &[])
            .err()
            .unwrap();
        assert!(!why.contains("hunter2-secret"), "{why}");
        let why = target("postgres://u:hunter2-secret@h:notaport/app", &[]).err().unwrap();
        assert!(!why.contains("hunter2-secret"), "{why}");
    }
}
