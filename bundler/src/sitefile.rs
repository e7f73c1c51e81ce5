//! Reading the files a user gives: the site spec, the secrets, the lock.
//! Problems are printed as diagnostics and end the command.

use std::path::Path;
use std::time::{SystemTime, UNIX_EPOCH};

use meshbundle_core::diag::Diagnostic;
use meshbundle_core::lock::Lock;
use meshbundle_core::pki::{self, SiteSecrets};
use meshbundle_core::spec::load::{MAX_SPEC_BYTES, load_bytes};
use meshbundle_core::spec::{Site, Validated};

use crate::error::{Error, Result};
use crate::{fsutil, report};

/// Unix seconds now.
pub fn now() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_secs())
        .unwrap_or(0)
}

/// The operating system's random source.
pub fn rng() -> rand_core::UnwrapErr<getrandom::SysRng> {
    rand_core::UnwrapErr(getrandom::SysRng)
}

fn print_diagnostics(path: &Path, diags: &[Diagnostic]) {
    for d in diags {
        eprintln!("{}", report::diagnostic_line(path, d));
    }
}

/// Reads and validates a spec; warnings are printed, errors end the command.
pub fn read_site(path: &Path) -> Result<Validated> {
    read_site_text(path).map(|(site, _)| site)
}

/// Reads a spec once (`-`: standard input) and validates it: the site and
/// the very text it was parsed from.
pub fn read_site_text(path: &Path) -> Result<(Validated, String)> {
    let bytes = fsutil::read_limited(path, MAX_SPEC_BYTES)?;
    let loaded = load_bytes(&bytes);
    print_diagnostics(path, &loaded.diagnostics);
    match loaded.into_validated() {
        // A valid spec was read as UTF-8, so the text is exactly the bytes.
        Ok(site) => Ok((site, String::from_utf8_lossy(&bytes).into_owned())),
        Err(loaded) => Err(Error::failed(
            format!("{}: {}", path.display(), report::count_summary(&loaded.diagnostics)),
            format!("fix the spec first: meshbundle validate {}", path.display()),
        )),
    }
}

/// Reads a secrets file: refuses one others can read, and checks it against
/// the site.
pub fn read_secrets(path: &Path, site: Option<&Site>) -> Result<SiteSecrets> {
    let bytes = fsutil::read_private(path, 16 * 1024 * 1024, "private keys")?;
    let text = String::from_utf8(bytes).map_err(|_| {
        Error::failed(
            format!("{} is not a text file", path.display()),
            "give the site.secrets.yaml that `meshbundle secrets generate` wrote",
        )
    })?;
    let file = pki::SecretsFile::parse(&text).map_err(|e| {
        Error::failed(
            located(path, &e.to_string()),
            "give the site.secrets.yaml that `meshbundle secrets generate` wrote",
        )
    })?;
    // Each problem at its field: `FILE:LINE:COL: PATH: MESSAGE (HINT)`.
    let diags = match site {
        Some(site) => file.check(site, now()),
        None => file.check_material(now()),
    };
    let errors: Vec<Diagnostic> = diags.into_iter().filter(|d| d.is_error()).collect();
    if !errors.is_empty() {
        print_diagnostics(path, &errors);
        return Err(Error::failed(
            format!("{}: {} problem(s) with the secrets", path.display(), errors.len()),
            "see above; `meshbundle secrets rotate` renews intermediates and leaves",
        ));
    }
    Ok(file.secrets)
}

/// Reads a lock file.
pub fn read_lock(path: &Path) -> Result<Lock> {
    read_lock_text(path).map(|(lock, _)| lock)
}

/// Reads a lock file once: the lock and the very text it was parsed from.
pub fn read_lock_text(path: &Path) -> Result<(Lock, String)> {
    let bytes = fsutil::read_limited(path, 64 * 1024 * 1024)?;
    let text = String::from_utf8(bytes).map_err(|_| {
        Error::failed(
            format!("{} is not a text file", path.display()),
            "give the meshbundle.lock that `meshbundle lock` wrote",
        )
    })?;
    let lock = meshbundle_core::lock::parse(&text).map_err(|e| {
        Error::failed(
            located(path, &e.to_string()),
            "give the meshbundle.lock that `meshbundle lock` wrote",
        )
    })?;
    Ok((lock, text))
}

/// `FILE:LINE:COL: …` for a message that starts with `LINE:COL: `, `FILE: …` otherwise.
fn located(path: &Path, message: &str) -> String {
    let positioned = message
        .split_once(": ")
        .and_then(|(at, _)| at.split_once(':'))
        .is_some_and(|(l, c)| {
            !l.is_empty()
                && !c.is_empty()
                && l.bytes().all(|b| b.is_ascii_digit())
                && c.bytes().all(|b| b.is_ascii_digit())
        });
    if positioned {
        format!("{}:{message}", path.display())
    } else {
        format!("{}: {message}", path.display())
    }
}
