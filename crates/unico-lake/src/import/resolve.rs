//! Finding each canonical column in the source's columns.

use crate::error::{Error, ErrorKind};
use crate::mapping::{ColumnRef, Dataset, Mapping};

/// For each canonical column of the dataset (in [`Dataset::columns`] order), its index in
/// the source, if present. A required column that cannot be found makes the file unusable.
pub fn resolve(dataset: Dataset, mapping: &Mapping, source_columns: &[String]) -> Result<Vec<Option<usize>>, Error> {
    let find = |name: &str| {
        source_columns
            .iter()
            .position(|c| c == name)
            .or_else(|| source_columns.iter().position(|c| c.eq_ignore_ascii_case(name)))
    };
    let mut out = Vec::new();
    for &(canon, required) in dataset.columns() {
        let found = match mapping.columns.get(canon) {
            Some(ColumnRef::Name(name)) => match find(name) {
                Some(i) => Some(i),
                None => {
                    return Err(Error::new(
                        ErrorKind::UnusableFile,
                        format!(
                            "the mapping reads {canon} from column {name:?}, which the file does not have (its columns: {})",
                            source_columns.join(", ")
                        ),
                    ));
                }
            },
            Some(ColumnRef::Position(p)) => {
                if *p > source_columns.len() {
                    return Err(Error::new(
                        ErrorKind::UnusableFile,
                        format!(
                            "the mapping reads {canon} from column {p}, but the file has {} columns",
                            source_columns.len()
                        ),
                    ));
                }
                Some(p - 1)
            }
            None => find(canon),
        };
        if required && found.is_none() {
            return Err(Error::new(
                ErrorKind::UnusableFile,
                format!(
                    "required column {canon} is missing: the file has no column {canon:?} and the mapping does not say where to find it (its columns: {})",
                    source_columns.join(", ")
                ),
            ));
        }
        out.push(found);
    }
    Ok(out)
}
