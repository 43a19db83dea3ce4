//! The vendor-compatible log file (WIRE §11): `<dir>/TokenIntegrationHub_YYYY-MM-DD.log`,
//! header at each open, `[YYYY-MM-DD HH:MM:SS] [L] Component: message` in local time,
//! re-opened when the date changes, files older than 7 days removed at each open.
//!
//! Lines are written synchronously (one `write` per line, no buffering to lose on a crash);
//! the logger never calls back into the hub and never holds its lock while the caller runs
//! anything else. Session keys are never passed to it in full (see [`redact_key`]).

use std::fs::{self, File, OpenOptions};
use std::io::Write;
use std::path::{Path, PathBuf};

use chrono::{Local, NaiveDate, TimeZone};
use parking_lot::Mutex;

use crate::config::LogLevel;
use crate::proto::session::VENDOR_VERSION;

const PREFIX: &str = "TokenIntegrationHub_";
const RETENTION_SECS: i64 = 7 * 24 * 3600;

pub(crate) struct Logger {
    dir: Option<PathBuf>,
    level: LogLevel,
    file: Mutex<Option<(NaiveDate, File)>>,
}

fn letter(l: LogLevel) -> char {
    match l {
        LogLevel::Error => 'E',
        LogLevel::Warn => 'W',
        LogLevel::Info => 'I',
        LogLevel::Debug => 'D',
    }
}

/// Only the first 4 characters of a key, for logs.
#[allow(dead_code)]
pub(crate) fn redact_key(k: &str) -> String {
    let head: String = k.chars().take(4).collect();
    format!("{head}…({} chars)", k.chars().count())
}

impl Logger {
    pub(crate) fn new(dir: Option<PathBuf>, level: LogLevel) -> Logger {
        Logger {
            dir,
            level,
            file: Mutex::new(None),
        }
    }

    pub(crate) fn enabled(&self, level: LogLevel) -> bool {
        self.dir.is_some() && level <= self.level
    }

    pub(crate) fn log(&self, level: LogLevel, component: &str, msg: &str) {
        if !self.enabled(level) {
            return;
        }
        let Some(dir) = &self.dir else { return };
        let now = Local::now();
        let today = now.date_naive();
        let line = format!(
            "[{}] [{}] {}: {}\n",
            now.format("%Y-%m-%d %H:%M:%S"),
            letter(level),
            component,
            msg
        );
        let mut guard = self.file.lock();
        if guard.as_ref().map(|(d, _)| *d) != Some(today) {
            *guard = open_for(dir, today, &now.format("%Y-%m-%d %H:%M:%S").to_string());
        }
        if let Some((_, f)) = guard.as_mut() {
            let _ = f.write_all(line.as_bytes());
        }
    }
}

fn open_for(dir: &Path, day: NaiveDate, stamp: &str) -> Option<(NaiveDate, File)> {
    if fs::create_dir_all(dir).is_err() {
        return None;
    }
    remove_old_logs(dir);
    let path = dir.join(format!("{PREFIX}{}.log", day.format("%Y-%m-%d")));
    let mut f = OpenOptions::new()
        .create(true)
        .append(true)
        .open(path)
        .ok()?;
    let header = format!(
        "----- Log started at {stamp} ------\nToken Integration Hub Version: {VENDOR_VERSION}\n{}\n",
        "-".repeat(49)
    );
    let _ = f.write_all(header.as_bytes());
    Some((day, f))
}

/// Delete `TokenIntegrationHub_YYYY-MM-DD*.log` files whose local midnight is more than 7
/// days ago (the vendor's `removeOldLogs`).
pub(crate) fn remove_old_logs(dir: &Path) {
    let Ok(rd) = fs::read_dir(dir) else { return };
    let now = Local::now().timestamp();
    for e in rd.flatten() {
        let name = e.file_name();
        let Some(name) = name.to_str() else { continue };
        let Some(pos) = name.find(PREFIX) else {
            continue;
        };
        if !name.contains(".log") || !e.file_type().map(|t| t.is_file()).unwrap_or(false) {
            continue;
        }
        let rest = &name[pos + PREFIX.len()..];
        let Some(date) = rest.get(..10) else { continue };
        let Ok(d) = NaiveDate::parse_from_str(date, "%Y-%m-%d") else {
            continue;
        };
        let Some(midnight) = d.and_hms_opt(0, 0, 0) else {
            continue;
        };
        let Some(ts) = Local.from_local_datetime(&midnight).earliest() else {
            continue;
        };
        if now - ts.timestamp() > RETENTION_SECS {
            let _ = fs::remove_file(e.path());
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn writes_header_and_lines_and_removes_old() {
        let dir = std::env::temp_dir().join(format!("okc-log-test-{}", std::process::id()));
        let _ = fs::remove_dir_all(&dir);
        fs::create_dir_all(&dir).unwrap();
        let old = dir.join("TokenIntegrationHub_2001-01-01.log");
        fs::write(&old, "x").unwrap();
        let other = dir.join("unrelated.log");
        fs::write(&other, "x").unwrap();
        let l = Logger::new(Some(dir.clone()), LogLevel::Info);
        l.log(LogLevel::Info, "Hub", "hello");
        l.log(LogLevel::Debug, "Hub", "not written");
        assert!(!old.exists());
        assert!(other.exists());
        let today = Local::now().format("%Y-%m-%d").to_string();
        let text =
            fs::read_to_string(dir.join(format!("TokenIntegrationHub_{today}.log"))).unwrap();
        let lines: Vec<&str> = text.lines().collect();
        assert!(lines[0].starts_with("----- Log started at "));
        assert_eq!(lines[1], "Token Integration Hub Version: 2.5.0.1");
        assert_eq!(lines[2], "-".repeat(49));
        assert!(lines[3].starts_with('['));
        assert!(lines[3].ends_with("] [I] Hub: hello"), "{}", lines[3]);
        assert_eq!(lines.len(), 4);
        let _ = fs::remove_dir_all(&dir);
    }
}
