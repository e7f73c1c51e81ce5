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
    let text = pki::write_secrets(s).map_err(|e| Error::failed(e.to_string(), "report this as a bug"))?;
    fsutil::write_atomic(path, text.as_bytes(), 0o600)
}

fn generate(a: SecretsGenerateArgs) -> Result<ExitCode> {
    let site = sitefile::read_site(&a.spec)?;
    fsutil::check_overwrite(&a.output, a.force)?;
    let mesh = a.mesh_root.as_deref().map(|p| sitefile::read_secrets(p, None)).transpose()?;
    let cert_pem;
    let key_pem;
    let provided = match (&a.ingress_cert, &a.ingress_key) {
        (Some(c), Some(k)) => {
            cert_pem = String::from_utf8_lossy(&fsutil::read_limited(c, 1 << 20)?).into_owned();
            key_pem = fsutil::read_private_text(k, 1 << 20, "a private key")?;
            Some(ProvidedTls { cert_pem: &cert_pem, key_pem: &key_pem })
        }
        (None, None) => None,
        _ => return Err(Error::Usage("--ingress-cert and --ingress-key go together".into())),
    };
    let opts = GenerateOptions { now: sitefile::now(), mesh_root: mesh.as_ref().map(|m| &m.istio.root), provided_tls: provided };
    let secrets = pki::generate(&site, &opts, &mut sitefile::rng())
        .map_err(|e| Error::failed(e.to_string(), "check the files given with --ingress-cert, --ingress-key and --mesh-root"))?;
    write(&a.output, &secrets)?;
    eprintln!(
        "wrote {} (mode 0600): kubeadm CAs, service-account key, join token, Istio CA, ingress certificate, Grafana and Kiali credentials",
        a.output.display()
    );
    eprintln!("keep it private and backed up; every render and build of this site reuses it");
    eprintln!("next: meshbundle render {} --secrets {} -o out", a.spec.display(), a.output.display());
    Ok(ExitCode::SUCCESS)
}

fn date(secs: u64) -> String {
    der::DateTime::from_unix_duration(std::time::Duration::from_secs(secs)).map(|d| format!("{d}")).unwrap_or_else(|_| secs.to_string())
}

fn show(a: SecretsShowArgs) -> Result<ExitCode> {
    let secrets = sitefile::read_secrets(&a.file, None)?;
    let summary = secrets.summary().map_err(|e| Error::failed(e.to_string(), "the file is damaged"))?;
    match a.format {
        Format::Json => println!("{}", serde_json::to_string_pretty(&summary).unwrap_or_default()),
        Format::Text => {
            println!("site:           {}", summary.site);
            println!("created:        {}", date(summary.created));
            println!("discovery hash: {}", summary.discovery_hash);
            match &secrets.addons {
                Some(a) => {
                    println!("addons:         Grafana administrator `{}`, Kiali signing key (values not shown)", a.grafana.admin_user)
                }
                None => println!("addons:         no Grafana and Kiali credentials: `meshbundle secrets rotate` adds them"),
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

fn rotate(a: SecretsRotateArgs) -> Result<ExitCode> {
    let site = sitefile::read_site(&a.spec)?;
    let old = sitefile::read_secrets(&a.secrets, None)?;
    let new = pki::rotate(&site, &old, sitefile::now(), &mut sitefile::rng())
        .map_err(|e| Error::failed(e.to_string(), "see the message above"))?;
    let out = a.output.as_deref().unwrap_or(&a.secrets);
    write(out, &new)?;
    eprintln!("renewed the Istio intermediate CA and the ingress certificate; roots, keys of the CAs and the join token are unchanged");
    if old.addons.is_none() {
        eprintln!("added the Grafana and Kiali credentials this file did not have yet");
    }
    eprintln!("wrote {} (mode 0600)", out.display());
    Ok(ExitCode::SUCCESS)
}
