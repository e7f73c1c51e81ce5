//! Progress bars for long steps (pull, build, verify, import). Quiet when
//! standard error is not a terminal, so logs and CI output stay clean.

use std::io::IsTerminal;
use std::pin::Pin;
use std::sync::atomic::{AtomicU64, Ordering};
use std::task::{Context, Poll};

use indicatif::{ProgressBar, ProgressDrawTarget, ProgressStyle};
use tokio::io::AsyncWrite;

pub struct Progress {
    bar: Option<ProgressBar>,
    retries: AtomicU64,
}

impl Progress {
    /// A byte-counting bar labelled `what`; hidden when stderr is not a terminal
    /// or `quiet` is set.
    pub fn bytes(what: &str, quiet: bool) -> Progress {
        let bar = (!quiet && std::io::stderr().is_terminal()).then(|| {
            // Drawn from the first byte counted against a known total, so a
            // step with nothing to count (everything cached) shows no bar and
            // no bar ever shows a full `0 B/0 B`.
            let b = ProgressBar::with_draw_target(Some(0), ProgressDrawTarget::hidden());
            b.set_style(
                ProgressStyle::with_template("{prefix:>10} [{bar:30}] {bytes}/{total_bytes} {bytes_per_sec} {eta}")
                    .unwrap_or_else(|_| ProgressStyle::default_bar())
                    .progress_chars("=> "),
            );
            b.set_prefix(what.to_string());
            b
        });
        Progress {
            bar,
            retries: AtomicU64::new(0),
        }
    }

    pub fn add_total(&self, n: u64) {
        if let Some(b) = &self.bar {
            b.inc_length(n);
            if n > 0 && b.is_hidden() {
                b.set_draw_target(ProgressDrawTarget::stderr());
            }
        }
    }

    /// Names the step the bar counts now (`pull`, `write`): one bar, relabelled
    /// as a long command moves from step to step.
    pub fn phase(&self, what: &str) {
        if let Some(b) = &self.bar {
            b.set_prefix(what.to_string());
        }
    }

    /// Whether a bar is shown (standard error is a terminal, no `--quiet`).
    pub fn shown(&self) -> bool {
        self.bar.is_some()
    }

    pub fn inc(&self, n: u64) {
        if let Some(b) = &self.bar {
            b.inc(n);
        }
    }

    pub fn retry(&self) {
        self.retries.fetch_add(1, Ordering::Relaxed);
    }

    pub fn retries(&self) -> u64 {
        self.retries.load(Ordering::Relaxed)
    }

    pub fn finish(&self) {
        if let Some(b) = &self.bar {
            b.finish_and_clear();
        }
    }

    /// Wraps a writer so the bytes written move the bar.
    pub fn writer<W>(&self, inner: W) -> CountingWriter<'_, W> {
        CountingWriter { inner, progress: self }
    }

    /// Wraps a reader so the bytes read move the bar.
    pub fn reader<R>(&self, inner: R) -> CountingReader<'_, R> {
        CountingReader { inner, progress: self }
    }
}

pub struct CountingReader<'a, R> {
    inner: R,
    progress: &'a Progress,
}

impl<R: std::io::Read> std::io::Read for CountingReader<'_, R> {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        let n = self.inner.read(buf)?;
        self.progress.inc(n as u64);
        Ok(n)
    }
}

pub struct CountingWriter<'a, W> {
    inner: W,
    progress: &'a Progress,
}

impl<W: AsyncWrite + Unpin> AsyncWrite for CountingWriter<'_, W> {
    fn poll_write(mut self: Pin<&mut Self>, cx: &mut Context<'_>, buf: &[u8]) -> Poll<std::io::Result<usize>> {
        let r = Pin::new(&mut self.inner).poll_write(cx, buf);
        if let Poll::Ready(Ok(n)) = &r {
            self.progress.inc(*n as u64);
        }
        r
    }

    fn poll_flush(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<std::io::Result<()>> {
        Pin::new(&mut self.inner).poll_flush(cx)
    }

    fn poll_shutdown(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<std::io::Result<()>> {
        Pin::new(&mut self.inner).poll_shutdown(cx)
    }
}

impl Progress {
    /// Adds to the total the size of every entry of a bundle whose path
    /// `counts`: what an import step streams, known from the seal before
    /// the first byte, so the bar has a rate and an ETA from the start.
    pub fn add_entries(&self, seal: &crate::bundle::seal::Seal, counts: impl Fn(&str) -> bool) {
        self.add_total(
            seal.entries
                .iter()
                .filter(|e| counts(e.path.as_str()))
                .map(|e| e.size)
                .sum(),
        );
    }
}
