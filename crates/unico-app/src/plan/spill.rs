//! Records kept in an unnamed temporary file and read back one by one: what a plan holds
//! for every customer beyond a few fields (their candidates with their reasons, category
//! and spend outlooks) is most of its memory otherwise — about 1.7 KB a customer, 3 GB for
//! 1.83 million (decision 0032).
//!
//! Records are encoded with `postcard` (serde's compact binary format) and written in the
//! order they come; each is found again by its number (an end offset per record, 8 bytes in
//! memory) and read with a positioned read, so threads read at once without a lock. The
//! file has no name: it goes when the value is dropped, or when the process ends.

use serde::Serialize;
use serde::de::DeserializeOwned;
use std::fs::File;
use std::io::{self, BufWriter, Write};
use std::marker::PhantomData;
use std::path::Path;

/// Records being written.
pub struct SpillWriter<T> {
    out: BufWriter<File>,
    ends: Vec<u64>,
    at: u64,
    buf: Vec<u8>,
    kind: PhantomData<fn(&T)>,
}

/// Records written, to be read back by number.
pub struct Spill<T> {
    file: File,
    ends: Vec<u64>,
    kind: PhantomData<fn() -> T>,
}

impl<T: Serialize + DeserializeOwned> SpillWriter<T> {
    /// A new temporary file in `dir`.
    pub fn new(dir: &Path) -> io::Result<Self> {
        let file = tempfile::tempfile_in(dir)?;
        Ok(SpillWriter {
            out: BufWriter::with_capacity(1 << 20, file),
            ends: Vec::new(),
            at: 0,
            buf: Vec::new(),
            kind: PhantomData,
        })
    }

    /// Appends a record; returns its number.
    pub fn push(&mut self, record: &T) -> io::Result<u32> {
        let mut buf = std::mem::take(&mut self.buf);
        buf.clear();
        let buf = postcard::to_extend(record, buf).map_err(io::Error::other)?;
        self.out.write_all(&buf)?;
        self.at += buf.len() as u64;
        self.buf = buf;
        let n = u32::try_from(self.ends.len()).map_err(|_| io::Error::other("more than 2^32 records"))?;
        self.ends.push(self.at);
        Ok(n)
    }

    /// Done writing: the records, to be read.
    pub fn finish(self) -> io::Result<Spill<T>> {
        let file = self.out.into_inner().map_err(|e| e.into_error())?;
        Ok(Spill { file, ends: self.ends, kind: PhantomData })
    }
}

impl<T: DeserializeOwned> Spill<T> {
    /// Record `n`, read into `buf` (kept between calls) and decoded.
    pub fn get_with(&self, n: u32, buf: &mut Vec<u8>) -> io::Result<T> {
        let n = n as usize;
        let Some(&end) = self.ends.get(n) else {
            return Err(io::Error::new(io::ErrorKind::InvalidInput, format!("no record {n} of {}", self.ends.len())));
        };
        let start = if n == 0 { 0 } else { self.ends[n - 1] };
        buf.resize((end - start) as usize, 0);
        read_at(&self.file, buf, start)?;
        postcard::from_bytes(buf).map_err(|e| io::Error::new(io::ErrorKind::InvalidData, e))
    }
}

#[cfg(unix)]
fn read_at(file: &File, buf: &mut [u8], at: u64) -> io::Result<()> {
    std::os::unix::fs::FileExt::read_exact_at(file, buf, at)
}

#[cfg(windows)]
fn read_at(file: &File, mut buf: &mut [u8], mut at: u64) -> io::Result<()> {
    use std::os::windows::fs::FileExt;
    while !buf.is_empty() {
        match file.seek_read(buf, at)? {
            0 => return Err(io::ErrorKind::UnexpectedEof.into()),
            n => {
                buf = &mut buf[n..];
                at += n as u64;
            }
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn records_come_back_as_written_in_any_order_and_from_threads() {
        let dir = tempfile::tempdir().unwrap();
        let mut w = SpillWriter::<(String, Vec<f64>)>::new(dir.path()).unwrap();
        let records: Vec<(String, Vec<f64>)> =
            (0..5_000).map(|i| (format!("customer {i}"), (0..i % 23).map(|k| k as f64 / 7.0).collect())).collect();
        for (i, r) in records.iter().enumerate() {
            assert_eq!(w.push(r).unwrap(), i as u32);
        }
        let spill = w.finish().unwrap();
        // Nothing in the directory: the file has no name and goes with the value.
        assert_eq!(std::fs::read_dir(dir.path()).unwrap().count(), 0);
        let mut buf = Vec::new();
        for i in (0..records.len()).rev().step_by(7) {
            assert_eq!(spill.get_with(i as u32, &mut buf).unwrap(), records[i]);
        }
        std::thread::scope(|s| {
            for t in 0..2 {
                let (spill, records) = (&spill, &records);
                s.spawn(move || {
                    for i in (t..records.len()).step_by(2) {
                        assert_eq!(spill.get_with(i as u32, &mut Vec::new()).unwrap(), records[i]);
                    }
                });
            }
        });
        let err = spill.get_with(records.len() as u32, &mut buf).unwrap_err();
        assert_eq!(err.kind(), io::ErrorKind::InvalidInput);
    }
}
