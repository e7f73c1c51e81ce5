//! `meshbundle secrets`: generate, show and rotate the site secrets.

use std::process::ExitCode;

use meshbundle_core::pki::secrets::{GenerateOptions, ProvidedTls};
use meshbundle_core::pki::{self};

use crate::cli::{Format, SecretsCommand, SecretsGenerateArgs, SecretsRotateArgs, SecretsShowArgs};
use crate::error::{Error, Result};
use crate::{fsutil, sitefile};

pub fn run(c: SecretsCommand) -> Result<ExitCode> {
    match c {
        SecretsCommand::Generate(a) => generate(a),
        SecretsCommand::Show(a) => show(a),
        SecretsCommand::Rotate(a) => rotate(a),
    }
}

fn write(path: &std::path::Path, s: &pki::SiteSecrets) -> Result<()> {
    let text = pki::write_secrets(s).map_err(|e| Error::from_source(e, "report this as a bug"))?;
    fsutil::write_atomic(path, text.as_bytes(), 0o600)
}

fn generate(a: SecretsGenerateArgs) -> Result<ExitCode> {
    let site = sitefile::read_site(&a.spec)?;
    if !a.force && a.output.exists() {
        return Err(Error::failed(
            format!("{} already exists", a.output.display()),
            "it holds the site's CAs, service-account key and join token: overwriting it loses them, and every node, \
             certificate and bundle made with it stops matching. Use `meshbundle secrets rotate` to renew certificates, \
             or -o to write elsewhere; pass --force only to start a new site",
        ));
    }
    let mesh = a
        .mesh_root
        .as_deref()
        .map(|p| sitefile::read_secrets(p, None))
        .transpose()?;
    let cert_pem;
    let key_pem;
    let provided = match (&a.ingress_cert, &a.ingress_key) {
        (Some(c), Some(k)) => {
            cert_pem = String::from_utf8_lossy(&fsutil::read_limited(c, 1 << 20)?).into_owned();
            key_pem = fsutil::read_private_text(k, 1 << 20, "a private key")?;
            Some(ProvidedTls {
                cert_pem: &cert_pem,
                key_pem: &key_pem,
            })
        }
        (None, None) => None,
        _ => return Err(Error::Usage("--ingress-cert and --ingress-key go together".into())),
    };
    let opts = GenerateOptions {
        now: sitefile::now(),
        mesh_root: mesh.as_ref().map(|m| &m.istio.root),
        provided_tls: provided,
    };
    let secrets = pki::generate(&site, &opts, &mut sitefile::rng()).map_err(|e| {
        Error::from_source(
            e,
            "check the files given with --ingress-cert, --ingress-key and --mesh-root",
        )
    })?;
    write(&a.output, &secrets)?;
    eprintln!(
        "wrote {} (mode 0600): kubeadm CAs, service-account key, join token, Istio CA, ingress certificate, Grafana and Kiali credentials",
        a.output.display()
    );
    eprintln!("keep it private and backed up; every render and build of this site reuses it");
    eprintln!(
        "next: meshbundle render {} --secrets {} -o out",
        a.spec.display(),
        a.output.display()
    );
    Ok(ExitCode::SUCCESS)
}

fn date(secs: u64) -> String {
    der::DateTime::from_unix_duration(std::time::Duration::from_secs(secs))
        .map(|d| format!("{d}"))
        .unwrap_or_else(|_| secs.to_string())
}

fn show(a: SecretsShowArgs) -> Result<ExitCode> {
    let secrets = sitefile::read_secrets(&a.file, None)?;
    let summary = secrets
        .summary()
        .map_err(|e| Error::from_source(e, "the file is damaged"))?;
    match a.print.format {
        Format::Json => println!("{}", serde_json::to_string_pretty(&summary).unwrap_or_default()),
        Format::Text => {
            println!("site:           {}", summary.site);
            println!("created:        {}", date(summary.created));
            println!("discovery hash: {}", summary.discovery_hash);
            match &secrets.addons {
                Some(a) => {
                    println!(
                        "addons:         Grafana administrator `{}`, Kiali signing key (values not shown)",
                        a.grafana.admin_user
                    )
                }
                None => {
                    println!("addons:         no Grafana and Kiali credentials: `meshbundle secrets rotate` adds them")
                }
            }
            println!();
            for c in &summary.certificates {
                println!("{}", c.name);
                println!("  subject:     {}", c.subject);
                println!("  issuer:      {}", c.issuer);
                println!("  key:         {}", c.key_type);
                println!("  valid:       {} to {}", date(c.not_before), date(c.not_after));
                println!("  fingerprint: SHA256 {}", c.fingerprint);
            }
        }
    }
    Ok(ExitCode::SUCCESS)
}

/// Copies a secrets file that is about to be replaced to
/// `FILE.YYYYMMDDTHHMMSSZ.bak` beside it, mode 0600, never over another file.
fn backup(path: &std::path::Path) -> Result<std::path::PathBuf> {
    use std::io::Write;
    let bytes = fsutil::read_private(path, 1 << 24, "a secrets file")?;
    let now = sitefile::now();
    let stamp = i64::try_from(now)
        .ok()
        .and_then(|s| chrono::DateTime::from_timestamp(s, 0))
        .map(|d| d.format("%Y%m%dT%H%M%SZ").to_string())
        .unwrap_or_else(|| now.to_string());
    let name = path
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default();
    let fail = |p: &std::path::Path, e: std::io::Error| {
        Error::failed_with(
            format!("cannot keep a copy of {} as {}", path.display(), p.display()),
            e,
            "make room or fix the directory's permissions; nothing was changed",
        )
    };
    for n in 0.. {
        let suffix = if n == 0 { String::new() } else { format!("-{n}") };
        let b = path.with_file_name(format!("{name}.{stamp}{suffix}.bak"));
        let f = {
            use std::os::unix::fs::OpenOptionsExt;
            std::fs::OpenOptions::new()
                .write(true)
                .create_new(true)
                .mode(0o600)
                .open(&b)
        };
        match f {
            Ok(mut f) => {
                f.set_permissions(fsutil::permissions(0o600)).map_err(|e| fail(&b, e))?;
                f.write_all(&bytes).and_then(|_| f.sync_all()).map_err(|e| {
                    let _ = std::fs::remove_file(&b);
                    fail(&b, e)
                })?;
                return Ok(b);
            }
            Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => continue,
            Err(e) => return Err(fail(&b, e)),
        }
    }
    unreachable!("some backup name is free")
}

fn rotate(a: SecretsRotateArgs) -> Result<ExitCode> {
    let site = sitefile::read_site(&a.spec)?;
    let old = sitefile::read_secrets(&a.secrets, None)?;
    let new = pki::rotate(&site, &old, sitefile::now(), &mut sitefile::rng())
        .map_err(|e| Error::from_source(e, "see the message above"))?;
    let out = a.output.as_deref().unwrap_or(&a.secrets);
    let backup = if out.exists() { Some(backup(out)?) } else { None };
    write(out, &new)?;
    if let Some(b) = backup {
        eprintln!("kept the previous file as {} (mode 0600)", b.display());
    }
    eprintln!(
        "renewed the Istio intermediate CA and the ingress certificate; roots, keys of the CAs and the join token are unchanged"
    );
    if old.addons.is_none() {
        eprintln!("added the Grafana and Kiali credentials this file did not have yet");
    }
    eprintln!("wrote {} (mode 0600)", out.display());
    Ok(ExitCode::SUCCESS)
}
