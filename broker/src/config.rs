//! Floe's settings and how they are layered: built-in defaults < profile < `floe.toml` <
//! `FLOE_*` environment < command-line flags. Credentials come from the environment (or
//! instance roles, through OpenDAL); a profile or file that holds one is refused.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use figment::Figment;
use figment::providers::{Env, Format, Serialized, Toml};
use floe_backends::{StoreSettings, is_secret_option};
use floe_stream::{EngineSettings, WalMode};
use serde::{Deserialize, Serialize};

use crate::error::{Error, Result};

/// The built-in profiles, one per target store.
pub const PROFILES: [(&str, &str); 6] = [
    ("local", include_str!("../../profiles/local.toml")),
    ("minio", include_str!("../../profiles/minio.toml")),
    ("aws", include_str!("../../profiles/aws.toml")),
    ("alibaba", include_str!("../../profiles/alibaba.toml")),
    ("gcs", include_str!("../../profiles/gcs.toml")),
    ("azure", include_str!("../../profiles/azure.toml")),
];

/// Everything a broker needs to know.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct Config {
    /// The Kafka listener and the broker's identity.
    pub server: ServerSettings,
    /// The object store.
    pub storage: StoreSettings,
    /// The storage engine.
    pub engine: EngineSettings,
}

/// The Kafka listener and the broker's identity.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct ServerSettings {
    /// Address the Kafka listener binds.
    pub listen: String,
    /// Host clients are told to connect to; defaults to the listen host.
    pub advertised_host: Option<String>,
    /// Port clients are told to connect to; defaults to the bound port.
    pub advertised_port: Option<u16>,
    /// This broker's id.
    pub node_id: i32,
    /// This broker's rack (availability zone).
    pub rack: Option<String>,
    /// Cluster id reported to clients.
    pub cluster_id: String,
    /// Address of the HTTP listener for `/metrics`; empty disables it.
    pub metrics_listen: String,
    /// Largest request frame accepted; larger ones close the connection.
    pub max_frame_bytes: usize,
    /// Requests of one connection in progress at once (responses keep their order).
    pub max_in_flight: usize,
    /// Create a topic when a client asks for metadata of one that does not exist.
    pub auto_create_topics: bool,
    /// Partitions of topics created without a count.
    pub default_partitions: u32,
    /// How often topics' retention settings are applied.
    #[serde(with = "floe_backends::millis")]
    pub retention_check_interval: std::time::Duration,
    /// Log filter, in `tracing-subscriber`'s `EnvFilter` syntax.
    pub log: String,
}

impl Default for ServerSettings {
    fn default() -> Self {
        ServerSettings {
            listen: "127.0.0.1:9092".into(),
            advertised_host: None,
            advertised_port: None,
            node_id: 0,
            rack: None,
            cluster_id: "floe-cluster".into(),
            metrics_listen: "127.0.0.1:9644".into(),
            max_frame_bytes: 100 << 20,
            max_in_flight: 64,
            auto_create_topics: true,
            default_partitions: 1,
            retention_check_interval: std::time::Duration::from_secs(60),
            log: "info".into(),
        }
    }
}

/// Settings given on the command line; only those given override.
#[derive(Debug, Clone, Default, Serialize)]
pub struct Flags {
    /// `server.listen`.
    pub listen: Option<String>,
    /// `server.metrics_listen`.
    pub metrics_listen: Option<String>,
    /// `server.node_id`.
    pub node_id: Option<i32>,
    /// `storage.root`.
    pub storage_root: Option<String>,
}

impl Flags {
    fn as_layer(&self) -> BTreeMap<String, BTreeMap<String, figment::value::Value>> {
        use figment::value::Value;
        let mut out: BTreeMap<String, BTreeMap<String, Value>> = BTreeMap::new();
        let mut set = |section: &str, key: &str, value: Option<Value>| {
            if let Some(v) = value {
                out.entry(section.into()).or_default().insert(key.into(), v);
            }
        };
        set("server", "listen", self.listen.clone().map(Value::from));
        set("server", "metrics_listen", self.metrics_listen.clone().map(Value::from));
        set("server", "node_id", self.node_id.map(Value::from));
        set("storage", "root", self.storage_root.clone().map(Value::from));
        out
    }
}

/// Where the layers come from.
#[derive(Debug, Clone, Default)]
pub struct Sources {
    /// A built-in profile name, or a path to a profile file.
    pub profile: Option<String>,
    /// The `floe.toml` to read; `./floe.toml` if it exists when not given.
    pub file: Option<PathBuf>,
    /// Command-line overrides.
    pub flags: Flags,
}

fn profile_text(name: &str) -> Result<String> {
    if let Some((_, text)) = PROFILES.iter().find(|(n, _)| *n == name) {
        return Ok((*text).to_string());
    }
    let path = Path::new(name);
    if path.exists() {
        return std::fs::read_to_string(path).map_err(|e| Error::Config(format!("profile {name}: {e}")));
    }
    let known: Vec<&str> = PROFILES.iter().map(|(n, _)| *n).collect();
    Err(Error::Config(format!("unknown profile {name:?}; built-in profiles: {}", known.join(", "))))
}

/// Refuses a file layer that carries credentials.
fn refuse_secrets(what: &str, text: &str) -> Result<()> {
    let value: toml::Value = toml::from_str(text).map_err(|e| Error::Config(format!("{what}: {e}")))?;
    let options = value.get("storage").and_then(|s| s.get("options")).and_then(|o| o.as_table());
    if let Some(key) = options.and_then(|o| o.keys().find(|k| is_secret_option(k))) {
        return Err(Error::Config(format!(
            "{what} sets storage.options.{key}: credentials must come from the environment \
             (e.g. FLOE_STORAGE__OPTIONS__{}) or an instance role, never from a file",
            key.to_ascii_uppercase()
        )));
    }
    Ok(())
}

impl Config {
    /// Loads the layered configuration. `FLOE_*` variables are read here, in one place;
    /// `FLOE_SECTION__KEY` sets `section.key`.
    pub fn load(sources: &Sources) -> Result<Config> {
        let mut figment = Figment::from(Serialized::defaults(Config::default()));
        if let Some(name) = &sources.profile {
            let text = profile_text(name)?;
            refuse_secrets(&format!("profile {name}"), &text)?;
            figment = figment.merge(Toml::string(&text));
        }
        let file = sources.file.clone().or_else(|| {
            let default = PathBuf::from("floe.toml");
            default.exists().then_some(default)
        });
        if let Some(path) = file {
            let text = std::fs::read_to_string(&path)
                .map_err(|e| Error::Config(format!("{}: {e}", path.display())))?;
            refuse_secrets(&path.display().to_string(), &text)?;
            figment = figment.merge(Toml::string(&text));
        }
        figment = figment
            // Only FLOE_SECTION__KEY variables are settings; FLOE_PROFILE, FLOE_CONFIG and
            // any other FLOE_ variable of the user's are not.
            .merge(Env::prefixed("FLOE_").filter(|key| key.as_str().contains("__")).split("__"))
            .merge(Serialized::defaults(sources.flags.as_layer()));
        let mut config: Config = figment.extract().map_err(|e| Error::Config(e.to_string()))?;
        config.validate()?;
        // A local directory is no safer than the broker's own disk, so the file WAL's
        // fast acks cost nothing there; a bucket gets the object WAL, which keeps no state
        // on the broker at all.
        config.engine.wal.get_or_insert(match config.storage.scheme {
            floe_backends::Scheme::Fs => WalMode::File,
            _ => WalMode::Object,
        });
        Ok(config)
    }

    /// A broker over the memory store on an ephemeral loopback port, without a metrics
    /// listener, with a short WAL window: for tests and fuzzing.
    pub fn in_memory() -> Config {
        let mut config = Config::default();
        config.storage.scheme = floe_backends::Scheme::Memory;
        config.storage.root = "/".into();
        config.server.listen = "127.0.0.1:0".into();
        config.server.metrics_listen = String::new();
        config.engine.wal_window = std::time::Duration::from_millis(1);
        config
    }

    fn validate(&self) -> Result<()> {
        if self.server.max_frame_bytes < 1024 {
            return Err(Error::Config("server.max_frame_bytes must be at least 1024".into()));
        }
        if self.server.default_partitions == 0 {
            return Err(Error::Config("server.default_partitions must be at least 1".into()));
        }
        if self.engine.wal_window_bytes == 0 {
            return Err(Error::Config("engine.wal_window_bytes must be positive".into()));
        }
        Ok(())
    }

    /// The configuration as TOML, secrets redacted.
    pub fn show(&self) -> Result<String> {
        let mut shown = self.clone();
        for (key, value) in shown.storage.options.iter_mut() {
            if is_secret_option(key) {
                *value = "***redacted***".into();
            }
        }
        toml::to_string_pretty(&shown).map_err(|e| Error::Config(e.to_string()))
    }
}

#[cfg(test)]
#[allow(clippy::result_large_err)] // figment::Jail's closures return figment's own error
mod tests {
    use super::*;

    // Tests that load configuration run in a figment Jail: it serialises them and
    // gives each a clean environment, so one test's FLOE_ variables never leak into
    // another's.

    #[test]
    fn every_profile_parses() {
        figment::Jail::expect_with(|_| {
            for (name, _) in PROFILES {
                let sources = Sources { profile: Some(name.into()), ..Sources::default() };
                let config = Config::load(&sources).map_err(|e| format!("{name}: {e}"))?;
                assert!(!config.show().map_err(|e| e.to_string())?.is_empty());
            }
            Ok(())
        });
    }

    #[test]
    fn unknown_profile_is_an_error() {
        figment::Jail::expect_with(|_| {
            let sources = Sources { profile: Some("nope".into()), ..Sources::default() };
            assert!(Config::load(&sources).unwrap_err().to_string().contains("built-in profiles"));
            Ok(())
        });
    }

    #[test]
    fn files_may_not_hold_credentials() {
        let err = refuse_secrets("f", "[storage.options]\nsecret_access_key = \"x\"").unwrap_err();
        assert!(err.to_string().contains("environment"), "{err}");
        refuse_secrets("f", "[storage.options]\nenable_versioning = \"true\"").unwrap();
    }

    #[test]
    fn unrelated_floe_variables_are_not_settings() {
        figment::Jail::expect_with(|jail| {
            jail.set_env("FLOE_BIN", "/usr/bin/floe");
            jail.set_env("FLOE_SERVER__NODE_ID", "3");
            let config = Config::load(&Sources::default()).map_err(|e| e.to_string())?;
            assert_eq!(config.server.node_id, 3);
            Ok(())
        });
    }

    #[test]
    fn flags_override_files_and_secrets_are_redacted() {
        figment::Jail::expect_with(|jail| {
            jail.create_file("floe.toml", "[server]\nlisten = \"127.0.0.1:1\"\nnode_id = 4\n")?;
            jail.set_env("FLOE_STORAGE__OPTIONS__SECRET_ACCESS_KEY", "hunter2");
            let sources = Sources {
                profile: Some("minio".into()),
                file: Some(jail.directory().join("floe.toml")),
                flags: Flags { listen: Some("127.0.0.1:2".into()), ..Flags::default() },
            };
            let config = Config::load(&sources).map_err(|e| e.to_string())?;
            assert_eq!(config.server.listen, "127.0.0.1:2");
            assert_eq!(config.server.node_id, 4);
            assert_eq!(config.storage.scheme, floe_backends::Scheme::S3);
            assert_eq!(config.engine.wal, Some(WalMode::Object), "the object WAL over a bucket");
            assert_eq!(config.storage.options["secret_access_key"], "hunter2", "from the environment");
            let shown = config.show().map_err(|e| e.to_string())?;
            assert!(!shown.contains("hunter2") && shown.contains("redacted"), "{shown}");
            Ok(())
        });
    }
}
