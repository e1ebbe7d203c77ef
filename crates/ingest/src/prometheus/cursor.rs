//! A byte cursor over one line of exposition text, and the errors it reports.
//!
//! Positions are byte offsets into the line; [`super::ParseError`] turns them into
//! 1-based columns.

/// A syntax error at a byte offset of the current line.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct LineError {
    pub pos: usize,
    pub reason: String,
}

impl LineError {
    #[cold]
    pub(crate) fn new(pos: usize, reason: impl Into<String>) -> Self {
        LineError {
            pos,
            reason: reason.into(),
        }
    }
}

pub(crate) type LineResult<T> = Result<T, LineError>;

pub(crate) struct Cursor<'a> {
    pub line: &'a str,
    pub pos: usize,
}

impl<'a> Cursor<'a> {
    pub fn new(line: &'a str) -> Self {
        Cursor { line, pos: 0 }
    }

    pub fn peek(&self) -> Option<u8> {
        self.line.as_bytes().get(self.pos).copied()
    }

    pub fn at_end(&self) -> bool {
        self.pos >= self.line.len()
    }

    /// Skips spaces and tabs; returns how many.
    pub fn skip_blanks(&mut self) -> usize {
        let start = self.pos;
        while matches!(self.peek(), Some(b' ' | b'\t')) {
            self.pos += 1;
        }
        self.pos - start
    }

    /// Consumes `b` or fails with `what` expected.
    pub fn expect(&mut self, b: u8, what: &str) -> LineResult<()> {
        if self.peek() == Some(b) {
            self.pos += 1;
            Ok(())
        } else {
            Err(self.unexpected(what))
        }
    }

    /// Consumes bytes while `pred` holds and returns them.
    pub fn take_while(&mut self, pred: impl Fn(u8) -> bool) -> &'a str {
        let start = self.pos;
        let bytes = self.line.as_bytes();
        while self.pos < bytes.len() && pred(bytes[self.pos]) {
            self.pos += 1;
        }
        &self.line[start..self.pos]
    }

    /// Consumes bytes of a class (a table from [`name_bytes`]) and returns them.
    pub fn take_class(&mut self, class: &[bool; 256]) -> &'a str {
        let start = self.pos;
        let rest = &self.line.as_bytes()[start..];
        let len = rest
            .iter()
            .position(|&b| !class[b as usize])
            .unwrap_or(rest.len());
        self.pos += len;
        &self.line[start..self.pos]
    }

    /// Consumes one blank-delimited token.
    pub fn token(&mut self) -> &'a str {
        self.take_while(|b| b != b' ' && b != b'\t')
    }

    /// The rest of the line from the cursor.
    pub fn rest(&self) -> &'a str {
        &self.line[self.pos..]
    }

    /// An error at the cursor saying what was expected and what was found.
    #[cold]
    pub fn unexpected(&self, what: &str) -> LineError {
        let found = match self.rest().chars().next() {
            None => "end of line".to_owned(),
            Some(c) => format!("{c:?}"),
        };
        LineError::new(self.pos, format!("expected {what}, found {found}"))
    }
}

/// Byte classes as lookup tables: scanning names is the parser's innermost loop, and a
/// table lookup per byte beats a chain of range comparisons.
const fn name_bytes(colon: bool) -> [bool; 256] {
    let mut t = [false; 256];
    let mut b = 0;
    while b < 256 {
        let c = b as u8;
        t[b] = c.is_ascii_alphanumeric() || c == b'_' || (colon && c == b':');
        b += 1;
    }
    t
}

pub(crate) static METRIC_NAME_BYTES: [bool; 256] = name_bytes(true);
pub(crate) static LABEL_NAME_BYTES: [bool; 256] = name_bytes(false);

/// Reads a metric name at the cursor, checking its syntax.
pub(crate) fn metric_name<'a>(c: &mut Cursor<'a>) -> LineResult<&'a str> {
    let start = c.pos;
    let name = c.take_class(&METRIC_NAME_BYTES);
    match name.as_bytes().first() {
        None => Err(c.unexpected("a metric name")),
        Some(b) if b.is_ascii_digit() => Err(LineError::new(
            start,
            format!("invalid metric name {name:?}: must not start with a digit"),
        )),
        Some(_) => Ok(name),
    }
}
