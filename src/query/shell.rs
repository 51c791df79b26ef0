//! The interactive SQL shell (`govmedia sql` with no query): statements end with `;`, history is
//! kept in `~/.govmedia_history`, and meta-commands describe the warehouse.

use super::{stream_query, write_batches, OutputFormat, QueryError, Sink};
use crate::engine::run_query;
use datafusion::prelude::SessionContext;
use std::io::Write;
use std::str::FromStr;

/// Meta-commands: `\d`, `\d TABLE`, `\q`, `\?`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Meta {
    ListTables,
    Describe(String),
    Quit,
    Help,
}

/// A line that starts like a meta-command but is none.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("unknown command {0}; \\? lists the commands")]
pub struct UnknownCommand(pub String);

impl FromStr for Meta {
    type Err = UnknownCommand;
    fn from_str(s: &str) -> Result<Meta, UnknownCommand> {
        let mut parts = s.trim().trim_end_matches(';').split_whitespace();
        match (parts.next(), parts.next()) {
            (Some("\\d"), None) => Ok(Meta::ListTables),
            (Some("\\d"), Some(t)) => Ok(Meta::Describe(t.to_string())),
            (Some("\\q"), _) | (Some("quit"), _) | (Some("exit"), _) => Ok(Meta::Quit),
            (Some("\\?"), _) | (Some("\\h"), _) | (Some("help"), _) => Ok(Meta::Help),
            _ => Err(UnknownCommand(s.to_string())),
        }
    }
}

const HELP: &str = "\\d            list the tables (staging tables and marts)\n\\d TABLE      describe a table's columns\n\\q            quit\nSQL statements end with ; and may span lines. The shell only reads: statements that would change the warehouse are refused.";

/// Runs one meta-command; false means quit.
pub async fn meta(ctx: &SessionContext, m: &Meta, out: &mut dyn Write) -> Result<bool, QueryError> {
    match m {
        Meta::Quit => return Ok(false),
        Meta::Help => writeln!(out, "{HELP}")?,
        Meta::ListTables => {
            let batches = run_query(
                ctx,
                "SELECT table_name, table_type FROM information_schema.tables WHERE table_schema = 'public' ORDER BY table_name",
            )
            .await?;
            write_batches(&batches, OutputFormat::Table, out, false)?;
        }
        Meta::Describe(t) => {
            let name = t.replace('\'', "''");
            let batches = run_query(
                ctx,
                &format!("SELECT column_name, data_type, is_nullable FROM information_schema.columns WHERE table_name = '{name}' ORDER BY ordinal_position"),
            )
            .await?;
            if batches.iter().all(|b| b.num_rows() == 0) {
                writeln!(out, "no table named {t}; \\d lists them")?;
            } else {
                write_batches(&batches, OutputFormat::Table, out, false)?;
            }
        }
    }
    Ok(true)
}

pub async fn run(ctx: &SessionContext, format: OutputFormat, max_rows: usize) -> Result<(), QueryError> {
    let mut editor = rustyline::DefaultEditor::new()?;
    let history = std::env::var_os("HOME").map(|h| std::path::PathBuf::from(h).join(".govmedia_history"));
    if let Some(h) = &history {
        let _ = editor.load_history(h);
    }
    println!("govmedia sql — \\? for help, \\q to quit");
    let mut buffer = String::new();
    loop {
        let prompt = if buffer.is_empty() { "govmedia> " } else { "      ..> " };
        let line = match editor.readline(prompt) {
            Ok(l) => l,
            Err(rustyline::error::ReadlineError::Interrupted) => {
                buffer.clear();
                continue;
            }
            Err(rustyline::error::ReadlineError::Eof) => break,
            Err(e) => return Err(e.into()),
        };
        let trimmed = line.trim();
        if trimmed.is_empty() {
            continue;
        }
        let stdout = std::io::stdout();
        let mut out = stdout.lock();
        if buffer.is_empty() && trimmed.starts_with('\\') || matches!(trimmed, "quit" | "exit" | "help") {
            let _ = editor.add_history_entry(trimmed);
            match trimmed.parse::<Meta>() {
                Ok(m) => match meta(ctx, &m, &mut out).await {
                    Ok(true) => continue,
                    Ok(false) => break,
                    Err(e) => eprintln!("error: {e}"),
                },
                Err(e) => eprintln!("{e}"),
            }
            continue;
        }
        buffer.push_str(&line);
        buffer.push('\n');
        if !trimmed.ends_with(';') {
            continue;
        }
        let statement = std::mem::take(&mut buffer);
        let _ = editor.add_history_entry(statement.trim());
        let started = std::time::Instant::now();
        let sink = Sink { format, out: &mut out, bom: false, max_rows };
        match stream_query(ctx, statement.trim().trim_end_matches(';'), sink).await {
            Ok(written) => {
                if written.truncated {
                    eprintln!("first {} rows shown; add a LIMIT, or raise --max-rows", written.rows);
                } else {
                    eprintln!("{} rows in {:.3} s", written.rows, started.elapsed().as_secs_f64());
                }
            }
            Err(e) => eprintln!("error: {e}"),
        }
    }
    if let Some(h) = &history {
        let _ = editor.save_history(h);
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn meta_commands_parse() {
        assert_eq!("\\d".parse::<Meta>(), Ok(Meta::ListTables));
        assert_eq!("\\d posts".parse::<Meta>(), Ok(Meta::Describe("posts".into())));
        assert_eq!("\\q".parse::<Meta>(), Ok(Meta::Quit));
        assert!("\\x".parse::<Meta>().is_err());
    }
}
