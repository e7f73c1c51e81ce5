//! The example specs `meshbundle init` writes: a production site (the
//! default) and a one-node lab.

/// (name, one-line description, commented YAML text).
pub const EXAMPLES: &[(&str, &str, &str)] = &[
    (
        "production",
        "3 control-plane and 3 worker nodes across 3 zones, every addon",
        include_str!("../examples/production.yaml"),
    ),
    (
        "lab",
        "one node that is control plane and worker, for a lab or a demo",
        include_str!("../examples/lab.yaml"),
    ),
];

/// The text of an example spec by name.
pub fn example(name: &str) -> Option<&'static str> {
    EXAMPLES.iter().find(|(n, _, _)| *n == name).map(|(_, _, t)| *t)
}

/// The names of the examples.
pub fn names() -> Vec<&'static str> {
    EXAMPLES.iter().map(|(n, _, _)| *n).collect()
}
