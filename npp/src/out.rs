//! Standard output for every command: a reader that goes away (`npp ops list | head -3`) ends
//! the command quietly with exit 0, as a closed pipe should, instead of a panic and exit 101.
//! Anything a command committed was committed before it printed, so nothing is lost.

use std::io::{ErrorKind, Write};

/// Writes `text` to standard output; exits quietly if the reader has closed the pipe.
pub fn write(text: std::fmt::Arguments<'_>) {
    let mut stdout = std::io::stdout().lock();
    match stdout.write_fmt(text) {
        Ok(()) => {}
        Err(e) if e.kind() == ErrorKind::BrokenPipe => std::process::exit(0),
        Err(e) => {
            eprintln!("npp: cannot write to standard output: {e}");
            std::process::exit(2);
        }
    }
}
