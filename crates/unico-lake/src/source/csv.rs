//! Delimited text sources, read as bytes and decoded field by field.

use super::{FieldError, Row, Source, Value, text::decode};
use crate::error::{Error, ErrorKind};
use crate::mapping::{Encoding, Mapping};
use std::fs::File;
use std::io::BufReader;
use std::path::Path;

/// A CSV file opened with a mapping's separators and encoding.
pub struct CsvSource {
    reader: csv::Reader<BufReader<File>>,
    columns: Vec<String>,
    encoding: Encoding,
    delimiter: u8,
    first: Option<csv::ByteRecord>,
}

impl CsvSource {
    /// Opens `path` and reads its header (or, without one, names columns by position).
    pub fn open(path: &Path, mapping: &Mapping) -> Result<Self, Error> {
        let file = File::open(path).map_err(|e| Error::io(format!("cannot open {}", path.display()), e))?;
        let mut reader = csv::ReaderBuilder::new()
            .delimiter(mapping.delimiter)
            .quote(mapping.quote)
            .has_headers(false)
            .flexible(true)
            .buffer_capacity(1 << 20)
            .from_reader(BufReader::with_capacity(1 << 20, file));
        let mut first = csv::ByteRecord::new();
        let got = reader
            .read_byte_record(&mut first)
            .map_err(|e| Error::new(ErrorKind::UnusableFile, format!("{}: {e}", path.display())))?;
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
            columns = names;
            pending = None;
        } else {
            columns = (1..=first.len()).map(|i| i.to_string()).collect();
            pending = Some(first);
        }
        Ok(CsvSource { reader, columns, encoding: mapping.encoding, delimiter: mapping.delimiter, first: pending })
    }
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
        if let Some(field) = self.text.zip(self.record.range(index)).and_then(|(t, r)| t.get(r)) {
            return Ok(Value::Text(std::borrow::Cow::Borrowed(field)));
        }
        match self.record.get(index) {
            None => Ok(Value::Null),
            Some(bytes) => decode(bytes, self.encoding).map(Value::Text),
        }
    }
    fn raw(&self) -> String {
        let fields: Vec<String> = self.record.iter().map(|f| String::from_utf8_lossy(f).into_owned()).collect();
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
                    let rec = &chunk[n];
                    if rec.len() == 1 && rec.get(0).is_some_and(|f| f.is_empty()) {
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
                    // A blank line reads as one empty field: nothing to import, nothing lost.
                    if record.len() == 1 && record.get(0).is_some_and(|f| f.is_empty()) {
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
