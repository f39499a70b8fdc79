//! What a sandboxed command may do: the caller-facing knobs and their
//! defaults. Nothing here touches the kernel.

use std::path::PathBuf;
use std::time::Duration;

/// How hard to insist on kernel enforcement (`sandbox.mode`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Mode {
    /// Refuse to run a command unless every layer the policy relies on is
    /// fully available (see [`crate::explain`] for what that means here).
    Enforce,
    /// Run with whatever the kernel offers and label the result with what
    /// actually held.
    BestEffort,
    /// No sandbox at all: environment still cleared, limits still applied,
    /// the label says `NONE`.
    Off,
}

impl Mode {
    /// The config spelling: `enforce`, `best_effort` or `off`.
    pub fn parse(s: &str) -> Option<Mode> {
        [Mode::Enforce, Mode::BestEffort, Mode::Off]
            .into_iter()
            .find(|m| m.as_str() == s)
    }

    pub fn as_str(self) -> &'static str {
        match self {
            Mode::Enforce => "enforce",
            Mode::BestEffort => "best_effort",
            Mode::Off => "off",
        }
    }
}

/// Which kernel mechanism confines the filesystem (`sandbox.backend`).
/// seccomp and rlimits apply under every backend.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Backend {
    /// Both when both are available (defence in depth), else whichever is.
    #[default]
    Auto,
    /// Landlock rules only (Linux 5.13+).
    Landlock,
    /// Mount, PID, network, IPC and UTS namespaces with a private root
    /// (plus a user namespace when picoclaw is not root).
    Namespaces,
    /// Both layers; a missing one is reported (and refused under enforce).
    Both,
}

impl Backend {
    /// The config spelling: `auto`, `landlock`, `namespaces` or `both`.
    pub fn parse(s: &str) -> Option<Backend> {
        [
            Backend::Auto,
            Backend::Landlock,
            Backend::Namespaces,
            Backend::Both,
        ]
        .into_iter()
        .find(|b| b.as_str() == s)
    }

    pub fn as_str(self) -> &'static str {
        match self {
            Backend::Auto => "auto",
            Backend::Landlock => "landlock",
            Backend::Namespaces => "namespaces",
            Backend::Both => "both",
        }
    }
}

/// Resource ceilings for one command.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Limits {
    /// Wall clock; the whole process group is SIGKILLed when it runs out.
    pub timeout: Duration,
    /// RLIMIT_CPU in seconds (the kernel sends SIGXCPU, then SIGKILL).
    pub cpu_secs: u64,
    /// RLIMIT_AS.
    pub address_space_bytes: u64,
    /// RLIMIT_FSIZE: writes past it fail (SIGXFSZ, which kills by default).
    pub file_size_bytes: u64,
    /// RLIMIT_NOFILE.
    pub open_files: u64,
    /// RLIMIT_NPROC. Counted per real uid system-wide and ignored for root,
    /// so it only bites with [`Policy::run_as`] set to a dedicated uid.
    pub processes: u64,
    /// Hard ceiling on stdout+stderr bytes read; the process group is
    /// killed when it is exceeded.
    pub output_bytes: usize,
    /// How much of each stream is kept for the result (half head, half
    /// tail); the middle is replaced by a `[… N bytes cut …]` marker.
    pub keep_bytes: usize,
}

/// These are also the config's defaults (`[sandbox]`, `tools.exec`), which
/// read them from here.
impl Default for Limits {
    fn default() -> Self {
        Limits {
            timeout: Duration::from_secs(60),
            cpu_secs: 60,
            address_space_bytes: 512 << 20,
            file_size_bytes: 64 << 20,
            open_files: 256,
            processes: 64,
            output_bytes: 1 << 20,
            keep_bytes: 64 << 10,
        }
    }
}

/// The full description of one sandboxed run.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Policy {
    pub mode: Mode,
    pub backend: Backend,
    /// Read-write-execute; also the working directory and `$HOME`.
    pub workspace: PathBuf,
    /// Read-execute system roots. Missing entries are skipped.
    pub read_only_paths: Vec<PathBuf>,
    /// Never readable from inside, even when under a read-only root: the
    /// config file, the state dir, credential files. Added to
    /// [`etc_secrets`].
    pub hidden_paths: Vec<PathBuf>,
    /// TCP ports the command may connect to. Empty means no network at all.
    pub allow_net_ports: Vec<u16>,
    pub limits: Limits,
    /// `(uid, gid)` to switch to when picoclaw runs as root. `None` keeps
    /// the current ids; under [`Mode::Enforce`] root without a switch is
    /// refused, because Landlock does not cover chmod/chown and root keeps
    /// its capabilities.
    pub run_as: Option<(u32, u32)>,
    /// Where the private per-command `TMPDIR` is created (removed after).
    pub tmp_root: PathBuf,
}

impl Policy {
    /// An enforcing policy with the default roots, secrets and limits.
    pub fn new(workspace: impl Into<PathBuf>) -> Self {
        Policy {
            mode: Mode::Enforce,
            backend: Backend::Auto,
            workspace: workspace.into(),
            read_only_paths: default_read_only_paths(),
            hidden_paths: Vec::new(),
            allow_net_ports: Vec::new(),
            limits: Limits::default(),
            run_as: None,
            tmp_root: default_tmp_root(),
        }
    }
}

/// `/tmp/picoclaw-sandbox` for root, `/tmp/picoclaw-sandbox-UID` for
/// anyone else: the directory must belong to whoever runs picoclaw, so
/// users on one machine (root's daemon, a user trying `picoclaw sandbox
/// run`) cannot share it.
fn default_tmp_root() -> PathBuf {
    let uid = nix::unistd::geteuid().as_raw();
    let name = match uid {
        0 => String::from("picoclaw-sandbox"),
        n => format!("picoclaw-sandbox-{n}"),
    };
    std::env::temp_dir().join(name)
}

/// System roots a shell and common tools need: binaries, libraries, `/etc`
/// (filtered through [`etc_secrets`] and the hidden paths), CPU topology
/// for `nproc`-style probes.
pub fn default_read_only_paths() -> Vec<PathBuf> {
    [
        "/usr",
        "/bin",
        "/sbin",
        "/lib",
        "/lib64",
        "/lib32",
        "/etc",
        "/sys/devices/system/cpu",
    ]
    .iter()
    .map(PathBuf::from)
    .collect()
}

/// Secret-bearing entries under `/etc` that are always hidden: password
/// hashes, sudo rules, SSH host keys, TLS private keys, systemd
/// credentials, Wi-Fi and VPN secrets, picoclaw's own config.
pub fn etc_secrets() -> Vec<PathBuf> {
    [
        "/etc/shadow",
        "/etc/gshadow",
        "/etc/shadow-",
        "/etc/gshadow-",
        "/etc/sudoers",
        "/etc/sudoers.d",
        "/etc/ssh",
        "/etc/ssl/private",
        "/etc/credstore",
        "/etc/credstore.encrypted",
        "/etc/picoclaw",
        "/etc/security/opasswd",
        "/etc/wireguard",
        "/etc/wpa_supplicant",
        "/etc/iwd",
        "/etc/NetworkManager/system-connections",
        "/etc/ppp/chap-secrets",
        "/etc/ppp/pap-secrets",
        "/etc/ipsec.secrets",
        "/etc/ipsec.d/private",
        "/etc/letsencrypt",
        "/etc/krb5.keytab",
    ]
    .iter()
    .map(PathBuf::from)
    .collect()
}
