//! Opening the authorize URL in the system browser, as MSAL does: the platform's URL opener is
//! started directly (no shell, so the URL's `&` cannot be interpreted): `rundll32
//! url.dll,FileProtocolHandler` on Windows, `open` on macOS, `xdg-open` elsewhere when a display
//! is set. `false` means "no browser here": the caller prints the URL instead.

use std::process::Stdio;

use url::Url;

use crate::env::Environment;

/// Tries to open `url`; `true` when the opener started and reported success.
pub async fn open(url: &Url, env: &dyn Environment) -> bool {
    let Some((program, args)) = opener(env) else {
        return false;
    };
    let child = tokio::process::Command::new(program)
        .args(args)
        .arg(url.as_str())
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .kill_on_drop(false)
        .spawn();
    let Ok(mut child) = child else {
        return false;
    };
    // Openers return as soon as they handed the URL over; bound the wait anyway.
    match tokio::time::timeout(std::time::Duration::from_secs(10), child.wait()).await {
        Ok(Ok(status)) => status.success(),
        _ => false,
    }
}

/// The opener for this platform, or `None` where there is no graphical session.
fn opener(env: &dyn Environment) -> Option<(&'static str, &'static [&'static str])> {
    if cfg!(windows) {
        Some(("rundll32.exe", &["url.dll,FileProtocolHandler"]))
    } else if cfg!(target_os = "macos") {
        Some(("open", &[]))
    } else if env.var("DISPLAY").is_some() || env.var("WAYLAND_DISPLAY").is_some() {
        Some(("xdg-open", &[]))
    } else {
        None
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::env::MapEnvironment;

    #[test]
    fn no_display_means_no_browser_off_windows_and_macos() {
        if cfg!(any(windows, target_os = "macos")) {
            assert!(opener(&MapEnvironment::new()).is_some());
        } else {
            assert!(opener(&MapEnvironment::new()).is_none());
            assert_eq!(
                opener(&MapEnvironment::new().with("DISPLAY", ":0")).map(|o| o.0),
                Some("xdg-open")
            );
        }
    }
}
