//! `meshbundle ui`: serves the browser configurator (`web/dist/`, embedded
//! in the binary when it was built, see `build.rs`) on 127.0.0.1, so a user
//! with only the binary has the configurator too.
//!
//! The server answers GET and HEAD of the embedded files alone, each with
//! its content type, from memory: no path reaches the file system, nothing
//! else is served, and the page itself makes no network request.

use std::net::SocketAddr;
use std::process::ExitCode;

use tiny_http::{Header, Method, Response, Server};

use crate::error::{Error, Result};

#[derive(clap::Args, Debug)]
pub struct UiArgs {
    /// The address to serve on (port 0: any free port; the address is printed).
    #[arg(long, value_name = "ADDR:PORT", default_value = "127.0.0.1:7380")]
    pub listen: SocketAddr,
}

/// Every file of `web/dist/` at build time, by path, in path order; empty
/// when the binary was built without it.
pub static FILES: &[(&str, &[u8])] = include!(concat!(env!("OUT_DIR"), "/web_dist.rs"));

/// The content type a browser needs for each kind of file the page has.
pub fn content_type(path: &str) -> &'static str {
    match path.rsplit_once('.').map(|x| x.1) {
        Some("html") => "text/html; charset=utf-8",
        Some("js" | "mjs") => "text/javascript; charset=utf-8",
        Some("css") => "text/css; charset=utf-8",
        Some("wasm") => "application/wasm",
        Some("json" | "map") => "application/json",
        Some("svg") => "image/svg+xml",
        Some("png") => "image/png",
        Some("ico") => "image/x-icon",
        Some("txt" | "md") => "text/plain; charset=utf-8",
        _ => "application/octet-stream",
    }
}

/// The embedded file a request path names: `/` is `index.html`; a query
/// string is ignored.
fn lookup(url: &str) -> Option<(&'static str, &'static [u8])> {
    let path = url.split(['?', '#']).next().unwrap_or_default();
    let path = path.strip_prefix('/').unwrap_or(path);
    let path = if path.is_empty() { "index.html" } else { path };
    FILES.iter().find(|(p, _)| *p == path).copied()
}

fn header(name: &str, value: &str) -> Header {
    // Both are ASCII constants or content types from the table above.
    Header::from_bytes(name.as_bytes(), value.as_bytes()).unwrap_or_else(|()| unreachable!("an ASCII header"))
}

pub fn run(a: UiArgs) -> Result<ExitCode> {
    if FILES.is_empty() {
        return Err(Error::failed(
            "this meshbundle was built without the configurator (web/dist/ did not exist when it was compiled)",
            "build the page with web/build.sh, then build meshbundle again (cargo build --release -p meshbundle); or open web/dist/index.html from disk",
        ));
    }
    let server = Server::http(a.listen).map_err(|e| {
        Error::failed_with(
            format!("cannot listen on {}", a.listen),
            e,
            "choose another address with --listen 127.0.0.1:PORT",
        )
    })?;
    let addr: SocketAddr = server
        .server_addr()
        .to_ip()
        .ok_or_else(|| Error::failed("the server has no IP address", "report this as a bug"))?;
    println!("http://{addr}/");
    if !addr.ip().is_loopback() {
        eprintln!(
            "warning: {} is not a loopback address: anyone who reaches it can open the configurator",
            addr.ip()
        );
    }
    eprintln!(
        "serving the configurator ({} files, from this binary) on http://{addr}/; stop with Ctrl-C",
        FILES.len()
    );
    for req in server.incoming_requests() {
        let method = req.method().clone();
        let response = match (&method, lookup(req.url())) {
            (Method::Get | Method::Head, Some((path, bytes))) => Response::from_data(bytes)
                .with_header(header("Content-Type", content_type(path)))
                .with_header(header("X-Content-Type-Options", "nosniff"))
                .with_header(header("Cache-Control", "no-cache")),
            (Method::Get | Method::Head, None) => Response::from_data(&b"not found\n"[..])
                .with_status_code(404)
                .with_header(header("Content-Type", "text/plain; charset=utf-8")),
            _ => Response::from_data(&b"only GET and HEAD\n"[..])
                .with_status_code(405)
                .with_header(header("Allow", "GET, HEAD"))
                .with_header(header("Content-Type", "text/plain; charset=utf-8")),
        };
        // A client that went away is no reason to stop serving the others.
        let _ = req.respond(response);
    }
    Ok(ExitCode::SUCCESS)
}
