//! `basicauth`: HTTP Basic authentication. Server side checks `Authorization: Basic …` against an
//! htpasswd file or inline htpasswd lines (bcrypt, `{SHA}`, `{SSHA}` or plain text); client side sends
//! `client_auth.username` / `password`.

use std::any::Any;
use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use async_trait::async_trait;
use base64::Engine;
use http::{HeaderMap, HeaderName, HeaderValue};
use serde::Deserialize;
use serde_yaml::Value;

use crate::component::{
    ConfigResult, Extension, ExtensionFactory, Host, PreparedExtension, StartError,
};
use crate::config::secret::Secret;
use crate::config::{ComponentId, ConfigError};
use crate::extensions::auth::{constant_time_eq, ClientAuthenticator, ServerAuthenticator};
use crate::signal::ClientMetadata;

#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Config {
    #[serde(default)]
    pub htpasswd: Option<Htpasswd>,
    #[serde(default)]
    pub client_auth: Option<ClientAuth>,
}

#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Htpasswd {
    #[serde(default)]
    pub file: Option<String>,
    /// htpasswd lines; may hold plain-text passwords, so it is a secret.
    #[serde(default)]
    pub inline: Option<Secret>,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ClientAuth {
    pub username: String,
    #[serde(default)]
    pub password: Secret,
}

pub struct Factory;

impl ExtensionFactory for Factory {
    fn type_name(&self) -> &'static str {
        "basicauth"
    }

    fn prepare(&self, cfg: &Value, path: &str) -> ConfigResult<Arc<dyn PreparedExtension>> {
        let c: Config = crate::config::parse(cfg, path).map_err(|e| vec![e])?;
        let mut errors = Vec::new();
        match (&c.htpasswd, &c.client_auth) {
            (Some(_), Some(_)) => errors.push(ConfigError::new(
                path,
                "set either htpasswd (server) or client_auth (client), not both",
            )),
            (None, None) => errors.push(ConfigError::new(
                path,
                "set htpasswd (to check incoming requests) or client_auth (to send credentials)",
            )),
            (Some(h), None) if h.file.is_none() && h.inline.is_none() => errors.push(
                ConfigError::new(format!("{path}::htpasswd"), "set file or inline"),
            ),
            (None, Some(c)) if c.username.contains(':') => errors.push(ConfigError::new(
                format!("{path}::client_auth::username"),
                "must not contain ':'",
            )),
            _ => {}
        }
        if !errors.is_empty() {
            return Err(errors);
        }
        Ok(Arc::new(c))
    }
}

impl PreparedExtension for Config {
    fn create(&self, id: &ComponentId) -> Result<Arc<dyn Extension>, StartError> {
        let at = |k: &str| format!("extensions::{id}::{k}");
        let server = match &self.htpasswd {
            None => None,
            Some(h) => {
                let mut users = HashMap::new();
                if let Some(f) = &h.file {
                    let text = std::fs::read_to_string(f).map_err(|e| {
                        StartError::new(
                            at("htpasswd::file"),
                            match e.kind() {
                                std::io::ErrorKind::NotFound => format!("{f:?}: file not found"),
                                _ => format!("{f:?} cannot be read: {e}"),
                            },
                        )
                    })?;
                    parse_htpasswd(&text, &mut users).map_err(|e| {
                        StartError::new(at("htpasswd::file"), format!("{f:?}: {e}"))
                    })?;
                }
                if let Some(inline) = &h.inline {
                    parse_htpasswd(inline.expose(), &mut users)
                        .map_err(|e| StartError::new(at("htpasswd::inline"), e))?;
                }
                Some(Arc::new(Server::new(users)))
            }
        };
        let client = match &self.client_auth {
            None => None,
            Some(c) => {
                let raw = format!("{}:{}", c.username, c.password.expose());
                let mut v = HeaderValue::from_str(&format!(
                    "Basic {}",
                    base64::engine::general_purpose::STANDARD.encode(raw)
                ))
                .map_err(|_| StartError::new(at("client_auth"), "not usable in a header"))?;
                v.set_sensitive(true);
                Some(Arc::new(Client(v)))
            }
        };
        Ok(Arc::new(BasicAuth { server, client }))
    }
}

enum Hash {
    Bcrypt(String),
    Sha1([u8; 20]),
    /// SHA-1 digest and salt.
    Ssha(Vec<u8>, Vec<u8>),
    Plain(Secret),
}

/// Parses `user:hash` lines; errors name the line number, never its contents.
fn parse_htpasswd(text: &str, users: &mut HashMap<String, Hash>) -> Result<(), String> {
    let b64 = base64::engine::general_purpose::STANDARD;
    for (i, line) in text.lines().enumerate() {
        let line = line.trim();
        if line.is_empty() || line.starts_with('#') {
            continue;
        }
        let n = i + 1;
        let Some((user, hash)) = line.split_once(':') else {
            return Err(format!("line {n}: expected user:password-hash"));
        };
        let h = if hash.starts_with("$2a$") || hash.starts_with("$2b$") || hash.starts_with("$2y$")
        {
            Hash::Bcrypt(hash.to_string())
        } else if let Some(d) = hash.strip_prefix("{SHA}") {
            let d = b64
                .decode(d)
                .ok()
                .and_then(|d| <[u8; 20]>::try_from(d).ok())
                .ok_or_else(|| format!("line {n}: malformed {{SHA}} hash"))?;
            Hash::Sha1(d)
        } else if let Some(d) = hash.strip_prefix("{SSHA}") {
            let d = b64
                .decode(d)
                .ok()
                .filter(|d| d.len() > 20)
                .ok_or_else(|| format!("line {n}: malformed {{SSHA}} hash"))?;
            Hash::Ssha(d[..20].to_vec(), d[20..].to_vec())
        } else if ["$apr1$", "$1$", "$5$", "$6$"]
            .iter()
            .any(|p| hash.starts_with(p))
        {
            return Err(format!(
                "line {n}: this hash type is not supported; use bcrypt (htpasswd -B), {{SHA}} or {{SSHA}}"
            ));
        } else {
            Hash::Plain(Secret::new(hash))
        };
        users.insert(user.to_string(), h);
    }
    Ok(())
}

fn sha1(parts: &[&[u8]]) -> [u8; 20] {
    use sha1::Digest;
    let mut h = sha1::Sha1::new();
    for p in parts {
        h.update(p);
    }
    h.finalize().into()
}

fn sha256(data: &[u8]) -> [u8; 32] {
    let d = ring::digest::digest(&ring::digest::SHA256, data);
    let mut out = [0u8; 32];
    out.copy_from_slice(d.as_ref());
    out
}

/// Password verifications (bcrypt) running at once, at most; more wait, up to [`MAX_WAITING`].
fn max_verifying() -> usize {
    std::thread::available_parallelism().map_or(2, |n| n.get().clamp(1, 8))
}
/// Verifications allowed to wait for a slot; beyond this a request is refused at once (401), so a
/// flood of wrong passwords costs a bounded amount of CPU and memory.
const MAX_WAITING: usize = 256;

struct Server {
    users: HashMap<String, Hash>,
    /// user → SHA-256 of the password last verified against a bcrypt hash, so that bcrypt's deliberate
    /// slowness is paid once per credential rather than on every request.
    verified: Mutex<HashMap<String, [u8; 32]>>,
    /// Verified against for unknown users, with the highest cost in the file, so that an unknown
    /// user takes as long as a known one with a wrong password (no username enumeration by timing).
    dummy: Option<String>,
    slots: Arc<tokio::sync::Semaphore>,
    max_waiting: usize,
    waiting: std::sync::atomic::AtomicUsize,
    /// bcrypt verifications run (for tests).
    bcrypt_runs: std::sync::atomic::AtomicU64,
}

/// What checking a password takes.
#[derive(Debug, PartialEq)]
enum Check {
    Done(bool),
    /// bcrypt against this hash; `known` is false for the dummy (the answer is then always no).
    Bcrypt {
        hash: String,
        known: bool,
    },
}

impl Server {
    fn new(users: HashMap<String, Hash>) -> Server {
        let cost = users
            .values()
            .filter_map(|h| match h {
                Hash::Bcrypt(b) => b.get(4..6).and_then(|c| c.parse::<u32>().ok()),
                _ => None,
            })
            .max();
        Server {
            users,
            verified: Mutex::new(HashMap::new()),
            // Computed once at start (one bcrypt run); its password is random, never presented.
            dummy: cost.and_then(|c| {
                let secret: [u8; 16] = rand::random();
                bcrypt::hash(secret, c).ok()
            }),
            max_waiting: MAX_WAITING,
            slots: Arc::new(tokio::sync::Semaphore::new(max_verifying())),
            waiting: Default::default(),
            bcrypt_runs: Default::default(),
        }
    }

    /// The cheap part of a check, done inline; bcrypt is returned as work to do elsewhere.
    fn precheck(&self, user: &str, pass: &str) -> Check {
        let Some(h) = self.users.get(user) else {
            return match &self.dummy {
                Some(hash) => Check::Bcrypt {
                    hash: hash.clone(),
                    known: false,
                },
                None => Check::Done(false),
            };
        };
        match h {
            Hash::Plain(p) => Check::Done(constant_time_eq(p.expose().as_bytes(), pass.as_bytes())),
            Hash::Sha1(d) => Check::Done(constant_time_eq(d, &sha1(&[pass.as_bytes()]))),
            Hash::Ssha(d, salt) => {
                Check::Done(constant_time_eq(d, &sha1(&[pass.as_bytes(), salt])))
            }
            Hash::Bcrypt(hash) => {
                let digest = sha256(pass.as_bytes());
                if let Ok(v) = self.verified.lock() {
                    if v.get(user).is_some_and(|d| constant_time_eq(d, &digest)) {
                        return Check::Done(true);
                    }
                }
                Check::Bcrypt {
                    hash: hash.clone(),
                    known: true,
                }
            }
        }
    }

    async fn check(&self, user: &str, pass: &str) -> Result<bool, String> {
        use std::sync::atomic::Ordering;
        let (hash, known) = match self.precheck(user, pass) {
            Check::Done(ok) => return Ok(ok),
            Check::Bcrypt { hash, known } => (hash, known),
        };
        if self.waiting.fetch_add(1, Ordering::AcqRel) >= self.max_waiting {
            self.waiting.fetch_sub(1, Ordering::AcqRel);
            return Err("too many password checks in progress".into());
        }
        let permit = self.slots.clone().acquire_owned().await;
        self.waiting.fetch_sub(1, Ordering::AcqRel);
        let Ok(permit) = permit else {
            return Err("authenticator stopped".into());
        };
        self.bcrypt_runs.fetch_add(1, Ordering::Relaxed);
        let p = pass.to_string();
        let ok = tokio::task::spawn_blocking(move || {
            let _permit = permit;
            bcrypt::verify(p, &hash).unwrap_or(false)
        })
        .await
        .unwrap_or(false)
            && known;
        if ok {
            if let Ok(mut v) = self.verified.lock() {
                v.insert(user.to_string(), sha256(pass.as_bytes()));
            }
        }
        Ok(ok)
    }
}

#[async_trait]
impl ServerAuthenticator for Server {
    async fn authenticate(&self, headers: &HeaderMap) -> Result<(), String> {
        let v = headers
            .get(http::header::AUTHORIZATION)
            .ok_or("missing Authorization header")?
            .to_str()
            .map_err(|_| "malformed Authorization header")?;
        let (scheme, creds) = v.split_once(' ').ok_or("malformed Authorization header")?;
        if !scheme.eq_ignore_ascii_case("basic") {
            return Err("the Authorization header is not Basic".into());
        }
        let raw = base64::engine::general_purpose::STANDARD
            .decode(creds.trim())
            .ok()
            .and_then(|d| String::from_utf8(d).ok())
            .ok_or("malformed Basic credentials")?;
        let (user, pass) = raw.split_once(':').ok_or("malformed Basic credentials")?;
        if self.check(user, pass).await? {
            Ok(())
        } else {
            Err("invalid username or password".into())
        }
    }
}

struct Client(HeaderValue);

impl ClientAuthenticator for Client {
    fn headers(
        &self,
        _metadata: Option<&ClientMetadata>,
    ) -> Result<Vec<(HeaderName, HeaderValue)>, String> {
        Ok(vec![(http::header::AUTHORIZATION, self.0.clone())])
    }
}

pub struct BasicAuth {
    server: Option<Arc<Server>>,
    client: Option<Arc<Client>>,
}

#[async_trait]
impl Extension for BasicAuth {
    async fn start(&self, _host: &Host) -> Result<(), StartError> {
        Ok(())
    }
    async fn shutdown(&self) {}
    fn as_any(&self) -> &dyn Any {
        self
    }
    fn server_authenticator(&self) -> Option<Arc<dyn ServerAuthenticator>> {
        self.server
            .clone()
            .map(|s| s as Arc<dyn ServerAuthenticator>)
    }
    fn client_authenticator(&self) -> Option<Arc<dyn ClientAuthenticator>> {
        self.client
            .clone()
            .map(|c| c as Arc<dyn ClientAuthenticator>)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn basic(u: &str, p: &str) -> HeaderMap {
        let mut h = HeaderMap::new();
        let v = base64::engine::general_purpose::STANDARD.encode(format!("{u}:{p}"));
        h.insert(
            "authorization",
            HeaderValue::from_str(&format!("Basic {v}")).unwrap(),
        );
        h
    }

    fn ext(yaml: &str) -> Result<Arc<dyn Extension>, String> {
        let v: Value = serde_yaml::from_str(yaml).unwrap();
        Factory
            .prepare(&v, "extensions::basicauth")
            .map_err(|e| format!("{e:?}"))?
            .create(&ComponentId::parse("basicauth").unwrap())
            .map_err(|e| e.to_string())
    }

    #[tokio::test]
    async fn htpasswd_forms() {
        let bc = bcrypt::hash("pw-b", 4).unwrap();
        let sha = format!(
            "{{SHA}}{}",
            base64::engine::general_purpose::STANDARD.encode(sha1(&[b"pw-s"]))
        );
        let yaml =
            format!("htpasswd: {{inline: \"plain:pw-p\\nbc:{bc}\\nsha:{sha}\\n# comment\"}}");
        let e = ext(&yaml).unwrap();
        let s = e.server_authenticator().unwrap();
        assert!(e.client_authenticator().is_none());
        for (u, p) in [
            ("plain", "pw-p"),
            ("bc", "pw-b"),
            ("bc", "pw-b"),
            ("sha", "pw-s"),
        ] {
            assert!(s.authenticate(&basic(u, p)).await.is_ok(), "{u}");
            let err = s.authenticate(&basic(u, "nope")).await.unwrap_err();
            assert!(!err.contains("nope") && !err.contains(p));
        }
        assert!(s.authenticate(&basic("who", "pw-p")).await.is_err());
        assert!(s.authenticate(&HeaderMap::new()).await.is_err());
    }

    #[test]
    fn client_sends_basic_and_errors_hide_lines() {
        let e = ext("client_auth: {username: u, password: p4ss}").unwrap();
        let h = e.client_authenticator().unwrap().headers(None).unwrap();
        assert_eq!(h[0].1.to_str().unwrap(), "Basic dTpwNHNz");
        let err = ext("htpasswd: {inline: \"u:$apr1$xyz$secretish\"}")
            .err()
            .unwrap();
        assert!(
            err.contains("line 1") && !err.contains("secretish"),
            "{err}"
        );
    }

    fn server(lines: &str) -> Server {
        let mut users = HashMap::new();
        parse_htpasswd(lines, &mut users).unwrap();
        Server::new(users)
    }

    #[tokio::test]
    async fn unknown_users_go_through_bcrypt_like_known_ones() {
        let bc = bcrypt::hash("right", 5).unwrap();
        let s = server(&format!("alice:{bc}\nplain:pw"));
        // Same path and same cost for an unknown user as for a known one with a wrong password.
        match s.precheck("mallory", "x") {
            Check::Bcrypt { hash, known } => {
                assert!(!known);
                assert!(hash.starts_with("$2b$05$"), "{hash}");
            }
            other => panic!("unknown user took a shortcut: {other:?}"),
        }
        assert!(matches!(
            s.precheck("alice", "wrong"),
            Check::Bcrypt { known: true, .. }
        ));
        use std::sync::atomic::Ordering;
        let before = s.bcrypt_runs.load(Ordering::Relaxed);
        assert!(!s.check("mallory", "x").await.unwrap());
        assert!(!s.check("mallory", "right").await.unwrap());
        assert_eq!(s.bcrypt_runs.load(Ordering::Relaxed), before + 2);
        // The dummy is a hash bcrypt accepts (so it costs a full verification), never a match.
        assert!(bcrypt::verify("x", s.dummy.as_deref().unwrap()).is_ok());
        assert!(s.check("alice", "right").await.unwrap());
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn a_flood_of_wrong_passwords_is_bounded_and_leaves_the_runtime_free() {
        let bc = bcrypt::hash("right", 6).unwrap();
        let mut s = server(&format!("alice:{bc}"));
        s.max_waiting = 16;
        let s = Arc::new(s);
        let mut tasks = Vec::new();
        for _ in 0..64 {
            let s = s.clone();
            tasks.push(tokio::spawn(async move {
                s.authenticate(&basic("alice", "wrong")).await
            }));
        }
        // While they run, the runtime still serves other work promptly enough to make progress.
        let mut ticks = 0;
        for _ in 0..20 {
            tokio::time::sleep(std::time::Duration::from_millis(1)).await;
            ticks += 1;
        }
        assert_eq!(ticks, 20);
        let mut refused_at_once = 0;
        for t in tasks {
            let err = t.await.unwrap().unwrap_err();
            if err.contains("too many") {
                refused_at_once += 1;
            }
        }
        assert!(refused_at_once > 0, "no bound on waiting verifications");
        assert!(s.check("alice", "right").await.unwrap());
    }
}
