//! Progress on a terminal: a spinner saying what ddx is doing, for work that can take seconds
//! (verifying every chain, fetching a catalog). It appears only once the work has taken a
//! second (`DDX_PROGRESS_AFTER`, in milliseconds, changes that), only on stderr and only when
//! stderr is a terminal (indicatif hides it otherwise), so pipes, files and `--json` never see
//! it; it is cleared when the work ends.

use indicatif::{ProgressBar, ProgressDrawTarget, ProgressStyle};
use std::sync::{Arc, Mutex};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

/// A spinner that lasts as long as the value.
pub struct Spinner {
    bar: ProgressBar,
    done: Arc<Mutex<bool>>,
    waiter: Option<JoinHandle<()>>,
}

fn delay() -> Duration {
    let ms = std::env::var("DDX_PROGRESS_AFTER")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(1000);
    Duration::from_millis(ms)
}

/// Draws `bar` now (on a terminal) and keeps it turning.
fn show(bar: &ProgressBar) {
    bar.set_draw_target(ProgressDrawTarget::stderr());
    bar.tick();
    bar.enable_steady_tick(Duration::from_millis(120));
}

impl Spinner {
    pub fn start(message: impl Into<String>) -> Spinner {
        let bar = ProgressBar::with_draw_target(None, ProgressDrawTarget::hidden());
        if let Ok(style) = ProgressStyle::with_template("{spinner} {msg} ({elapsed})") {
            bar.set_style(style);
        }
        bar.set_message(message.into());
        let done = Arc::new(Mutex::new(false));
        let after = delay();
        if after.is_zero() {
            show(&bar);
            return Spinner {
                bar,
                done,
                waiter: None,
            };
        }
        let (shown, flag) = (bar.clone(), done.clone());
        let waiter = std::thread::Builder::new()
            .name("ddx-progress".into())
            .spawn(move || {
                // Parked until the delay is over or the work is done (parking may wake early).
                let deadline = Instant::now() + after;
                loop {
                    let now = Instant::now();
                    if now >= deadline || flag.lock().map_or(true, |d| *d) {
                        break;
                    }
                    std::thread::park_timeout(deadline - now);
                }
                if let Ok(done) = flag.lock() {
                    if !*done {
                        show(&shown);
                    }
                }
            })
            .ok();
        Spinner { bar, done, waiter }
    }

    /// Says what the work is doing now.
    pub fn set_message(&self, message: impl Into<String>) {
        self.bar.set_message(message.into());
    }
}

impl Drop for Spinner {
    fn drop(&mut self) {
        if let Ok(mut done) = self.done.lock() {
            *done = true;
            self.bar.finish_and_clear();
        }
        if let Some(w) = self.waiter.take() {
            w.thread().unpark();
            let _ = w.join();
        }
    }
}
