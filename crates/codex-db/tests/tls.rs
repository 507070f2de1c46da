//! PostgreSQL over TLS (issue 26, review L14): a throwaway cluster (initdb + pg_ctl, as the
//! `postgres` user when run as root) with `ssl=on` and a certificate made in the test (a CA and
//! a server certificate for `localhost`, with the openssl CLI), on a random port in a temp dir.
//! Checks `require`, `verify-full` with the right CA and host name, `verify-full` refusing a
//! wrong host name, `verify-ca` accepting it, a wrong CA refused, and `require` refused by a
//! plaintext-only server. The cluster is stopped by a Drop guard, also on panic.

use std::path::{Path, PathBuf};
use std::process::Command;

use codex_db::{postgres, DbError};

/// A PostgreSQL binary from the system's installation.
fn pg_bin(name: &str) -> Option<PathBuf> {
    let mut dirs: Vec<PathBuf> = std::fs::read_dir("/usr/lib/postgresql")
        .into_iter()
        .flatten()
        .flatten()
        .map(|e| e.path().join("bin"))
        .collect();
    dirs.sort();
    dirs.reverse();
    dirs.extend(
        std::env::var_os("PATH")
            .map(|p| std::env::split_paths(&p).collect::<Vec<_>>())
            .unwrap_or_default(),
    );
    dirs.into_iter().map(|d| d.join(name)).find(|p| p.is_file())
}

fn is_root() -> bool {
    Command::new("id")
        .arg("-u")
        .output()
        .is_ok_and(|o| String::from_utf8_lossy(&o.stdout).trim() == "0")
}

/// Runs `program args` (as `postgres` when we are root); panics with its output on failure.
fn run(program: &Path, args: &[&str]) {
    let mut cmd = if is_root() {
        let mut c = Command::new("runuser");
        c.args(["-u", "postgres", "--"]).arg(program);
        c
    } else {
        Command::new(program)
    };
    let out = cmd.args(args).output().expect("run a PostgreSQL tool");
    assert!(
        out.status.success(),
        "{} {args:?} failed: {}{}",
        program.display(),
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
}

fn openssl(dir: &Path, args: &[&str]) {
    let out = Command::new("openssl")
        .current_dir(dir)
        .args(args)
        .output()
        .expect("run openssl");
    assert!(
        out.status.success(),
        "openssl {args:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
}

/// A CA (`name.crt`/`name.key`) in `dir`.
fn make_ca(dir: &Path, name: &str) {
    openssl(
        dir,
        &[
            "req",
            "-x509",
            "-newkey",
            "ec",
            "-pkeyopt",
            "ec_paramgen_curve:prime256v1",
            "-nodes",
            "-keyout",
            &format!("{name}.key"),
            "-out",
            &format!("{name}.crt"),
            "-days",
            "2",
            "-subj",
            &format!("/CN={name}"),
            "-addext",
            "basicConstraints=critical,CA:TRUE",
            "-addext",
            "keyUsage=critical,keyCertSign,cRLSign",
        ],
    );
}

/// A stopped-on-drop cluster.
struct Cluster {
    _dir: tempfile::TempDir,
    data: PathBuf,
    pg_ctl: PathBuf,
    port: u16,
    certs: PathBuf,
}

impl Cluster {
    fn start() -> Option<Cluster> {
        let (initdb, pg_ctl) = (pg_bin("initdb")?, pg_bin("pg_ctl")?);
        Command::new("openssl").arg("version").output().ok()?;
        let dir = tempfile::tempdir().expect("temp dir");
        let certs = dir.path().join("certs");
        std::fs::create_dir(&certs).unwrap();
        make_ca(&certs, "ca");
        make_ca(&certs, "other-ca");
        openssl(
            &certs,
            &[
                "req",
                "-newkey",
                "ec",
                "-pkeyopt",
                "ec_paramgen_curve:prime256v1",
                "-nodes",
                "-keyout",
                "server.key",
                "-out",
                "server.csr",
                "-subj",
                "/CN=localhost",
            ],
        );
        std::fs::write(
            certs.join("ext.cnf"),
            "subjectAltName=DNS:localhost\nbasicConstraints=CA:FALSE\n\
             keyUsage=digitalSignature,keyEncipherment\nextendedKeyUsage=serverAuth\n",
        )
        .unwrap();
        openssl(
            &certs,
            &[
                "x509",
                "-req",
                "-in",
                "server.csr",
                "-CA",
                "ca.crt",
                "-CAkey",
                "ca.key",
                "-CAcreateserial",
                "-out",
                "server.crt",
                "-days",
                "2",
                "-extfile",
                "ext.cnf",
            ],
        );
        let data = dir.path().join("data");
        if is_root() {
            let status = Command::new("chown")
                .args(["-R", "postgres:postgres"])
                .arg(dir.path())
                .status()
                .unwrap();
            assert!(status.success());
        }
        run(
            &initdb,
            &[
                "-D",
                data.to_str().unwrap(),
                "-A",
                "trust",
                "-U",
                "postgres",
                "--no-sync",
            ],
        );
        let port = std::net::TcpListener::bind("127.0.0.1:0")
            .unwrap()
            .local_addr()
            .unwrap()
            .port();
        let c = |f: &str| certs.join(f).display().to_string();
        let conf = format!(
            "\nlisten_addresses = '127.0.0.1'\nport = {port}\nunix_socket_directories = '{}'\n\
             ssl = on\nssl_cert_file = '{}'\nssl_key_file = '{}'\nfsync = off\n",
            dir.path().display(),
            c("server.crt"),
            c("server.key"),
        );
        let mut existing = std::fs::read_to_string(data.join("postgresql.conf")).unwrap();
        existing.push_str(&conf);
        std::fs::write(data.join("postgresql.conf"), existing).unwrap();
        let cluster = Cluster {
            data,
            pg_ctl,
            port,
            certs,
            _dir: dir,
        };
        let log = cluster.data.join("log.txt");
        run(
            &cluster.pg_ctl,
            &[
                "-D",
                cluster.data.to_str().unwrap(),
                "-l",
                log.to_str().unwrap(),
                "-w",
                "start",
            ],
        );
        Some(cluster)
    }

    fn url(&self, host: &str, query: &str) -> String {
        format!("postgres://postgres@{host}:{}/postgres?{query}", self.port)
    }

    fn cert(&self, name: &str) -> String {
        self.certs.join(name).display().to_string()
    }
}

impl Drop for Cluster {
    fn drop(&mut self) {
        let mut cmd = if is_root() {
            let mut c = Command::new("runuser");
            c.args(["-u", "postgres", "--"]).arg(&self.pg_ctl);
            c
        } else {
            Command::new(&self.pg_ctl)
        };
        let _ = cmd
            .args([
                "-D",
                self.data.to_str().unwrap_or(""),
                "-m",
                "immediate",
                "-w",
                "stop",
            ])
            .output();
    }
}

/// Whether the connection is encrypted, as the server sees it.
async fn ssl_in_use(url: &str) -> bool {
    let pool = postgres::connect(url).await.expect("connect");
    let client = pool.get().await.expect("a connection");
    client
        .query_one(
            "SELECT ssl FROM pg_stat_ssl WHERE pid = pg_backend_pid()",
            &[],
        )
        .await
        .expect("pg_stat_ssl")
        .get(0)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn postgres_over_tls_with_every_sslmode() {
    let Some(cluster) = Cluster::start() else {
        panic!("PostgreSQL's initdb/pg_ctl or openssl is missing: install postgresql and openssl");
    };
    let ca = cluster.cert("ca.crt");
    let other = cluster.cert("other-ca.crt");

    // require: encrypted, certificate not checked.
    assert!(ssl_in_use(&cluster.url("127.0.0.1", "sslmode=require")).await);
    // prefer (the default): encrypted when offered.
    assert!(ssl_in_use(&cluster.url("127.0.0.1", "application_name=t")).await);
    // disable: plain.
    assert!(!ssl_in_use(&cluster.url("127.0.0.1", "sslmode=disable")).await);

    // verify-full with the right CA and host name.
    let full = format!("sslmode=verify-full&sslrootcert={ca}");
    assert!(ssl_in_use(&cluster.url("localhost", &full)).await);
    // The key=value form and the one-connection path (the live tail's) take it too.
    let kv = format!(
        "host=localhost port={} user=postgres dbname=postgres sslmode=verify-full sslrootcert='{ca}'",
        cluster.port
    );
    let (client, connection) = postgres::connect_one(&kv).await.expect("connect_one");
    let driver = tokio::spawn(connection);
    let row = client
        .query_one(
            "SELECT ssl FROM pg_stat_ssl WHERE pid = pg_backend_pid()",
            &[],
        )
        .await
        .unwrap();
    assert!(row.get::<_, bool>(0));
    drop(client);
    let _ = driver.await;

    // verify-full with a wrong host name (the certificate is for localhost): refused, clearly.
    let err = postgres::connect(&cluster.url("127.0.0.1", &full))
        .await
        .expect_err("a wrong host name is refused");
    let text = format!("{err} / {:?}", std::error::Error::source(&err));
    assert!(matches!(err, DbError::Connect { .. }), "{text}");
    assert!(
        text.contains("NotValidForName") || text.contains("not valid for"),
        "the error names the host-name mismatch: {text}"
    );
    // verify-ca checks the chain only: the same host is accepted.
    let ca_only = format!("sslmode=verify-ca&sslrootcert={ca}");
    assert!(ssl_in_use(&cluster.url("127.0.0.1", &ca_only)).await);
    // Another CA: refused under verify-ca and verify-full.
    for mode in ["verify-ca", "verify-full"] {
        let url = cluster.url("localhost", &format!("sslmode={mode}&sslrootcert={other}"));
        let err = postgres::connect(&url)
            .await
            .expect_err("a wrong CA is refused");
        let text = format!("{err} / {:?}", std::error::Error::source(&err));
        assert!(
            text.contains("UnknownIssuer") || text.contains("issuer"),
            "{mode}: {text}"
        );
    }

    // A plaintext-only server: `require` is refused, `prefer` goes plain.
    let admin = postgres::connect(&cluster.url("127.0.0.1", "sslmode=disable"))
        .await
        .unwrap();
    let client = admin.get().await.unwrap();
    client
        .batch_execute("ALTER SYSTEM SET ssl = off")
        .await
        .unwrap();
    client
        .batch_execute("SELECT pg_reload_conf()")
        .await
        .unwrap();
    drop(client);
    drop(admin);
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(30);
    loop {
        match postgres::connect(&cluster.url("127.0.0.1", "sslmode=require")).await {
            Err(err) => {
                let text = format!("{err} / {:?}", std::error::Error::source(&err));
                assert!(text.contains("TLS"), "the refusal says why: {text}");
                break;
            }
            Ok(_) => {
                // The reload is asynchronous: wait for the server to drop TLS.
                assert!(
                    std::time::Instant::now() < deadline,
                    "ssl=off never took effect"
                );
                tokio::time::sleep(std::time::Duration::from_millis(50)).await;
            }
        }
    }
    assert!(!ssl_in_use(&cluster.url("127.0.0.1", "sslmode=prefer")).await);
}
