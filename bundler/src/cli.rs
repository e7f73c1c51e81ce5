//! Command-line flags. Every command's `--help` ends with examples.

use std::path::PathBuf;

use clap::{Parser, Subcommand, ValueEnum};

/// The version, with the id of the sources it was built from.
pub const VERSION: &str = concat!(
    env!("CARGO_PKG_VERSION"),
    " (source ",
    env!("MESHBUNDLE_SOURCE_ID"),
    ")"
);

/// A help template that ends with examples. Unlike `after_help`, template
/// text is not wrapped, so each example stays on one line to copy.
macro_rules! examples {
    ($ex:expr) => {
        concat!(
            "{before-help}{about-with-newline}\n{usage-heading} {usage}\n\n{all-args}{after-help}\n\nExamples:\n",
            $ex
        )
    };
}
pub(crate) use examples;

/// The signature states and the trust policy, for the help of verify and import.
macro_rules! trust_help {
    () => {
        "Signature states (always printed, and in --format json as `signature`):\n  unsigned                             the bundle carries no signature\n  signed, not checked                  it matches the key it names (shown), and no policy was given\n  signed by key SHA256:..., verified   signed by a key of the trust policy\nA signature that does not read, is empty, is not ed25519 or does not match the seal is an error, with or without a key.\n\nTrust policy: the keys given with --key (repeatable; a .pub file or a directory of *.pub files), else those of $MESHBUNDLE_TRUSTED_KEYS (files or directories, separated by `:`), else the *.pub files in /etc/meshbundle/trusted-keys/ when it exists ($MESHBUNDLE_CONFIG_DIR replaces /etc/meshbundle). With a policy in force, an unsigned bundle or one signed by a key outside it is refused, naming the signer's fingerprint and where the policy came from. A trusted key file that does not read, is not an ed25519 public key, or is writable by its group or others is an error."
    };
}

#[derive(Parser, Debug)]
#[command(
    name = "meshbundle",
    version = VERSION,
    about = "Turn an air-gapped Istio-on-kubeadm site into one sealed, reproducible bundle",
    long_about = "meshbundle turns a site spec (meshbundle.yaml) into every file a production \
Istio-on-kubeadm install needs, pins every image and file in a lock, and seals it all into one \
bundle that is verified and imported at the site with no network.",
    help_template = examples!("  meshbundle build --example production -o production.mbundle   # offline, to try it\n  meshbundle init -o meshbundle.yaml && meshbundle validate meshbundle.yaml\n  meshbundle lock meshbundle.yaml && meshbundle build meshbundle.yaml --locked -o site.mbundle --no-private-keys\n  meshbundle verify site.mbundle && meshbundle import site.mbundle --extract /opt/site"),
    after_help = "Exit status, for every command: 0 done (for validate and verify: valid); 1 the input or the work failed \
(the error names the file or field and says what to do); 2 wrong flags or arguments.",
    propagate_version = true
)]
pub struct Cli {
    #[command(subcommand)]
    pub command: Command,
}

#[derive(Subcommand, Debug)]
pub enum Command {
    /// Write a commented site spec to start from.
    #[command(
        help_template = examples!("  meshbundle init                       # production site -> meshbundle.yaml\n  meshbundle init --example lab -o lab.yaml\n  meshbundle init -o -                  # print it")
    )]
    Init(InitArgs),

    /// Check a site spec and print every problem with its line and field path.
    #[command(
        after_help = "Exit status: 0 when the spec is valid (warnings are printed), 1 when it has errors.", help_template = examples!("  meshbundle validate meshbundle.yaml\n  meshbundle validate --format json meshbundle.yaml | jq '.diagnostics[]'")
    )]
    Validate(ValidateArgs),

    /// Print the JSON Schema of the site spec (or of the lock, secrets or seal), for editors and checkers.
    #[command(
        help_template = examples!("  meshbundle schema > meshbundle.schema.json\n  # then, at the top of meshbundle.yaml:\n  # yaml-language-server: $schema=meshbundle.schema.json\n  meshbundle schema lock > meshbundle.lock.schema.json")
    )]
    Schema(crate::commands::schema::SchemaArgs),

    /// Render every file of the install into a directory.
    #[command(
        help_template = examples!("  meshbundle render meshbundle.yaml -o out\n  meshbundle render meshbundle.yaml --secrets site.secrets.yaml --lock meshbundle.lock -o out --force\n  meshbundle render meshbundle.yaml --tar site-config.tar.gz")
    )]
    Render(RenderArgs),

    /// Generate, show or rotate the site's certificates, keys and tokens.
    #[command(
        subcommand,
        help_template = examples!("  meshbundle secrets generate meshbundle.yaml -o site.secrets.yaml\n  meshbundle secrets show site.secrets.yaml\n  meshbundle secrets rotate meshbundle.yaml --secrets site.secrets.yaml")
    )]
    Secrets(SecretsCommand),

    /// Pin every image of the site to a digest and every file to a sha256 (on a connected host).
    #[command(
        after_help = "Existing pins are kept; --update NAME (or `all`) refreshes entries.", help_template = examples!("  meshbundle lock meshbundle.yaml\n  meshbundle lock meshbundle.yaml --update docker.io/istio/pilot:1.30.3\n  meshbundle lock meshbundle.yaml --mirror docker.io=mirror.corp:5000 --mirror https://github.com=https://artifacts.corp/github")
    )]
    Lock(LockArgs),

    /// Pull and build container images as OCI image layouts.
    #[command(
        subcommand,
        help_template = examples!("  meshbundle image pull docker.io/istio/pilot:1.30.3 -o layout\n  meshbundle image build images/meshbundle/recipe.yaml -o out/meshbundle-image")
    )]
    Image(ImageCommand),

    /// Build the sealed bundle: rendered install, pinned images and files, the meshbundle binary.
    #[command(
        help_template = examples!("  meshbundle build --example production -o production.mbundle     # offline, from an embedded example\n  meshbundle build meshbundle.yaml --locked --secrets site.secrets.yaml --recipient age1... -o site.mbundle\n  meshbundle build meshbundle.yaml --locked --since previous.mbundle -o upgrade.mbundle")
    )]
    Build(BuildArgs),

    /// Check every entry of a bundle against its seal, and its signature against the trust policy.
    #[command(
        after_help = concat!("Exit status: 0 when every entry checks out, 1 naming the first bad entry (or saying the file is no bundle).\n\n", trust_help!(), ""), help_template = examples!("  meshbundle verify site.mbundle                          # unsigned, or signed, not checked\n  meshbundle verify site.mbundle --key release.pub        # signed by key SHA256:..., verified\n  meshbundle verify site.mbundle --key /etc/meshbundle/trusted-keys --key backup.pub\n  MESHBUNDLE_TRUSTED_KEYS=/srv/keys:release.pub meshbundle verify site.mbundle")
    )]
    Verify(VerifyArgs),

    /// Show what a bundle holds: site, versions, nodes, images, files, certificates, id.
    #[command(help_template = examples!("  meshbundle inspect site.mbundle\n  meshbundle inspect --format json site.mbundle | jq .images"))]
    Inspect(InspectArgs),

    /// Check a bundle's seal, then push its images to the site registry, load them into containerd, or lay out its files, verifying every entry it writes.
    #[command(
        after_help = concat!("import checks the seal first, as meshbundle verify does (bundle id, signature under the trust policy, every entry's path, name, size and mode), and states the signature. It then asks each target what it lacks (the registry by HEAD requests, containerd with ctr; an --extract directory gets every file) and reads and hashes every entry it will write, and only those, before it writes anything: verify reads every byte; import reads every byte it writes. Nothing is imported from a bundle whose seal fails, that the trust policy refuses, or one of whose entries to be written does not match its seal; a damaged entry that is not needed is not read (meshbundle verify finds it). A second import of the same bundle asks one question per image and reads no image.\n\n", trust_help!(), ""), help_template = examples!("  meshbundle import site.mbundle --key release.pub --extract /opt/site\n  meshbundle import site.mbundle --registry registry.site:5000\n  meshbundle import site.mbundle --containerd /run/containerd/containerd.sock\n  meshbundle import site.mbundle --extract /opt/site --node worker-1 --identity op.agekey\n  meshbundle import site.mbundle --extract /opt/site --identity op.agekey   # everything")
    )]
    Import(ImportArgs),

    /// Plan an upgrade: version changes, whether the path is allowed, the ordered steps, what the new bundle carries.
    #[command(
        subcommand,
        help_template = examples!("  meshbundle upgrade plan --from site.mbundle meshbundle.yaml\n  meshbundle upgrade plan --from site.mbundle meshbundle.yaml --format json | jq .steps")
    )]
    Upgrade(UpgradeCommand),
    #[command(subcommand, about = "Edit one field of a spec file in place, keeping its comments, order and quoting.", help_template = examples!("  meshbundle spec set spec.nodes[2].address 10.0.0.14\n  meshbundle spec insert spec.istio.ingressGateway.hosts[1] api.example.internal -f site.yaml\n  meshbundle spec remove spec.nodes[5]\n  meshbundle spec rename spec.nodes[0].labels.rack row"))]
    Spec(crate::commands::spec_edit::SpecCommand),

    /// Make an ed25519 key pair for signing bundles, and print its fingerprint.
    #[command(
        after_help = "keygen prints the public key's fingerprint (SHA256: and the unpadded base64 of the sha256 of the raw key), the one verify and import show for a bundle signed with it. Give the .pub file to each site: with --key, in $MESHBUNDLE_TRUSTED_KEYS, or in /etc/meshbundle/trusted-keys/ (writable by its owner only).", help_template = examples!("  meshbundle keygen -o release      # writes release.key (0600) and release.pub, prints SHA256:...\n  meshbundle build meshbundle.yaml --locked --sign release.key -o site.mbundle\n  install -D -m 0644 release.pub /etc/meshbundle/trusted-keys/release.pub  # at the site")
    )]
    Keygen(KeygenArgs),

    /// Print a shell completion script for bash, zsh or fish.
    #[command(
        help_template = examples!("  meshbundle completions bash > /etc/bash_completion.d/meshbundle\n  meshbundle completions zsh > \"${fpath[1]}/_meshbundle\"\n  meshbundle completions fish > ~/.config/fish/completions/meshbundle.fish")
    )]
    Completions(CompletionsArgs),

    /// Write man pages for meshbundle and each of its commands.
    #[command(
        help_template = examples!("  meshbundle man -o /usr/local/share/man/man1 && man meshbundle-build\n  meshbundle man -o - | man -l -          # the main page, to read now")
    )]
    Man(ManArgs),
    /// Serve the browser configurator from this binary on 127.0.0.1 (prints the address).
    #[command(help_template = examples!("  meshbundle ui                         # http://127.0.0.1:7380/\n  meshbundle ui --listen 127.0.0.1:0    # any free port"))]
    Ui(crate::commands::ui::UiArgs),
}

#[derive(clap::Args, Debug)]
pub struct CompletionsArgs {
    /// The shell to complete for.
    #[arg(value_enum)]
    pub shell: CompletionShell,
}

#[derive(ValueEnum, Clone, Copy, Debug)]
pub enum CompletionShell {
    Bash,
    Zsh,
    Fish,
}

#[derive(clap::Args, Debug)]
pub struct ManArgs {
    /// Directory to write meshbundle.1 and meshbundle-COMMAND.1 into (`-`: print meshbundle.1 only).
    #[arg(short, long, value_name = "DIR")]
    pub output: PathBuf,
}

#[derive(clap::Args, Debug)]
pub struct BuildArgs {
    /// The site spec (or --example).
    #[arg(required_unless_present = "example", conflicts_with = "example")]
    pub spec: Option<PathBuf>,
    /// Build from an embedded example, offline: what cannot be carried without a network is listed in the seal.
    #[arg(long, value_name = "NAME", value_parser = example_name())]
    pub example: Option<String>,
    /// The bundle to write.
    #[arg(short, long, value_name = "FILE")]
    pub output: PathBuf,
    /// The lock (default: meshbundle.lock beside the spec).
    #[arg(long, value_name = "FILE")]
    pub lock: Option<PathBuf>,
    /// Use only what the lock pins; resolve nothing new.
    #[arg(long)]
    pub locked: bool,
    /// The site secrets.
    #[arg(long, value_name = "FILE")]
    pub secrets: Option<PathBuf>,
    /// Encrypt private keys to this age recipient (age1...). Repeatable.
    #[arg(long, value_name = "AGE1...")]
    pub recipient: Vec<String>,
    /// A file of age recipients, one per line. Repeatable.
    #[arg(long, value_name = "FILE")]
    pub recipients_file: Vec<PathBuf>,
    /// Encrypt private keys to the passphrase on this file's first line.
    #[arg(long, value_name = "FILE")]
    pub passphrase_file: Option<PathBuf>,
    /// Carry certificates but no private key.
    #[arg(long)]
    pub no_private_keys: bool,
    /// Sign the seal with this ed25519 key (meshbundle keygen).
    #[arg(long, value_name = "KEY")]
    pub sign: Option<PathBuf>,
    /// Carry only what this earlier bundle (or lock) lacks.
    #[arg(long, value_name = "OLD")]
    pub since: Option<PathBuf>,
    /// The statically linked meshbundle to carry as bin/meshbundle (default: this meshbundle when it is statically linked, else none).
    #[arg(long, value_name = "FILE", conflicts_with = "no_binary")]
    pub binary: Option<PathBuf>,
    /// Carry no meshbundle binary, even when this one is statically linked.
    #[arg(long)]
    pub no_binary: bool,
    #[command(flatten)]
    pub print: FormatArgs,
    #[command(flatten)]
    pub net: NetArgs,
}

#[derive(clap::Args, Debug)]
pub struct VerifyArgs {
    /// The bundle.
    pub file: PathBuf,
    /// Trust bundles signed by this ed25519 public key (a .pub file, or a directory of *.pub files), and refuse any other.
    /// Repeatable. Default: $MESHBUNDLE_TRUSTED_KEYS, else /etc/meshbundle/trusted-keys/ if it exists.
    #[arg(long, value_name = "PUB|DIR")]
    pub key: Vec<PathBuf>,
    /// Hashing threads (default: every core).
    #[arg(long)]
    pub threads: Option<usize>,
    #[command(flatten)]
    pub print: FormatArgs,
    /// No progress bar.
    #[arg(short, long)]
    pub quiet: bool,
}

#[derive(clap::Args, Debug)]
pub struct InspectArgs {
    /// The bundle.
    pub file: PathBuf,
    #[command(flatten)]
    pub print: FormatArgs,
}

#[derive(clap::Args, Debug)]
pub struct ImportArgs {
    /// The bundle.
    pub file: PathBuf,
    /// Trust bundles signed by this ed25519 public key (a .pub file, or a directory of *.pub files), and refuse any other.
    /// Repeatable. Default: $MESHBUNDLE_TRUSTED_KEYS, else /etc/meshbundle/trusted-keys/ if it exists.
    #[arg(long, value_name = "PUB|DIR")]
    pub key: Vec<PathBuf>,
    /// Push every image to this registry (host:port).
    #[arg(long, value_name = "HOST:PORT")]
    pub registry: Option<String>,
    /// Load every image into this containerd (its socket).
    #[arg(long, value_name = "SOCKET")]
    pub containerd: Option<PathBuf>,
    /// containerd namespace.
    #[arg(long, default_value = "k8s.io")]
    pub namespace: String,
    /// Lay out the scripts, manifests, certificates and files here.
    #[arg(long, value_name = "DIR")]
    pub extract: Option<PathBuf>,
    /// With --extract: lay out only what node NAME needs (its own kubeadm configuration, no other node's, and the CA
    /// keys, the Istio CA and the ingress key only on the first control-plane node), and decrypt only those of its files.
    #[arg(long, value_name = "NAME", requires = "extract")]
    pub node: Option<String>,
    /// age identity file that opens the private keys.
    #[arg(long, value_name = "FILE")]
    pub identity: Option<PathBuf>,
    /// The passphrase the private keys were sealed with (first line of the file).
    #[arg(long, value_name = "FILE")]
    pub passphrase_file: Option<PathBuf>,
    #[command(flatten)]
    pub registry_access: RegistryAccess,
    #[arg(short = 'j', long, value_name = "N", help = JOBS_HELP, default_value_t = crate::oci::push::JOBS, value_parser = jobs)]
    pub jobs: usize,
    #[command(flatten)]
    pub print: FormatArgs,
    /// No progress bars.
    #[arg(short, long)]
    pub quiet: bool,
}

#[derive(Subcommand, Debug)]
pub enum UpgradeCommand {
    /// Plan the upgrade from where the site is (its previous bundle, or its spec and lock) to a new spec.
    #[command(
        after_help = "The plan lists each version change (Kubernetes, containerd, runc, Istio, the CNI and add-ons), whether the path is allowed and, when it is not, why and which version to go through; the ordered steps, node by node; and what the new bundle carries beyond the previous one, with its size as a differential bundle (meshbundle build --since).\n\nRules: Kubernetes one minor at a time, never back, control plane before workers (a kubelet is never newer than the API server); Istio by canary revision across at most two minors, never back; containerd never back, 1.x -> 2.x with its configuration migrated (version 2 -> 3) before the kubelet restarts; the new Kubernetes within the new Istio's and containerd's support; no change of CNI, networks, cluster domain, API endpoint or nodes.\n\nA previous bundle is verified first, as meshbundle verify does (its seal, every entry, its signature under the trust policy); its spec and lock are read from the verified seal, which is never encrypted, so no --identity is needed.\n\nExit status: 0 when the path is allowed, 1 when it is refused (each reason is printed with the path to take) or an input does not read, 2 on a usage error.\n\n--format json prints the plan as one object: apiVersion, kind (UpgradePlan), site, allowed, from and to (kubernetes, containerd, istio, revision, cni), changes[] (component, from, to, kind: major|minor|patch|downgrade|changed|added|removed), refusals[] (subject, reason, path, via), warnings[] (what spec.supportPolicy allows), steps[] (number, phase, node, action, text, run), carry (since, locked, images[] and files[] with name, state: added|changed|unchanged|removed, digests and bytes; size: files, images, total, knownAfterBuild, atMost; notes).", help_template = examples!("  meshbundle upgrade plan --from site.mbundle meshbundle.yaml\n  meshbundle upgrade plan --from site.mbundle meshbundle.yaml --lock meshbundle.lock --format json | jq .steps\n  meshbundle upgrade plan --from-spec old/meshbundle.yaml --from-lock old/meshbundle.lock meshbundle.yaml\n  meshbundle upgrade plan --from site.mbundle --key release.pub new.yaml && meshbundle build new.yaml --locked --since site.mbundle -o upgrade.mbundle")
    )]
    Plan(UpgradePlanArgs),
}

#[derive(clap::Args, Debug)]
pub struct UpgradePlanArgs {
    /// The new site spec: where the site should go.
    pub spec: PathBuf,
    /// The site's previous bundle: where the site is (verified first).
    #[arg(long, value_name = "BUNDLE", required_unless_present = "from_spec", conflicts_with_all = ["from_spec", "from_lock"])]
    pub from: Option<PathBuf>,
    /// The site's current spec, instead of --from.
    #[arg(long, value_name = "FILE", requires = "from_lock")]
    pub from_spec: Option<PathBuf>,
    /// The lock the site's current bundle was built with (with --from-spec).
    #[arg(long, value_name = "FILE", requires = "from_spec")]
    pub from_lock: Option<PathBuf>,
    /// The new spec's lock (default: meshbundle.lock beside it, when it exists).
    #[arg(long, value_name = "FILE")]
    pub lock: Option<PathBuf>,
    /// Trust bundles signed by this ed25519 public key (a .pub file, or a directory of *.pub files), and refuse any other.
    /// Repeatable. Default: $MESHBUNDLE_TRUSTED_KEYS, else /etc/meshbundle/trusted-keys/ if it exists.
    #[arg(long, value_name = "PUB|DIR")]
    pub key: Vec<PathBuf>,
    /// The image cache whose manifests give image sizes (default: ~/.cache/meshbundle, or $MESHBUNDLE_CACHE).
    #[arg(long, value_name = "DIR")]
    pub cache: Option<PathBuf>,
    #[command(flatten)]
    pub print: FormatArgs,
    /// No progress bar.
    #[arg(short, long)]
    pub quiet: bool,
}

#[derive(clap::Args, Debug)]
pub struct KeygenArgs {
    /// Path prefix: writes PREFIX.key (private, 0600) and PREFIX.pub.
    #[arg(short, long, value_name = "PREFIX")]
    pub output: PathBuf,
    /// Overwrite an existing key pair. The old key is lost: bundles it signed no longer verify against the new PREFIX.pub.
    #[arg(long)]
    pub force: bool,
}

/// `--format`, shared by every command that prints a result.
#[derive(clap::Args, Debug, Clone, Copy)]
pub struct FormatArgs {
    /// Output: text for people, json for programs.
    #[arg(long, value_enum, default_value_t = Format::Text)]
    pub format: Format,
}

/// How to reach registries: shared by the commands that pull (`NetArgs`)
/// and `import`, which pushes.
#[derive(clap::Args, Debug, Clone, Default)]
pub struct RegistryAccess {
    /// Speak plain HTTP to this registry (host:port). Repeatable.
    #[arg(long, value_name = "HOST")]
    pub insecure: Vec<String>,
    /// Docker or Podman auth file (default: the usual places, e.g. ~/.docker/config.json).
    #[arg(long, value_name = "FILE")]
    pub authfile: Option<PathBuf>,
    /// Extra CA certificate (PEM) for registries. Repeatable.
    #[arg(long, value_name = "FILE")]
    pub registry_ca: Vec<PathBuf>,
}

/// A `--mirror FROM=TO`: a registry (`docker.io=mirror:5000`) or a URL
/// prefix (`https://dl.k8s.io=https://files.corp/k8s`), parsed as the
/// command line is read.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Mirror {
    Registry { from: String, to: String },
    Url { from: String, to: String },
}

impl Mirror {
    pub fn parse(s: &str) -> Result<Mirror, String> {
        let (from, to) = s
            .split_once('=')
            .ok_or_else(|| "write FROM=TO, e.g. docker.io=mirror.corp:5000".to_string())?;
        if from.is_empty() || to.is_empty() {
            return Err("write FROM=TO, both non-empty, e.g. docker.io=mirror.corp:5000".into());
        }
        Ok(if from.contains("://") {
            Mirror::Url {
                from: from.trim_end_matches('/').to_string(),
                to: to.trim_end_matches('/').to_string(),
            }
        } else {
            Mirror::Registry {
                from: from.to_string(),
                to: to.to_string(),
            }
        })
    }
}

/// An embedded example's name, checked as the command line is read.
fn example_name() -> clap::builder::PossibleValuesParser {
    clap::builder::PossibleValuesParser::new(meshbundle_core::examples::names())
}

/// `-j`'s help, one text for every command that has it.
const JOBS_HELP: &str = "Registry and file transfers at once: blobs and manifests pulled or pushed, registry questions asked, images and files resolved; also the `ctr` unpacking images into containerd side by side, at most one per core (hashing is not bounded by it: it runs on every core)";

/// `-j N`: a whole number of transfers, at least 1.
fn jobs(s: &str) -> Result<usize, String> {
    match s.trim().parse::<usize>() {
        Ok(0) => Err("at least 1 (-j 1 runs one transfer at a time)".into()),
        Ok(n) => Ok(n),
        Err(_) => Err(format!("`{s}` is not a number of transfers, e.g. -j 8")),
    }
}

/// A number of seconds since 1970 (`SOURCE_DATE_EPOCH`).
fn epoch_seconds(s: &str) -> Result<u64, String> {
    s.trim().parse().map_err(|_| format!("{s} is not a number of seconds"))
}

/// Where images and files come from, and how to reach them.
#[derive(clap::Args, Debug, Clone)]
pub struct NetArgs {
    /// Fetch from a mirror instead: `docker.io=mirror:5000` for a registry,
    /// `https://dl.k8s.io=https://files.corp/k8s` for a URL prefix. Repeatable.
    #[arg(long, value_name = "FROM=TO", value_parser = Mirror::parse)]
    pub mirror: Vec<Mirror>,
    #[command(flatten)]
    pub registry_access: RegistryAccess,
    /// Blob and file cache (default: ~/.cache/meshbundle, or $MESHBUNDLE_CACHE).
    #[arg(long, value_name = "DIR")]
    pub cache: Option<PathBuf>,
    #[arg(short = 'j', long, value_name = "N", help = JOBS_HELP, default_value_t = crate::oci::push::JOBS, value_parser = jobs)]
    pub jobs: usize,
    /// No progress bars.
    #[arg(short, long)]
    pub quiet: bool,
}

#[derive(clap::Args, Debug)]
pub struct LockArgs {
    /// The site spec.
    pub spec: PathBuf,
    /// Where to write the lock (default: meshbundle.lock beside the spec).
    #[arg(short, long, value_name = "FILE")]
    pub output: Option<PathBuf>,
    /// Re-resolve this image or file even if pinned (`all` for everything). Repeatable.
    #[arg(long, value_name = "NAME")]
    pub update: Vec<String>,
    #[command(flatten)]
    pub net: NetArgs,
}

#[derive(Subcommand, Debug)]
pub enum ImageCommand {
    /// Pull images from registries (or archives) into an OCI image layout.
    #[command(
        help_template = examples!("  meshbundle image pull docker.io/istio/pilot:1.30.3 -o layout\n  meshbundle image pull 127.0.0.1:5000/app:1 --insecure 127.0.0.1:5000 -o layout\n  skopeo inspect oci:layout:docker.io/istio/pilot:1.30.3")
    )]
    Pull(ImagePullArgs),
    /// Build an image from a recipe, reproducibly, into an OCI image layout.
    #[command(
        help_template = examples!("  meshbundle image build images/meshbundle/recipe.yaml -o out/meshbundle-image\n  SOURCE_DATE_EPOCH=1700000000 meshbundle image build images/meshbundle/recipe.yaml -o layout")
    )]
    Build(ImageBuildArgs),
}

#[derive(clap::Args, Debug)]
pub struct ImagePullArgs {
    /// Image references; `NAME=oci-archive:FILE` (or docker-archive:, oci:) reads one from an archive.
    #[arg(required = true)]
    pub images: Vec<String>,
    /// The OCI layout directory to write.
    #[arg(short, long, value_name = "DIR")]
    pub output: PathBuf,
    /// Platforms to keep from multi-platform images. Repeatable.
    #[arg(long, value_name = "OS/ARCH", default_value = "linux/amd64")]
    pub platform: Vec<String>,
    #[command(flatten)]
    pub net: NetArgs,
}

#[derive(clap::Args, Debug)]
pub struct ImageBuildArgs {
    /// The recipe (YAML).
    pub recipe: PathBuf,
    /// The OCI layout directory to write.
    #[arg(short, long, value_name = "DIR")]
    pub output: PathBuf,
    /// Timestamp of every file and of the image (default: $SOURCE_DATE_EPOCH, or 0).
    #[arg(long, value_name = "SECONDS", env = "SOURCE_DATE_EPOCH", value_parser = epoch_seconds)]
    pub source_date_epoch: Option<u64>,
}

#[derive(clap::Args, Debug)]
#[command(group(clap::ArgGroup::new("out").required(true).multiple(true).args(["output", "tar"])))]
pub struct RenderArgs {
    /// The site spec.
    pub file: PathBuf,
    /// Directory to write the files to (one of -o DIR and --tar FILE is needed; both may be given).
    #[arg(short, long, value_name = "DIR")]
    pub output: Option<PathBuf>,
    /// Also (or instead) write the files as a reproducible .tar.gz, the same
    /// bytes the browser configurator downloads.
    #[arg(long, value_name = "FILE")]
    pub tar: Option<PathBuf>,
    /// The site secrets (`meshbundle secrets generate`): join tokens, CAs, TLS certificates.
    #[arg(long, value_name = "FILE")]
    pub secrets: Option<PathBuf>,
    /// The lock (`meshbundle lock`): pins every image to its digest.
    #[arg(long, value_name = "FILE")]
    pub lock: Option<PathBuf>,
    /// Replace the output directory if it is not empty.
    #[arg(long)]
    pub force: bool,
}

#[derive(Subcommand, Debug)]
pub enum SecretsCommand {
    /// Generate every certificate, key and token of a site, once.
    #[command(
        help_template = examples!("  meshbundle secrets generate meshbundle.yaml -o site.secrets.yaml\n  meshbundle secrets generate second.yaml -o second.secrets.yaml --mesh-root site.secrets.yaml\n  meshbundle secrets generate meshbundle.yaml --ingress-cert tls.crt --ingress-key tls.key")
    )]
    Generate(SecretsGenerateArgs),
    /// Print subjects, fingerprints, expiry dates and the discovery hash (never a key).
    #[command(
        help_template = examples!("  meshbundle secrets show site.secrets.yaml\n  meshbundle secrets show --format json site.secrets.yaml")
    )]
    Show(SecretsShowArgs),
    /// Renew the Istio intermediate CA and the ingress certificate, keeping the roots; add the
    /// Grafana and Kiali credentials to a file written before meshbundle carried them.
    #[command(help_template = examples!("  meshbundle secrets rotate meshbundle.yaml --secrets site.secrets.yaml"))]
    Rotate(SecretsRotateArgs),
}

#[derive(clap::Args, Debug)]
pub struct SecretsGenerateArgs {
    /// The site spec.
    pub spec: PathBuf,
    /// Where to write the secrets (mode 0600).
    #[arg(short, long, default_value = "site.secrets.yaml", value_name = "FILE")]
    pub output: PathBuf,
    /// Overwrite an existing secrets file. Its CAs are lost: nodes installed with them stop trusting new ones.
    #[arg(long)]
    pub force: bool,
    /// Share the Istio root CA of another cluster of the same mesh (its secrets file).
    #[arg(long, value_name = "FILE")]
    pub mesh_root: Option<PathBuf>,
    /// Use this certificate (PEM chain, leaf first) for the ingress gateway instead of generating one.
    #[arg(long, value_name = "FILE")]
    pub ingress_cert: Option<PathBuf>,
    /// The private key of --ingress-cert.
    #[arg(long, value_name = "FILE")]
    pub ingress_key: Option<PathBuf>,
}

#[derive(clap::Args, Debug)]
pub struct SecretsShowArgs {
    /// The secrets file.
    pub file: PathBuf,
    #[command(flatten)]
    pub print: FormatArgs,
}

#[derive(clap::Args, Debug)]
pub struct SecretsRotateArgs {
    /// The site spec.
    pub spec: PathBuf,
    /// The secrets file to renew.
    #[arg(long, value_name = "FILE")]
    pub secrets: PathBuf,
    /// Write the renewed secrets here instead of replacing --secrets (a file replaced is first kept as FILE.<UTC time>.bak, 0600).
    #[arg(short, long, value_name = "FILE")]
    pub output: Option<PathBuf>,
}

#[derive(clap::Args, Debug)]
pub struct InitArgs {
    /// Where to write the spec (`-` for standard output).
    #[arg(short, long, default_value = "meshbundle.yaml")]
    pub output: PathBuf,
    /// Which example to start from: `production` (3 + 3 nodes across zones) or `lab` (one node).
    #[arg(long, default_value = "production", value_name = "NAME", value_parser = example_name())]
    pub example: String,
    /// Overwrite the output file if it exists.
    #[arg(long)]
    pub force: bool,
}

#[derive(clap::Args, Debug)]
pub struct ValidateArgs {
    /// The site spec to check (`-`: standard input).
    pub file: PathBuf,
    #[command(flatten)]
    pub print: FormatArgs,
}

#[derive(ValueEnum, Clone, Copy, Debug, PartialEq, Eq)]
pub enum Format {
    Text,
    Json,
}

#[cfg(test)]
mod tests {
    use clap::CommandFactory;

    /// Every command and subcommand, with its path (`secrets rotate`).
    fn all(cmd: &clap::Command, path: String, out: &mut Vec<(String, clap::Command)>) {
        for sub in cmd.get_subcommands().filter(|s| s.get_name() != "help") {
            all(sub, format!("{path} {}", sub.get_name()).trim().to_string(), out);
        }
        out.push((path, cmd.clone()));
    }

    #[test]
    fn every_command_ends_with_examples_each_on_one_line_at_any_width() {
        let mut cmds = Vec::new();
        all(&super::Cli::command(), String::new(), &mut cmds);
        for (path, cmd) in cmds {
            let wide = cmd.clone().term_width(10_000).render_help().to_string();
            let Some((_, examples)) = wide.split_once("\nExamples:\n") else {
                panic!("`meshbundle {path} --help` has no examples");
            };
            assert!(
                !cmd.get_after_help()
                    .is_some_and(|h| h.to_string().contains("Examples:")),
                "{path}: examples belong in the template"
            );
            for width in [40, 80, 120] {
                let help = cmd.clone().term_width(width).render_help().to_string();
                let (_, shown) = help.split_once("\nExamples:\n").unwrap();
                assert_eq!(shown, examples, "`meshbundle {path} --help` at {width} columns");
            }
            for line in examples.lines() {
                assert!(line.starts_with("  ") && line.len() > 2, "{path}: {line:?}");
            }
        }
    }
}
