//! RowDescription and DataRow bodies.

use std::fmt;

use bytes::Bytes;

use super::ProtocolError;
use super::reader::BodyReader;

/// Smallest encoding of one RowDescription field: an empty name (1) plus table OID (4),
/// attribute number (2), type OID (4), type size (2), type modifier (4) and format (2).
const MIN_COLUMN_LEN: usize = 19;
/// Smallest encoding of one DataRow value: its length field (a NULL).
const MIN_VALUE_LEN: usize = 4;

/// One column of a result set.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Column {
    /// The column name (or alias) as the server reports it.
    pub name: String,
    /// The OID of the column's data type (e.g. 20 for `int8`, 25 for `text`).
    pub type_oid: u32,
}

/// Parses a RowDescription body into its columns.
pub(crate) fn parse_row_description(mut reader: BodyReader) -> Result<Vec<Column>, ProtocolError> {
    let count = reader.count16(MIN_COLUMN_LEN)?;
    let mut columns = Vec::with_capacity(count);
    for _ in 0..count {
        let name = reader.cstr()?;
        let _table_oid = reader.u32()?;
        let _attribute_number = reader.i16()?;
        let type_oid = reader.u32()?;
        let _type_size = reader.i16()?;
        let _type_modifier = reader.i32()?;
        let _format = reader.i16()?;
        columns.push(Column { name, type_oid });
    }
    reader.finish()?;
    Ok(columns)
}

/// Where one value lies inside the row's buffer; `len < 0` is SQL NULL.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct ValueRange {
    start: u32,
    len: i32,
}

/// One row of a result set, in text format.
///
/// The values are not copied out of the received message: the row keeps a reference-counted
/// slice of the receive buffer and the position of each value in it.
#[derive(Clone)]
pub struct Row {
    data: Bytes,
    values: Vec<ValueRange>,
}

impl Row {
    /// Parses a DataRow body, keeping `body` and recording where each value lies.
    pub(crate) fn parse(body: Bytes) -> Result<Row, ProtocolError> {
        let data = body.clone();
        let mut reader = BodyReader::new(body, "DataRow");
        let count = reader.count16(MIN_VALUE_LEN)?;
        let mut values = Vec::with_capacity(count);
        for _ in 0..count {
            let len = reader.i32()?;
            // The body is at most MAX_MESSAGE_LEN long, so every offset fits in a u32.
            let start = u32::try_from(data.len() - reader.remaining())
                .map_err(|_| reader.malformed("row too long"))?;
            if len >= 0 {
                let len_usize = usize::try_from(len).map_err(|_| reader.malformed("bad length"))?;
                reader.skip(len_usize)?;
            } else if len != -1 {
                return Err(reader.malformed("negative value length"));
            }
            values.push(ValueRange { start, len });
        }
        reader.finish()?;
        Ok(Row { data, values })
    }

    /// Number of values (columns) in the row.
    pub fn len(&self) -> usize {
        self.values.len()
    }

    /// Whether the row has no values.
    pub fn is_empty(&self) -> bool {
        self.values.is_empty()
    }

    /// Whether value `index` is SQL NULL (false when `index` is out of range).
    pub fn is_null(&self, index: usize) -> bool {
        self.values.get(index).is_some_and(|range| range.len < 0)
    }

    /// The raw bytes of value `index`; `None` when it is NULL or `index` is out of range.
    pub fn get_bytes(&self, index: usize) -> Option<&[u8]> {
        let range = self.values.get(index)?;
        let len = usize::try_from(range.len).ok()?;
        let start = usize::try_from(range.start).ok()?;
        self.data.get(start..start.checked_add(len)?)
    }

    /// Value `index` as text; `None` when it is NULL, `index` is out of range, or the bytes are
    /// not UTF-8 (the connection asks for `client_encoding=UTF8`, so that happens only when the
    /// caller overrides it; use [`Row::get_bytes`] and [`Row::is_null`] to tell the cases apart).
    pub fn get(&self, index: usize) -> Option<&str> {
        std::str::from_utf8(self.get_bytes(index)?).ok()
    }
}

impl PartialEq for Row {
    fn eq(&self, other: &Self) -> bool {
        self.len() == other.len()
            && (0..self.len()).all(|i| {
                self.is_null(i) == other.is_null(i) && self.get_bytes(i) == other.get_bytes(i)
            })
    }
}

impl Eq for Row {}

impl fmt::Debug for Row {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let mut list = f.debug_list();
        for i in 0..self.len() {
            match self.get_bytes(i) {
                Some(bytes) => list.entry(&String::from_utf8_lossy(bytes)),
                None => list.entry(&format_args!("NULL")),
            };
        }
        list.finish()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn data_row_values_nulls_and_bytes() {
        let body = Bytes::from_static(b"\0\x03\0\0\0\x02ab\xff\xff\xff\xff\0\0\0\x02\xc3\x28");
        let row = Row::parse(body).unwrap();
        assert_eq!(row.len(), 3);
        assert_eq!(row.get(0), Some("ab"));
        assert!(!row.is_null(0));
        assert_eq!(row.get(1), None);
        assert!(row.is_null(1));
        assert_eq!(row.get_bytes(1), None);
        assert_eq!(row.get(2), None);
        assert_eq!(row.get_bytes(2), Some(&b"\xc3\x28"[..]));
        assert_eq!(row.get(3), None);
        assert!(!row.is_null(3));
        assert_eq!(format!("{row:?}"), "[\"ab\", NULL, \"\u{fffd}(\"]");
    }

    #[test]
    fn values_borrow_the_message_buffer() {
        let body = Bytes::from_static(b"\0\x01\0\0\0\x05hello");
        let range = body.as_ptr_range();
        let row = Row::parse(body.clone()).unwrap();
        let value = row.get_bytes(0).unwrap();
        assert_eq!(value, b"hello");
        assert!(range.contains(&value.as_ptr()), "the value was copied");
    }

    #[test]
    fn empty_value_is_not_null() {
        let row = Row::parse(Bytes::from_static(b"\0\x01\0\0\0\0")).unwrap();
        assert_eq!(row.get(0), Some(""));
        assert!(!row.is_null(0));
    }

    #[test]
    fn lying_lengths_are_malformed() {
        for body in [
            &b"\0\x02\0\0\0\x01a"[..],
            b"\0\x01\0\0\0\x05ab",
            b"\0\x01\xff\xff\xff\xfe",
            b"\x7f\xff",
            b"\0\x01\0\0\0\x01ab",
            b"\0",
        ] {
            assert!(
                Row::parse(Bytes::copy_from_slice(body)).is_err(),
                "{body:?}"
            );
        }
    }

    #[test]
    fn row_description_columns() {
        let mut body = b"\0\x02".to_vec();
        for (name, oid) in [(&b"a"[..], 23u32), (b"bb", 25)] {
            body.extend_from_slice(name);
            body.push(0);
            body.extend_from_slice(&[0, 0, 0, 0, 0, 0]);
            body.extend_from_slice(&oid.to_be_bytes());
            body.extend_from_slice(&[0, 4, 0xff, 0xff, 0xff, 0xff, 0, 0]);
        }
        let columns =
            parse_row_description(BodyReader::new(Bytes::from(body), "RowDescription")).unwrap();
        assert_eq!(
            columns,
            [
                Column {
                    name: "a".into(),
                    type_oid: 23
                },
                Column {
                    name: "bb".into(),
                    type_oid: 25
                }
            ]
        );
    }
}
