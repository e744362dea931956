//! A throwaway certificate authority and a server certificate for 127.0.0.1 and localhost, made
//! with the `openssl` command (P-256 keys, so generation takes milliseconds).

use std::fs;
use std::path::{Path, PathBuf};

use super::tools::openssl;

/// Validity of the generated certificates; a test cluster never lives that long.
const VALIDITY_DAYS: &str = "2";

/// The files `make_certificates` wrote.
#[derive(Debug, Clone)]
pub(crate) struct ServerCertificates {
    /// The CA certificate (PEM) that clients verify the server against.
    pub ca_file: PathBuf,
    /// The server certificate (PEM), signed by the CA.
    pub cert_file: PathBuf,
    /// The server's private key (PEM, mode 0600 as PostgreSQL demands).
    pub key_file: PathBuf,
}

/// Writes `ca.crt`, `server.crt` and `server.key` into `dir` (the CA key stays there too).
pub(crate) fn make_certificates(dir: &Path) -> ServerCertificates {
    let ec_key = [
        "-newkey",
        "ec",
        "-pkeyopt",
        "ec_paramgen_curve:prime256v1",
        "-nodes",
    ];
    let mut ca = vec![
        "req",
        "-x509",
        "-days",
        VALIDITY_DAYS,
        "-subj",
        "/CN=pgexporter test CA",
    ];
    ca.extend(ec_key);
    ca.extend([
        "-keyout",
        "ca.key",
        "-out",
        "ca.crt",
        "-addext",
        "basicConstraints=critical,CA:TRUE",
        "-addext",
        "keyUsage=critical,keyCertSign,cRLSign",
    ]);
    openssl(dir, ca);

    let mut request = vec!["req", "-new", "-subj", "/CN=127.0.0.1"];
    request.extend(ec_key);
    request.extend(["-keyout", "server.key", "-out", "server.csr"]);
    openssl(dir, request);

    fs::write(
        dir.join("server.ext"),
        "basicConstraints = critical, CA:FALSE\n\
         keyUsage = critical, digitalSignature\n\
         extendedKeyUsage = serverAuth\n\
         subjectAltName = IP:127.0.0.1, DNS:localhost\n",
    )
    .expect("write the server certificate extensions");
    openssl(
        dir,
        [
            "x509",
            "-req",
            "-in",
            "server.csr",
            "-CA",
            "ca.crt",
            "-CAkey",
            "ca.key",
            "-set_serial",
            "1",
            "-days",
            VALIDITY_DAYS,
            "-extfile",
            "server.ext",
            "-out",
            "server.crt",
        ],
    );

    let key_file = dir.join("server.key");
    restrict_to_owner(&key_file);
    ServerCertificates {
        ca_file: dir.join("ca.crt"),
        cert_file: dir.join("server.crt"),
        key_file,
    }
}

/// PostgreSQL refuses a key file that others may read.
fn restrict_to_owner(path: &Path) {
    use std::os::unix::fs::PermissionsExt;
    fs::set_permissions(path, fs::Permissions::from_mode(0o600))
        .unwrap_or_else(|e| panic!("cannot chmod 0600 {}: {e}", path.display()));
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn makes_a_ca_and_a_server_certificate_it_signed() {
        let dir =
            std::env::temp_dir().join(format!("pgexporter-certs-test-{}", std::process::id()));
        fs::create_dir_all(&dir).expect("create the test directory");
        let certs = make_certificates(&dir);
        let verify = std::process::Command::new("openssl")
            .arg("verify")
            .arg("-CAfile")
            .arg(&certs.ca_file)
            .arg(&certs.cert_file)
            .output()
            .expect("run openssl verify");
        let text = std::process::Command::new("openssl")
            .args(["x509", "-noout", "-text", "-in"])
            .arg(&certs.cert_file)
            .output()
            .expect("run openssl x509");
        fs::remove_dir_all(&dir).expect("remove the test directory");
        assert!(
            verify.status.success(),
            "{}",
            String::from_utf8_lossy(&verify.stderr)
        );
        let text = String::from_utf8_lossy(&text.stdout);
        assert!(text.contains("IP Address:127.0.0.1"), "{text}");
        assert!(text.contains("DNS:localhost"), "{text}");
    }
}
