//! A real OCI registry on loopback (Debian's `docker-registry`, the CNCF distribution
//! registry) with htpasswd (bcrypt) authentication, in a temporary directory.

use std::net::TcpListener;
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

pub struct Registry {
    pub host: String,
    child: Child,
    _dir: tempfile::TempDir,
}

fn find(program: &str) -> Option<PathBuf> {
    let paths = std::env::var_os("PATH")?;
    std::env::split_paths(&paths)
        .map(|dir| dir.join(program))
        .find(|p| p.is_file())
}

impl Registry {
    /// `Err(why)` when the registry or htpasswd is not installed.
    pub fn start(username: &str, password: &str) -> Result<Registry, String> {
        let registry = find("docker-registry").ok_or("no docker-registry (apt-get install docker-registry)")?;
        let htpasswd = find("htpasswd").ok_or("no htpasswd (apt-get install apache2-utils)")?;
        let dir = tempfile::tempdir().unwrap();
        let entry = Command::new(htpasswd)
            .args(["-Bbn", username, password])
            .output()
            .unwrap();
        assert!(entry.status.success());
        std::fs::write(dir.path().join("htpasswd"), &entry.stdout).unwrap();
        let port = TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port();
        let config = format!(
            "version: 0.1\nlog:\n  level: error\nstorage:\n  filesystem:\n    rootdirectory: {}\n  delete:\n    enabled: true\n\
             http:\n  addr: 127.0.0.1:{port}\n  secret: xtask-tests\nauth:\n  htpasswd:\n    realm: xtask-tests\n    path: {}\n",
            dir.path().join("data").display(),
            dir.path().join("htpasswd").display()
        );
        std::fs::write(dir.path().join("config.yml"), config).unwrap();
        let child = Command::new(registry)
            .arg("serve")
            .arg(dir.path().join("config.yml"))
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap();
        let host = format!("127.0.0.1:{port}");
        let deadline = Instant::now() + Duration::from_secs(15);
        while std::net::TcpStream::connect(&host).is_err() {
            assert!(Instant::now() < deadline, "the registry did not start");
            std::thread::sleep(Duration::from_millis(50));
        }
        Ok(Registry { host, child, _dir: dir })
    }
}

impl Drop for Registry {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}
