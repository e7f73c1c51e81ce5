//! The first stage's product: a site that passed validation.
//!
//! [`Validated`] is made only by validating — by [`Loaded::into_validated`]
//! (the spec was read and checked once, in [`super::load::load`]) or by
//! [`Validated::check`] (a site built in code). Rendering takes it, so it
//! never validates again, and it carries what the site needs from upstream,
//! worked out once: the versions are in the catalog, so it always exists.

use std::ops::Deref;

use super::Site;
use super::load::Loaded;
use crate::catalog::{self, Needs};
use crate::diag::{Code, Diagnostic};

/// A site with no validation errors, and what it needs from upstream.
#[derive(Debug, Clone, PartialEq)]
pub struct Validated {
    site: Site,
    needs: Needs,
}

impl Validated {
    /// Validates a site: the site, or every error found (warnings are not
    /// errors and are not returned).
    pub fn check(site: Site) -> Result<Validated, Vec<Diagnostic>> {
        let errors: Vec<Diagnostic> = crate::validate::check(&site)
            .into_iter()
            .filter(Diagnostic::is_error)
            .collect();
        if !errors.is_empty() {
            return Err(errors);
        }
        Self::checked(site)
    }

    /// A site validation passed: adds what it needs. Validation checks the
    /// versions against the catalog, so this fails only on a bug.
    fn checked(site: Site) -> Result<Validated, Vec<Diagnostic>> {
        match catalog::needs(&site) {
            Some(needs) => Ok(Validated { site, needs }),
            None => Err(vec![Diagnostic::error(
                Code::Catalog,
                "spec",
                "the spec names versions the catalog lacks, although validation passed",
                "report this as a bug",
            )]),
        }
    }

    /// The site.
    pub fn site(&self) -> &Site {
        &self.site
    }

    /// The images and files the site needs from upstream.
    pub fn needs(&self) -> &Needs {
        &self.needs
    }

    /// The site, giving up the guarantee.
    pub fn into_site(self) -> Site {
        self.site
    }
}

impl Deref for Validated {
    type Target = Site;
    fn deref(&self) -> &Site {
        &self.site
    }
}

impl Loaded {
    /// The validated site when the spec was read with no errors; `self`
    /// (with its diagnostics) otherwise. Validation ran once, in `load`.
    // The error is the loaded spec itself, kept whole for its diagnostics;
    // it is made once per run, so its size costs nothing.
    #[allow(clippy::result_large_err)]
    pub fn into_validated(self) -> Result<Validated, Loaded> {
        if self.has_errors() {
            return Err(self);
        }
        match self.site {
            Some(site) => Validated::checked(site).map_err(|diagnostics| Loaded {
                diagnostics,
                positions: self.positions,
                ..Loaded::default()
            }),
            None => Err(self),
        }
    }

    /// [`Loaded::into_validated`] for a borrowed outcome (clones the site).
    pub fn validated(&self) -> Option<Validated> {
        if self.has_errors() {
            None
        } else {
            self.site.clone().and_then(|s| Validated::checked(s).ok())
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_a_site_without_errors_is_validated() {
        let text = crate::examples::example("lab").unwrap();
        let v = crate::spec::load::load(text)
            .into_validated()
            .expect("the lab example is valid");
        assert_eq!(v.needs(), &catalog::needs(v.site()).unwrap());

        let mut bad = v.clone().into_site();
        bad.spec.nodes.clear();
        let errors = Validated::check(bad).unwrap_err();
        assert!(
            !errors.is_empty() && errors.iter().all(Diagnostic::is_error),
            "{errors:?}"
        );

        let broken = crate::spec::load::load(&text.replace("name: lab", "name: Not_A_Label"));
        assert!(broken.validated().is_none());
        let back = broken.into_validated().unwrap_err();
        assert!(back.has_errors(), "the diagnostics come back with the refusal");
    }
}
