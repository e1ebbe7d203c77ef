//! Parsing of test scripts into commands: `load`, `clear` and the `eval` family.

use super::series::{is_native_histogram, parse_number, parse_series_line, SeriesLine};
use strata_core::parse_duration;

/// What an `eval` expects of its query.
#[derive(Debug, Clone, PartialEq)]
pub enum Expectation {
    /// Success with these results (`eval`, `eval_ordered`), plus annotations.
    Success {
        ordered: bool,
        warn: bool,
        info: bool,
    },
    /// Failure, optionally with an exact message or a message matching a regexp.
    Fail {
        message: Option<String>,
        regexp: Option<String>,
    },
}

/// When an `eval` runs its query.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum EvalTime {
    Instant(i64),
    Range { start: i64, end: i64, step: i64 },
}

/// An expected result line: a series with values, or a bare scalar.
#[derive(Debug, Clone, PartialEq)]
pub enum Expected {
    Series(SeriesLine),
    Scalar(f64),
    String(String),
}

#[derive(Debug, Clone, PartialEq)]
pub enum Command {
    Load {
        interval: i64,
        /// Also load the classic histograms as native ones (skipped by Strata).
        with_nhcb: bool,
        series: Vec<(usize, SeriesLine)>,
        /// Lines in native-histogram notation, not loaded.
        native: Vec<(usize, SeriesLine)>,
    },
    Clear,
    Eval {
        expr: String,
        time: EvalTime,
        expect: Expectation,
        results: Vec<Expected>,
        /// A result line is in native-histogram notation: the eval is skipped.
        native: bool,
    },
}

/// A command with the line it starts on (1-based), or the reason its text is invalid.
pub type ParsedCommand = (usize, Result<Command, String>);

/// Splits a script into commands. Lines are trimmed; comments and blank lines end the
/// body of a command.
pub fn parse_script(text: &str) -> Vec<ParsedCommand> {
    let lines: Vec<&str> = text
        .lines()
        .map(|l| {
            let l = l.trim();
            if l.starts_with('#') {
                ""
            } else {
                l
            }
        })
        .collect();
    let mut out = Vec::new();
    let mut i = 0;
    while i < lines.len() {
        if lines[i].is_empty() {
            i += 1;
            continue;
        }
        let start = i;
        let mut end = i + 1;
        // `clear` is one line; `load` and `eval` take the lines up to the next blank.
        while end < lines.len() && !lines[end].is_empty() && lines[start] != "clear" {
            end += 1;
        }
        out.push((start + 1, parse_command(&lines[start..end], start + 1)));
        i = end;
    }
    out
}

fn parse_command(block: &[&str], line: usize) -> Result<Command, String> {
    let head = block[0];
    let word = head.split_whitespace().next().unwrap_or_default();
    match word {
        "clear" => Ok(Command::Clear),
        "load" | "load_with_nhcb" => parse_load(head, &block[1..], line, word == "load_with_nhcb"),
        w if w.starts_with("eval") => parse_eval(head, &block[1..]),
        _ => Err(format!("unknown command {head:?}")),
    }
}

/// A time or duration as scripts write it (`50m`, `0`, `8000s`), in milliseconds.
fn parse_time(s: &str) -> Result<i64, String> {
    parse_duration(s.trim())
        .map(|d| d.as_millis() as i64)
        .map_err(|e| e.to_string())
}

fn parse_load(head: &str, body: &[&str], line: usize, with_nhcb: bool) -> Result<Command, String> {
    let interval = head
        .split_whitespace()
        .nth(1)
        .ok_or("load needs an interval")?;
    let interval = parse_time(interval)?;
    let (mut series, mut native) = (Vec::new(), Vec::new());
    for (k, l) in body.iter().enumerate() {
        let n = line + 1 + k;
        if is_native_histogram(l) {
            let labels_only = l.split("{{").next().unwrap_or_default();
            let parsed = parse_series_line(labels_only).map_err(|e| format!("line {n}: {e}"))?;
            native.push((n, parsed));
        } else {
            series.push((
                n,
                parse_series_line(l).map_err(|e| format!("line {n}: {e}"))?,
            ));
        }
    }
    Ok(Command::Load {
        interval,
        with_nhcb,
        series,
        native,
    })
}

fn parse_eval(head: &str, body: &[&str]) -> Result<Command, String> {
    let (word, rest) = head
        .split_once(char::is_whitespace)
        .ok_or("eval needs a query")?;
    let modifier = word.strip_prefix("eval").unwrap_or_default();
    let rest = rest.trim_start();
    let (time, expr) = if let Some(r) = rest.strip_prefix("instant") {
        let r = r
            .trim_start()
            .strip_prefix("at")
            .ok_or("expected 'at' after 'instant'")?;
        let (t, expr) = r
            .trim_start()
            .split_once(char::is_whitespace)
            .ok_or("missing query")?;
        (EvalTime::Instant(parse_time(t)?), expr)
    } else if let Some(r) = rest.strip_prefix("range") {
        let r = r
            .trim_start()
            .strip_prefix("from")
            .ok_or("expected 'from'")?;
        let (start, r) = r.trim_start().split_once(" to ").ok_or("expected 'to'")?;
        let (end, r) = r
            .trim_start()
            .split_once(" step ")
            .ok_or("expected 'step'")?;
        let (step, expr) = r
            .trim_start()
            .split_once(char::is_whitespace)
            .ok_or("missing query")?;
        (
            EvalTime::Range {
                start: parse_time(start)?,
                end: parse_time(end)?,
                step: parse_time(step)?,
            },
            expr,
        )
    } else {
        return Err(format!("expected 'instant' or 'range' in {head:?}"));
    };
    let mut expect = match modifier {
        "" => success(false, false, false),
        "_ordered" => success(true, false, false),
        "_warn" => success(false, true, false),
        "_info" => success(false, false, true),
        "_fail" => Expectation::Fail {
            message: None,
            regexp: None,
        },
        other => return Err(format!("unknown eval modifier {other:?}")),
    };
    if matches!(time, EvalTime::Range { .. }) && modifier == "_ordered" {
        return Err("eval_ordered is not supported for range queries".into());
    }
    let mut results = Vec::new();
    let mut native = false;
    for l in body {
        if let Some(m) = l.strip_prefix("expected_fail_message") {
            set_fail(&mut expect, Some(m.trim().to_owned()), None)?;
        } else if let Some(r) = l.strip_prefix("expected_fail_regexp") {
            set_fail(&mut expect, None, Some(r.trim().to_owned()))?;
        } else if is_native_histogram(l) {
            native = true;
        } else if let Ok(v) = parse_number(l) {
            results.push(Expected::Scalar(v));
        } else if l.starts_with('"') && l.ends_with('"') && l.len() >= 2 {
            results.push(Expected::String(l[1..l.len() - 1].to_owned()));
        } else {
            results.push(Expected::Series(parse_series_line(l)?));
        }
    }
    Ok(Command::Eval {
        expr: expr.trim().to_owned(),
        time,
        expect,
        results,
        native,
    })
}

fn success(ordered: bool, warn: bool, info: bool) -> Expectation {
    Expectation::Success {
        ordered,
        warn,
        info,
    }
}

fn set_fail(e: &mut Expectation, m: Option<String>, r: Option<String>) -> Result<(), String> {
    match e {
        Expectation::Fail { message, regexp } => {
            if m.is_some() {
                *message = m;
            }
            if r.is_some() {
                *regexp = r;
            }
            Ok(())
        }
        _ => Err("expected_fail_* is only allowed after eval_fail".into()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_commands() {
        let script = "# c\nload 5m\n  a{x=\"1\"} 1+1x2\n\neval instant at 10m a\n  a{x=\"1\"} 3\n\neval_fail range from 0 to 1m step 30s b\n  expected_fail_message boom\n\nclear\n";
        let cmds = parse_script(script);
        assert_eq!(cmds.len(), 4);
        assert!(matches!(
            cmds[0].1,
            Ok(Command::Load {
                interval: 300_000,
                ..
            })
        ));
        match &cmds[1].1 {
            Ok(Command::Eval {
                expr,
                time,
                results,
                ..
            }) => {
                assert_eq!(expr, "a");
                assert_eq!(*time, EvalTime::Instant(600_000));
                assert_eq!(results.len(), 1);
            }
            other => panic!("{other:?}"),
        }
        assert!(matches!(
            &cmds[2].1,
            Ok(Command::Eval { expect: Expectation::Fail { message: Some(m), .. }, .. }) if m == "boom"
        ));
        assert_eq!(cmds[3].1, Ok(Command::Clear));
    }
}
