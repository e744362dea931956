//! Asking for a password on the terminal without echoing it.
//!
//! The prompt goes to standard error and the answer is read from standard input, which must be
//! a terminal (otherwise [`PromptError::NoTerminal`]: pass the password another way). While the
//! answer is typed, echo is off and the signals that would stop the process are held back, so
//! the terminal is always put back the way it was; a Ctrl-C takes effect once the line ends.

use std::io::{self, BufRead, Read, Write};

use nix::sys::signal::{SigSet, SigmaskHow, Signal};
use nix::sys::termios::{self, LocalFlags, SetArg, Termios};
use pgexporter_core::secret::Secret;
use pgexporter_core::vault::password::MAX_PASSWORD_LEN;

/// Why no password was read. Never contains what was typed.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum PromptError {
    /// Standard input is not a terminal, so nobody can be asked.
    #[error("standard input is not a terminal; {0}")]
    NoTerminal(&'static str),
    /// The terminal could not be read or configured.
    #[error("terminal: {0}")]
    Io(#[from] io::Error),
    /// The line was longer than any accepted password.
    #[error("the input is over the limit of {MAX_PASSWORD_LEN} bytes")]
    TooLong,
    /// The two entries of a new password differ.
    #[error("the passwords do not match")]
    Mismatch,
    /// Input ended before a line was typed.
    #[error("no input")]
    Eof,
}

/// Asks for a password once, without echo. `hint` says how to avoid the prompt; it becomes part
/// of the [`PromptError::NoTerminal`] message.
pub fn read_password(prompt: &str, hint: &'static str) -> Result<Secret, PromptError> {
    require_terminal(hint)?;
    let _signals = HeldSignals::hold()?;
    let _echo_off = EchoOff::start()?;
    eprint!("{prompt}");
    io::stderr().flush()?;
    read_line().map(Secret::from)
}

/// Asks for a new password twice, without echo, and returns it when both entries match.
pub fn read_new_password(prompt: &str, hint: &'static str) -> Result<Secret, PromptError> {
    let first = read_password(prompt, hint)?;
    let second = read_password("Verify: ", hint)?;
    if first == second {
        Ok(first)
    } else {
        Err(PromptError::Mismatch)
    }
}

/// Asks for a line of text that is not secret (a user name), with echo.
pub fn read_text(prompt: &str, hint: &'static str) -> Result<String, PromptError> {
    require_terminal(hint)?;
    eprint!("{prompt}");
    io::stderr().flush()?;
    read_line()
}

/// Fails with `hint` when standard input is not a terminal.
fn require_terminal(hint: &'static str) -> Result<(), PromptError> {
    match nix::unistd::isatty(io::stdin()) {
        Ok(true) => Ok(()),
        _ => Err(PromptError::NoTerminal(hint)),
    }
}

/// Reads one line from standard input, without its line end, refusing overlong input.
fn read_line() -> Result<String, PromptError> {
    // Sized up front so that typing a password never leaves a reallocated copy behind.
    let mut line = String::with_capacity(MAX_PASSWORD_LEN + 2);
    let limit = u64::try_from(MAX_PASSWORD_LEN + 2).unwrap_or(u64::MAX);
    let read = io::stdin().lock().take(limit).read_line(&mut line);
    let line = Secret::from(line);
    match read? {
        0 => return Err(PromptError::Eof),
        _ if !line.expose().ends_with(b"\n") => return Err(PromptError::TooLong),
        _ => {}
    }
    let text = line.expose_str().unwrap_or_default();
    let text = text.strip_suffix('\n').unwrap_or(text);
    Ok(text.strip_suffix('\r').unwrap_or(text).to_owned())
}

/// Terminal echo turned off until drop, which restores the previous settings.
struct EchoOff {
    saved: Termios,
}

impl EchoOff {
    fn start() -> Result<Self, PromptError> {
        let saved = termios::tcgetattr(io::stdin()).map_err(io::Error::from)?;
        let mut quiet = saved.clone();
        quiet.local_flags.remove(LocalFlags::ECHO);
        // The newline that ends the line is still echoed, so the next output starts on its own line.
        quiet.local_flags.insert(LocalFlags::ECHONL);
        termios::tcsetattr(io::stdin(), SetArg::TCSAFLUSH, &quiet).map_err(io::Error::from)?;
        Ok(EchoOff { saved })
    }
}

impl Drop for EchoOff {
    fn drop(&mut self) {
        // Nothing better to do if the terminal went away in the meantime.
        let _ = termios::tcsetattr(io::stdin(), SetArg::TCSANOW, &self.saved);
    }
}

/// Signals that end or stop the process, blocked until drop so that they cannot strike while
/// echo is off; pending ones are delivered when the previous mask comes back.
struct HeldSignals {
    previous: SigSet,
}

impl HeldSignals {
    fn hold() -> Result<Self, PromptError> {
        let mut set = SigSet::empty();
        for signal in [
            Signal::SIGINT,
            Signal::SIGTERM,
            Signal::SIGQUIT,
            Signal::SIGHUP,
            Signal::SIGTSTP,
        ] {
            set.add(signal);
        }
        let previous = set
            .thread_swap_mask(SigmaskHow::SIG_BLOCK)
            .map_err(io::Error::from)?;
        Ok(HeldSignals { previous })
    }
}

impl Drop for HeldSignals {
    fn drop(&mut self) {
        let _ = self.previous.thread_set_mask();
    }
}
