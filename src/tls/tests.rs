#[path = "../../tests/common/pki.rs"]
mod pki;

use super::*;

fn server(cert: &str, key: &str) -> ServerTls {
    ServerTls {
        cert_file: Some(cert.into()),
        key_file: Some(key.into()),
        ..Default::default()
    }
}

#[test]
fn loads_and_names_each_problem() {
    let dir = tempfile::tempdir().unwrap();
    let ca = pki::Ca::new("test ca");
    let a = ca.leaf("a");
    let b = ca.leaf("b");
    let cert = pki::write(dir.path(), "a.crt", &a.cert_pem);
    let key = pki::write(dir.path(), "a.key", &a.key_pem);
    let other_key = pki::write(dir.path(), "b.key", &b.key_pem);
    let junk = pki::write(dir.path(), "junk.pem", "hello, not a certificate\n");
    let s = |p: &std::path::Path| p.to_str().unwrap().to_string();

    assert!(server(&s(&cert), &s(&key)).load(&[ALPN_H2]).is_ok());

    let e = server("/nonexistent/a.crt", &s(&key))
        .load(&[])
        .unwrap_err();
    assert_eq!(e, "tls::cert_file \"/nonexistent/a.crt\": file not found");

    let e = server(&s(&junk), &s(&key)).load(&[]).unwrap_err();
    assert!(
        e.contains("tls::cert_file") && e.contains("junk.pem") && e.contains("is not PEM"),
        "{e}"
    );

    let e = server(&s(&cert), &s(&junk)).load(&[]).unwrap_err();
    assert!(
        e.contains("tls::key_file") && e.contains("no PRIVATE KEY block"),
        "{e}"
    );

    let e = server(&s(&cert), &s(&other_key)).load(&[]).unwrap_err();
    assert!(
        e.contains("b.key") && e.contains("does not match") && e.contains("a.crt"),
        "{e}"
    );
    assert!(!e.contains("PRIVATE"), "{e}");

    let dir_err = server(dir.path().to_str().unwrap(), &s(&key))
        .load(&[])
        .unwrap_err();
    assert!(dir_err.contains("cannot be read"), "{dir_err}");

    let old = ca.leaf_with("old", |p| {
        p.not_before = rcgen::date_time_ymd(2020, 1, 1);
        p.not_after = rcgen::date_time_ymd(2021, 1, 1);
    });
    let old_cert = pki::write(dir.path(), "old.crt", &old.cert_pem);
    let old_key = pki::write(dir.path(), "old.key", &old.key_pem);
    let e = server(&s(&old_cert), &s(&old_key)).load(&[]).unwrap_err();
    assert!(
        e.contains("old.crt") && e.contains("expired on 2021-01-01"),
        "{e}"
    );
}

#[test]
fn client_ca_and_client_errors() {
    let dir = tempfile::tempdir().unwrap();
    let ca = pki::Ca::new("ca");
    let a = ca.leaf("a");
    let cert = pki::write(dir.path(), "a.crt", &a.cert_pem);
    let key = pki::write(dir.path(), "a.key", &a.key_pem);
    let ca_file = pki::write(dir.path(), "ca.crt", &ca.cert_pem);
    let mut t = server(cert.to_str().unwrap(), key.to_str().unwrap());
    t.client_ca_file = Some(ca_file.to_str().unwrap().into());
    assert!(t.load(&[]).is_ok());
    t.client_ca_file = Some("/nonexistent/ca.crt".into());
    assert!(t.load(&[]).unwrap_err().contains("tls::client_ca_file"));

    let c = ClientTls {
        ca_file: Some("/nonexistent/ca.crt".into()),
        ..Default::default()
    };
    assert_eq!(
        c.load(&[]).unwrap_err(),
        "tls::ca_file \"/nonexistent/ca.crt\": file not found"
    );
    let c = ClientTls {
        insecure_skip_verify: true,
        min_version: Some("1.3".into()),
        ..Default::default()
    };
    assert!(c.load(&[ALPN_H2]).is_ok());
}

#[test]
fn inline_key_never_in_errors() {
    let t = ServerTls {
        cert_pem: Some("-----BEGIN CERTIFICATE-----\nAAAA\n-----END CERTIFICATE-----\n".into()),
        key_pem: Some(Secret::new(
            "-----BEGIN PRIVATE KEY-----\nc2VjcmV0LWtleS1ieXRlcw==\n-----END PRIVATE KEY-----\n",
        )),
        ..Default::default()
    };
    let e = t.load(&[]).unwrap_err();
    assert!(!e.contains("c2VjcmV0"), "{e}");
    assert!(!format!("{t:?}").contains("c2VjcmV0"));
}

#[test]
fn versions_and_suites() {
    let mut errors = Vec::new();
    let t = ServerTls {
        min_version: Some("1.4".into()),
        max_version: Some("1.1".into()),
        cipher_suites: vec!["TLS_RSA_WITH_RC4_128_SHA".into()],
        ..Default::default()
    };
    t.validate("r::tls", &mut errors);
    let all = format!("{errors:?}");
    assert!(
        all.contains("r::tls::min_version") && all.contains("r::tls::max_version"),
        "{all}"
    );
    assert!(
        all.contains("r::tls::cipher_suites") && all.contains("r::tls::cert_file"),
        "{all}"
    );
    assert_eq!(versions(&None, &None).unwrap().len(), 2);
    assert_eq!(versions(&Some("1.3".into()), &None).unwrap().len(), 1);
    assert_eq!(
        versions(&Some("1.0".into()), &Some("1.2".into()))
            .unwrap()
            .len(),
        1
    );
    let p = provider(
        &["TLS_ECDHE_ECDSA_WITH_CHACHA20_POLY1305".into()],
        &["X25519".into()],
    )
    .unwrap();
    assert_eq!(p.kx_groups.len(), 1);
    assert!(p.cipher_suites.iter().any(|c| c.tls13().is_none()));
}

/// Every client's TLS set-up goes through `http_client` / `grpc_connector`: they read the files only
/// when TLS is used, and name the key and file when one is wrong.
#[test]
fn client_set_ups_read_tls_only_when_used() {
    let tls = ClientTls {
        ca_file: Some("/nonexistent/ca.crt".into()),
        ..Default::default()
    };
    assert!(tls
        .http_client(reqwest::Client::builder(), false, &[ALPN_HTTP])
        .is_ok());
    let insecure = ClientTls {
        insecure: true,
        ..tls.clone()
    };
    assert!(insecure
        .http_client(reqwest::Client::builder(), true, &[ALPN_HTTP])
        .is_ok());
    let e = tls
        .http_client(reqwest::Client::builder(), true, &[ALPN_HTTP])
        .err()
        .unwrap();
    assert_eq!(e, "tls::ca_file \"/nonexistent/ca.crt\": file not found");
    let e = tls.grpc_connector().err().unwrap();
    assert_eq!(e, "tls::ca_file \"/nonexistent/ca.crt\": file not found");

    let dir = tempfile::tempdir().unwrap();
    let ca = pki::Ca::new("test ca");
    let ca_file = pki::write(dir.path(), "ca.crt", &ca.cert_pem);
    let ok = ClientTls {
        ca_file: Some(ca_file.to_str().unwrap().into()),
        server_name_override: Some("a".into()),
        ..Default::default()
    };
    assert!(ok.grpc_connector().is_ok());
    assert!(ok
        .http_client(reqwest::Client::builder(), true, &[ALPN_H2, ALPN_HTTP])
        .is_ok());
}

/// A plain-HTTP client reads no CA bundle when it is built; a redirect to `https://` still has the
/// system's roots, read at that first handshake (a certificate they do not know is refused).
#[test]
fn plain_http_clients_read_the_system_roots_at_the_first_handshake() {
    use rustls::client::danger::ServerCertVerifier;
    use rustls::pki_types::{ServerName, UnixTime};
    assert!(client::system_roots_on_first_use(&[ALPN_HTTP]).is_ok());
    let roots = client::SystemRoots::new(provider(&[], &[]).unwrap());
    assert!(roots.verifier.get().is_none());
    let ca = pki::Ca::new("not a system root");
    let cert = CertificateDer::from_pem_slice(ca.cert_pem.as_bytes()).unwrap();
    let name = ServerName::try_from("localhost").unwrap();
    let res = roots.verify_server_cert(&cert, &[], &name, &[], UnixTime::now());
    assert!(res.is_err(), "{res:?}");
    assert!(roots.verifier.get().is_some());
}
