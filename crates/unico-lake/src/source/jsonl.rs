//! JSON Lines sources: one object per line, scalar values only.

use super::csv::LineGuard;
use super::{FieldError, Row, Source, Value, text::decode};
use crate::error::{Error, ErrorKind};
use crate::mapping::{Encoding, Mapping};
use std::borrow::Cow;
use std::collections::HashMap;
use std::fs::File;
use std::io::{BufRead, BufReader};
use std::path::Path;

/// A JSON Lines file.
pub struct JsonlSource {
    reader: BufReader<LineGuard<File>>,
    columns: Vec<String>,
    index: HashMap<String, usize>,
    encoding: Encoding,
    first_line: Option<Vec<u8>>,
    bytes_read: u64,
}

impl JsonlSource {
    /// Opens `path`; the column names are the keys of the first object.
    pub fn open(path: &Path, mapping: &Mapping) -> Result<Self, Error> {
        let file = File::open(path).map_err(|e| Error::io(format!("cannot open {}", path.display()), e))?;
        let mut reader = BufReader::with_capacity(1 << 20, LineGuard::new(file));
        let mut first = Vec::new();
        loop {
            first.clear();
            let n = reader.read_until(b'\n', &mut first).map_err(|e| super::csv::read_error(path.display(), e))?;
            if n == 0 {
                return Err(Error::new(ErrorKind::UnusableFile, format!("{} is empty", path.display())));
            }
            if !first.trim_ascii().is_empty() {
                break;
            }
        }
        let text = decode(first.trim_ascii(), mapping.encoding).map_err(|e| {
            Error::new(
                ErrorKind::UnusableFile,
                format!("{}: first line: {}; declare the file's encoding", path.display(), e.reason),
            )
        })?;
        let obj: serde_json::Map<String, serde_json::Value> = serde_json::from_str(&text).map_err(|e| {
            Error::new(ErrorKind::UnusableFile, format!("{}: the first line is not a JSON object: {e}", path.display()))
        })?;
        let columns: Vec<String> = obj.keys().cloned().collect();
        let index = columns.iter().enumerate().map(|(i, c)| (c.clone(), i)).collect();
        Ok(JsonlSource { reader, columns, index, encoding: mapping.encoding, first_line: Some(first), bytes_read: 0 })
    }
}

struct JsonRow<'a> {
    line: u64,
    offset: u64,
    raw: &'a str,
    values: Vec<Result<Value<'static>, FieldError>>,
    problem: Option<String>,
}

impl Row for JsonRow<'_> {
    fn line(&self) -> u64 {
        self.line
    }
    fn get(&self, index: usize) -> Result<Value<'_>, FieldError> {
        self.values.get(index).cloned().unwrap_or(Ok(Value::Null))
    }
    fn raw(&self) -> String {
        self.raw.to_string()
    }
    fn offset(&self) -> u64 {
        self.offset
    }
    fn problem(&self) -> Option<String> {
        self.problem.clone()
    }
}

/// A JSON object's members in order, refusing a key that appears twice (serde_json's map
/// would keep the last one unseen).
struct Object(Vec<(String, serde_json::Value)>);

impl<'de> serde::Deserialize<'de> for Object {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct Members;
        impl<'de> serde::de::Visitor<'de> for Members {
            type Value = Object;
            fn expecting(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                f.write_str("a JSON object")
            }
            fn visit_map<A: serde::de::MapAccess<'de>>(self, mut map: A) -> Result<Object, A::Error> {
                let mut out: Vec<(String, serde_json::Value)> = Vec::new();
                while let Some(key) = map.next_key::<String>()? {
                    if out.iter().any(|(k, _)| *k == key) {
                        return Err(serde::de::Error::custom(format!("the key {key:?} appears twice")));
                    }
                    out.push((key, map.next_value()?));
                }
                Ok(Object(out))
            }
        }
        d.deserialize_map(Members)
    }
}

fn scalar(v: serde_json::Value) -> Result<Value<'static>, FieldError> {
    use serde_json::Value as J;
    Ok(match v {
        J::Null => Value::Null,
        J::Bool(b) => Value::Bool(b),
        J::Number(n) => match n.as_i64() {
            Some(i) => Value::Int(i),
            None => Value::Float(n.as_f64().unwrap_or(f64::NAN)),
        },
        J::String(s) => Value::Text(Cow::Owned(s)),
        other => {
            return Err(FieldError { reason: "a nested JSON value, expected a scalar".into(), raw: other.to_string() });
        }
    })
}

impl Source for JsonlSource {
    fn columns(&self) -> &[String] {
        &self.columns
    }

    fn for_each(&mut self, f: &mut dyn FnMut(&dyn Row) -> Result<(), Error>) -> Result<(), Error> {
        let mut buf = self.first_line.take().unwrap_or_default();
        let mut line_no: u64 = 0;
        let mut pending = !buf.is_empty();
        loop {
            if !pending {
                buf.clear();
                let n = self
                    .reader
                    .read_until(b'\n', &mut buf)
                    .map_err(|e| super::csv::read_error("reading JSON Lines", e))?;
                if n == 0 {
                    return Ok(());
                }
                self.bytes_read += n as u64;
            }
            pending = false;
            line_no += 1;
            let bytes = buf.trim_ascii();
            if bytes.is_empty() {
                continue;
            }
            let lossy = String::from_utf8_lossy(bytes);
            let mut values: Vec<Result<Value<'static>, FieldError>> = vec![Ok(Value::Null); self.columns.len()];
            let mut problem = None;
            match decode(bytes, self.encoding) {
                Err(e) => problem = Some(e.reason),
                Ok(text) => match serde_json::from_str::<Object>(&text) {
                    Err(e) => problem = Some(format!("not a JSON object: {e}")),
                    Ok(Object(obj)) => {
                        for (k, v) in obj {
                            if let Some(&i) = self.index.get(&k) {
                                values[i] = scalar(v);
                            }
                        }
                    }
                },
            }
            f(&JsonRow { line: line_no, offset: self.bytes_read, raw: &lossy, values, problem })?;
        }
    }
}
