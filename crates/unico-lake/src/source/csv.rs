//! Delimited text sources, read as bytes and decoded field by field.

use super::{FieldError, Row, Source, Value, text::decode};
use crate::error::{Error, ErrorKind};
use crate::mapping::{Encoding, Mapping};
use std::fs::File;
use std::io::BufReader;
use std::path::Path;

/// A CSV file opened with a mapping's separators and encoding.
pub struct CsvSource {
    reader: csv::Reader<BufReader<LineGuard<File>>>,
    columns: Vec<String>,
    encoding: Encoding,
    delimiter: u8,
    first: Option<csv::ByteRecord>,
    /// The file's size, and whether its last byte is not a line end: where the last
    /// record ends without one.
    len: u64,
    open_end: bool,
}

impl CsvSource {
    /// Opens `path` and reads its header (or, without one, names columns by position).
    pub fn open(path: &Path, mapping: &Mapping) -> Result<Self, Error> {
        let mut file = File::open(path).map_err(|e| Error::io(format!("cannot open {}", path.display()), e))?;
        // Records end at '\n' (a CRLF record's '\r' is taken off its last field): the csv
        // crate's CRLF terminator counts the '\n' of a "\r\n" in the next record, which put
        // every rejected row of a Windows export one line too early. A file whose lines end
        // in '\r' alone (old Mac exports) ends its records there.
        let (terminator, len, open_end) =
            line_end(&mut file).map_err(|e| Error::io(format!("cannot read {}", path.display()), e))?;
        let mut reader = csv::ReaderBuilder::new()
            .delimiter(mapping.delimiter)
            .quote(mapping.quote)
            .terminator(csv::Terminator::Any(terminator))
            .has_headers(false)
            .flexible(true)
            .buffer_capacity(1 << 20)
            .from_reader(BufReader::with_capacity(1 << 20, LineGuard::new(file)));
        let mut first = csv::ByteRecord::new();
        let got = reader.read_byte_record(&mut first).map_err(|e| unreadable(&e, path))?;
        fix_line(&reader, &mut first, len, open_end)
            .map_err(|e| Error::new(ErrorKind::UnusableFile, format!("{}: {}", path.display(), e.message())))?;
        if !got {
            return Err(Error::new(ErrorKind::UnusableFile, format!("{} is empty", path.display())));
        }
        let columns;
        let pending;
        if mapping.header {
            let mut names = Vec::with_capacity(first.len());
            for (i, field) in first.iter().enumerate() {
                let field = if i == 0 { field.strip_prefix(b"\xEF\xBB\xBF").unwrap_or(field) } else { field };
                let name = decode(field, mapping.encoding).map_err(|e| {
                    Error::new(
                        ErrorKind::UnusableFile,
                        format!(
                            "{}: the header cannot be read as {:?}: {}; declare the file's encoding in the mapping",
                            path.display(),
                            mapping.encoding,
                            e.reason
                        ),
                    )
                })?;
                names.push(name.trim().to_string());
            }
            for (i, name) in names.iter().enumerate() {
                if let Some(j) = names[..i].iter().position(|n| n == name && !n.is_empty()) {
                    return Err(Error::new(
                        ErrorKind::UnusableFile,
                        format!(
                            "{}: the header names column {name:?} twice (columns {} and {}): which one holds the data is unclear",
                            path.display(),
                            j + 1,
                            i + 1
                        ),
                    ));
                }
            }
            columns = names;
            pending = None;
        } else {
            columns = (1..=first.len()).map(|i| i.to_string()).collect();
            pending = Some(first);
        }
        Ok(CsvSource {
            reader,
            columns,
            encoding: mapping.encoding,
            delimiter: mapping.delimiter,
            first: pending,
            len,
            open_end,
        })
    }
}

/// The byte records end with ('\n', unless the file's first 64 KiB hold a '\r' and no
/// '\n'), the file's size and whether its last byte is not a line end. Leaves the file at
/// its start.
fn line_end(file: &mut File) -> std::io::Result<(u8, u64, bool)> {
    use std::io::{Read, Seek, SeekFrom};
    let len = file.metadata()?.len();
    let mut last = [0u8; 1];
    let open_end = len > 0 && {
        file.seek(SeekFrom::End(-1))?;
        file.read_exact(&mut last)?;
        last[0] != b'\n' && last[0] != b'\r'
    };
    file.seek(SeekFrom::Start(0))?;
    let mut head = Vec::with_capacity(1 << 16);
    file.by_ref().take(1 << 16).read_to_end(&mut head)?;
    file.seek(SeekFrom::Start(0))?;
    let terminator = if head.contains(&b'\r') && !head.contains(&b'\n') { b'\r' } else { b'\n' };
    Ok((terminator, len, open_end))
}

/// Sets a record's line to the physical line it starts on. The csv crate gives the line
/// where its read began, before the blank lines it skips; the reader's position after the
/// record is exact, so the start is that end line less the line ends inside quoted fields.
///
/// A record longer than [`MAX_RECORD_BYTES`] or spanning more than [`MAX_RECORD_LINES`]
/// lines is refused: it is a quote never closed, swallowing the rest of the file.
fn fix_line<R: std::io::Read>(
    reader: &csv::Reader<R>,
    record: &mut csv::ByteRecord,
    len: u64,
    open_end: bool,
) -> Result<(), Error> {
    let after = reader.position();
    // A record ends with a line end consumed, unless it ran to the end of a file whose
    // last byte is no line end, or whose last line end is inside an unclosed quote.
    let at_end = after.byte() >= len;
    let ended_by_line_end = !(at_end && (open_end || record.as_slice().ends_with(b"\n")));
    let end_line = after.line().saturating_sub(u64::from(ended_by_line_end && after.line() > 1));
    let inner = bytecount_newlines(record.as_slice());
    let start = end_line.saturating_sub(inner).max(1);
    let mut pos = record.position().cloned().unwrap_or_else(csv::Position::new);
    pos.set_line(start);
    record.set_position(Some(pos));
    if inner >= MAX_RECORD_LINES || record.as_slice().len() > MAX_RECORD_BYTES {
        return Err(Error::new(
            ErrorKind::UnusableFile,
            format!(
                "the record starting on line {start} runs over {} lines and {} bytes: a quote opened there is never closed (or the mapping's quote character is wrong); nothing was imported",
                inner + 1,
                record.as_slice().len()
            ),
        ));
    }
    Ok(())
}

/// The most lines one record may span (a quoted field with line breaks).
pub const MAX_RECORD_LINES: u64 = 100;
/// The most bytes one record may hold.
pub const MAX_RECORD_BYTES: usize = 1 << 20;
/// The most bytes a line may hold: a file without line ends is refused, not read whole.
pub const MAX_LINE_BYTES: u64 = 16 << 20;

/// A reader that refuses a line longer than [`MAX_LINE_BYTES`] (a binary file, or text
/// without line ends), so a record never grows without bound.
pub struct LineGuard<R> {
    inner: R,
    since_line_end: u64,
}

impl<R> LineGuard<R> {
    /// Guards `inner`.
    pub fn new(inner: R) -> Self {
        LineGuard { inner, since_line_end: 0 }
    }
}

impl<R: std::io::Read> std::io::Read for LineGuard<R> {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        let n = self.inner.read(buf)?;
        match buf[..n].iter().rposition(|b| *b == b'\n' || *b == b'\r') {
            Some(i) => self.since_line_end = (n - i - 1) as u64,
            None => self.since_line_end += n as u64,
        }
        if self.since_line_end > MAX_LINE_BYTES {
            return Err(std::io::Error::new(std::io::ErrorKind::InvalidData, LineTooLong));
        }
        Ok(n)
    }
}

/// The error a [`LineGuard`] stops with.
#[derive(Debug)]
struct LineTooLong;

impl std::fmt::Display for LineTooLong {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "a line runs over {} MiB without a line end: this is not a text file of records",
            MAX_LINE_BYTES >> 20
        )
    }
}

impl std::error::Error for LineTooLong {}

/// A read error: a line too long refuses the file, anything else is an I/O error.
pub(crate) fn read_error(context: impl std::fmt::Display, e: std::io::Error) -> Error {
    if e.kind() == std::io::ErrorKind::InvalidData {
        Error::new(ErrorKind::UnusableFile, format!("{context}: {e}")).caused_by(e)
    } else {
        Error::io(context, e)
    }
}

/// A read error of the csv reader as the import reports it.
fn unreadable(e: &csv::Error, path: &Path) -> Error {
    let line = e.position().map(|p| format!(" (line {})", p.line())).unwrap_or_default();
    Error::new(ErrorKind::UnusableFile, format!("{}: cannot read the file further{line}: {e}", path.display()))
}

fn bytecount_newlines(bytes: &[u8]) -> u64 {
    if !bytes.contains(&b'\n') {
        return 0;
    }
    bytes.iter().filter(|b| **b == b'\n').count() as u64
}

/// Whether a record is a blank line (one empty field, or a lone '\r' of a CRLF file).
fn blank(record: &csv::ByteRecord) -> bool {
    record.len() == 1 && record.get(0).is_some_and(|f| f.is_empty() || f == b"\r")
}

/// Field `index` of a record, without the '\r' a CRLF line end leaves on the last field.
fn field(record: &csv::ByteRecord, index: usize) -> Option<&[u8]> {
    let f = record.get(index)?;
    Some(if index + 1 == record.len() { f.strip_suffix(b"\r").unwrap_or(f) } else { f })
}

/// A view of one CSV record as a [`Row`].
pub struct CsvRow<'a> {
    record: &'a csv::ByteRecord,
    /// The record's field bytes as text when the file is UTF-8 and all of them are valid:
    /// one validation per record instead of one per field.
    text: Option<&'a str>,
    expected: usize,
    encoding: Encoding,
    delimiter: u8,
}

/// What a worker needs to view records of this file as rows.
#[derive(Debug, Clone, Copy)]
pub struct CsvShape {
    expected: usize,
    encoding: Encoding,
    delimiter: u8,
}

impl CsvShape {
    /// A row view of `record`.
    pub fn row<'a>(&self, record: &'a csv::ByteRecord) -> CsvRow<'a> {
        let text = match self.encoding {
            Encoding::Utf8 => std::str::from_utf8(record.as_slice()).ok(),
            _ => None,
        };
        CsvRow { record, text, expected: self.expected, encoding: self.encoding, delimiter: self.delimiter }
    }
}

impl Row for CsvRow<'_> {
    fn line(&self) -> u64 {
        self.record.position().map_or(0, |p| p.line())
    }
    fn get(&self, index: usize) -> Result<Value<'_>, FieldError> {
        // `str::get` refuses a range that is not on character boundaries, so a field is
        // taken from the validated text only when it is valid UTF-8 on its own.
        if let Some(text) = self.text.zip(self.record.range(index)).and_then(|(t, r)| t.get(r)) {
            let text = if index + 1 == self.record.len() { text.strip_suffix('\r').unwrap_or(text) } else { text };
            return Ok(Value::Text(std::borrow::Cow::Borrowed(text)));
        }
        match field(self.record, index) {
            None => Ok(Value::Null),
            Some(bytes) => decode(bytes, self.encoding).map(Value::Text),
        }
    }
    /// The record as it stood in the file, decoded with the file's encoding (so a rejected
    /// row can be fixed and imported again); bytes the encoding cannot read are replaced.
    fn raw(&self) -> String {
        let fields: Vec<String> = (0..self.record.len())
            .map(|i| {
                let bytes = field(self.record, i).unwrap_or_default();
                match decode(bytes, self.encoding) {
                    Ok(text) => text.into_owned(),
                    Err(_) => String::from_utf8_lossy(bytes).into_owned(),
                }
            })
            .collect();
        fields.join(&(self.delimiter as char).to_string())
    }
    fn offset(&self) -> u64 {
        self.record.position().map_or(0, |p| p.byte())
    }
    fn problem(&self) -> Option<String> {
        (self.record.len() != self.expected)
            .then(|| format!("expected {} fields, found {}", self.expected, self.record.len()))
    }
}

impl CsvSource {
    /// How records of this file are viewed as rows.
    pub fn shape(&self) -> CsvShape {
        CsvShape { expected: self.columns.len(), encoding: self.encoding, delimiter: self.delimiter }
    }

    /// Fills `chunk` with about `max` records, reusing its buffers. When `keep_together`
    /// names a column, consecutive records with the same value there stay in one chunk.
    /// Returns false once the file is exhausted (the chunk may still hold its last records).
    pub fn read_chunk(
        &mut self,
        chunk: &mut Vec<csv::ByteRecord>,
        max: usize,
        keep_together: Option<usize>,
    ) -> Result<bool, Error> {
        let mut n = 0;
        if let Some(first) = self.first.take() {
            put(chunk, n, &first);
            n += 1;
        }
        loop {
            if n == chunk.len() {
                chunk.push(csv::ByteRecord::new());
            }
            match self.reader.read_byte_record(&mut chunk[n]) {
                Ok(true) => {
                    fix_line(&self.reader, &mut chunk[n], self.len, self.open_end)?;
                    if blank(&chunk[n]) {
                        continue;
                    }
                    n += 1;
                    if n > max {
                        let same_group = keep_together.is_some_and(|c| chunk[n - 1].get(c) == chunk[n - 2].get(c));
                        if !same_group {
                            // The last record starts a new group: it opens the next chunk.
                            self.first = Some(chunk[n - 1].clone());
                            chunk.truncate(n - 1);
                            return Ok(true);
                        }
                    }
                }
                Ok(false) => {
                    chunk.truncate(n);
                    return Ok(false);
                }
                Err(e) => {
                    return Err(Error::new(ErrorKind::UnusableFile, format!("cannot read the file further: {e}")));
                }
            }
        }
    }
}

fn put(chunk: &mut Vec<csv::ByteRecord>, n: usize, rec: &csv::ByteRecord) {
    if n == chunk.len() {
        chunk.push(rec.clone());
    } else {
        chunk[n].clone_from(rec);
    }
}

impl Source for CsvSource {
    fn columns(&self) -> &[String] {
        &self.columns
    }

    fn for_each(&mut self, f: &mut dyn FnMut(&dyn Row) -> Result<(), Error>) -> Result<(), Error> {
        let expected = self.columns.len();
        let (encoding, delimiter) = (self.encoding, self.delimiter);
        if let Some(first) = self.first.take() {
            f(&self.shape().row(&first))?;
        }
        let mut record = csv::ByteRecord::new();
        loop {
            match self.reader.read_byte_record(&mut record) {
                Ok(true) => {
                    fix_line(&self.reader, &mut record, self.len, self.open_end)?;
                    // A blank line reads as one empty field: nothing to import, nothing lost.
                    if blank(&record) {
                        continue;
                    }
                    f(&CsvShape { expected, encoding, delimiter }.row(&record))?;
                }
                Ok(false) => return Ok(()),
                Err(e) => {
                    return Err(Error::new(ErrorKind::UnusableFile, format!("cannot read the file further: {e}")));
                }
            }
        }
    }
}
