//! JSON payloads to the stream's declared schema.

use chrono::{DateTime, NaiveDate};
use serde_json::Value;
use tidewater_flow::{StreamColumn, StreamValues};
use tidewater_spec::{FieldType, StreamField};

/// A message that does not fit the schema: kept whole, with why, for the dead-letter table.
#[derive(Debug, Clone, PartialEq)]
pub struct DeadLetter {
    pub sequence: u64,
    pub subject: String,
    pub payload: String,
    pub reason: String,
}

/// The decoded rows of a batch, column by column, and the messages that did not decode.
#[derive(Debug)]
pub struct DecodedBatch {
    pub columns: Vec<StreamColumn>,
    pub rows: usize,
    pub dead_letters: Vec<DeadLetter>,
}

/// Decodes JSON objects to the schema's fields: a missing or null required field, a value of
/// the wrong type, or a payload that is not a JSON object makes the message a dead letter.
/// Fields the schema does not declare are ignored.
#[derive(Debug, Clone)]
pub struct MessageDecoder {
    fields: Vec<StreamField>,
}

/// One decoded field value.
enum Cell {
    Null,
    Text(String),
    Float(f64),
    Long(i64),
    Int(i32),
    Flag(bool),
    Micros(i64),
    Days(i32),
}

impl MessageDecoder {
    pub fn new(fields: &[StreamField]) -> MessageDecoder {
        MessageDecoder {
            fields: fields.to_vec(),
        }
    }

    /// Empty columns of the schema's types: the shape the stream's SQL is checked against.
    pub fn empty_columns(&self) -> Vec<StreamColumn> {
        self.fields
            .iter()
            .map(|field| StreamColumn {
                name: field.name.clone(),
                values: empty_values(field.field_type),
            })
            .collect()
    }

    /// Decodes `(sequence, subject, payload)` messages, in the order given.
    pub fn decode<'m>(
        &self,
        messages: impl IntoIterator<Item = (u64, &'m str, &'m [u8])>,
    ) -> DecodedBatch {
        let mut columns = self.empty_columns();
        let mut rows = 0;
        let mut dead_letters = Vec::new();
        for (sequence, subject, payload) in messages {
            match self.decode_one(payload) {
                Ok(cells) => {
                    for (column, cell) in columns.iter_mut().zip(cells) {
                        push(&mut column.values, cell);
                    }
                    rows += 1;
                }
                Err(reason) => dead_letters.push(DeadLetter {
                    sequence,
                    subject: subject.to_owned(),
                    payload: String::from_utf8_lossy(payload).into_owned(),
                    reason,
                }),
            }
        }
        DecodedBatch {
            columns,
            rows,
            dead_letters,
        }
    }

    fn decode_one(&self, payload: &[u8]) -> Result<Vec<Cell>, String> {
        let text = std::str::from_utf8(payload)
            .map_err(|error| format!("the payload is not UTF-8: {error}"))?;
        let value: Value =
            serde_json::from_str(text).map_err(|error| format!("invalid JSON: {error}"))?;
        let Value::Object(object) = value else {
            return Err(format!(
                "expected a JSON object, found {}",
                describe(&value)
            ));
        };
        let mut cells = Vec::with_capacity(self.fields.len());
        for field in &self.fields {
            let cell = match object.get(&field.name) {
                None | Some(Value::Null) if field.is_required => {
                    return Err(format!("missing required field `{}`", field.name));
                }
                None | Some(Value::Null) => Cell::Null,
                Some(value) => cell(field, value)?,
            };
            cells.push(cell);
        }
        Ok(cells)
    }
}

fn cell(field: &StreamField, value: &Value) -> Result<Cell, String> {
    let wrong = || {
        format!(
            "field `{}` must be {}, found {}",
            field.name,
            expected(field.field_type),
            describe(value)
        )
    };
    Ok(match field.field_type {
        FieldType::String => Cell::Text(value.as_str().ok_or_else(wrong)?.to_owned()),
        FieldType::Double => Cell::Float(value.as_f64().ok_or_else(wrong)?),
        FieldType::Long => Cell::Long(value.as_i64().ok_or_else(wrong)?),
        FieldType::Int => Cell::Int(
            value
                .as_i64()
                .and_then(|number| i32::try_from(number).ok())
                .ok_or_else(wrong)?,
        ),
        FieldType::Boolean => Cell::Flag(value.as_bool().ok_or_else(wrong)?),
        FieldType::Timestamp => match value {
            Value::String(text) => Cell::Micros(
                DateTime::parse_from_rfc3339(text)
                    .map_err(|error| format!("{}: {error}", wrong()))?
                    .timestamp_micros(),
            ),
            Value::Number(number) => Cell::Micros(
                number
                    .as_i64()
                    .and_then(|millis| millis.checked_mul(1000))
                    .ok_or_else(wrong)?,
            ),
            _ => return Err(wrong()),
        },
        FieldType::Date => {
            let text = value.as_str().ok_or_else(wrong)?;
            let date = NaiveDate::parse_from_str(text, "%Y-%m-%d")
                .map_err(|error| format!("{}: {error}", wrong()))?;
            Cell::Days(
                date.signed_duration_since(NaiveDate::default())
                    .num_days()
                    .try_into()
                    .map_err(|_| wrong())?,
            )
        }
    })
}

fn expected(field_type: FieldType) -> &'static str {
    match field_type {
        FieldType::String => "a string",
        FieldType::Double => "a number",
        FieldType::Long => "a whole number",
        FieldType::Int => "a whole number within 32 bits",
        FieldType::Boolean => "true or false",
        FieldType::Timestamp => "an RFC 3339 time or milliseconds since the epoch",
        FieldType::Date => "a date `YYYY-MM-DD`",
    }
}

fn describe(value: &Value) -> String {
    match value {
        Value::Null => "null".to_owned(),
        Value::Bool(flag) => flag.to_string(),
        Value::Number(number) => number.to_string(),
        Value::String(text) if text.len() <= 40 => format!("\"{text}\""),
        Value::String(_) => "a long string".to_owned(),
        Value::Array(_) => "a list".to_owned(),
        Value::Object(_) => "an object".to_owned(),
    }
}

fn empty_values(field_type: FieldType) -> StreamValues {
    match field_type {
        FieldType::String => StreamValues::Utf8(Vec::new()),
        FieldType::Double => StreamValues::Float64(Vec::new()),
        FieldType::Long => StreamValues::Int64(Vec::new()),
        FieldType::Int => StreamValues::Int32(Vec::new()),
        FieldType::Boolean => StreamValues::Boolean(Vec::new()),
        FieldType::Timestamp => StreamValues::TimestampMicros(Vec::new()),
        FieldType::Date => StreamValues::Date32(Vec::new()),
    }
}

/// Appends a cell to its column. The decoder made each cell from the column's own field, so
/// a cell of another type cannot arrive; a null fits any column.
fn push(values: &mut StreamValues, cell: Cell) {
    match (values, cell) {
        (StreamValues::Utf8(values), Cell::Text(text)) => values.push(Some(text)),
        (StreamValues::Utf8(values), _) => values.push(None),
        (StreamValues::Float64(values), Cell::Float(number)) => values.push(Some(number)),
        (StreamValues::Float64(values), _) => values.push(None),
        (StreamValues::Int64(values), Cell::Long(number)) => values.push(Some(number)),
        (StreamValues::Int64(values), _) => values.push(None),
        (StreamValues::Int32(values), Cell::Int(number)) => values.push(Some(number)),
        (StreamValues::Int32(values), _) => values.push(None),
        (StreamValues::Boolean(values), Cell::Flag(flag)) => values.push(Some(flag)),
        (StreamValues::Boolean(values), _) => values.push(None),
        (StreamValues::TimestampMicros(values), Cell::Micros(micros)) => values.push(Some(micros)),
        (StreamValues::TimestampMicros(values), _) => values.push(None),
        (StreamValues::Date32(values), Cell::Days(days)) => values.push(Some(days)),
        (StreamValues::Date32(values), _) => values.push(None),
    }
}

/// The dead letters as the columns of the dead-letter table.
pub(crate) fn dead_letter_columns(
    stream: &str,
    dead_letters: &[DeadLetter],
    received_at: i64,
) -> Vec<StreamColumn> {
    let column = |name: &str, values| StreamColumn {
        name: name.to_owned(),
        values,
    };
    vec![
        column(
            "stream",
            StreamValues::Utf8(
                dead_letters
                    .iter()
                    .map(|_| Some(stream.to_owned()))
                    .collect(),
            ),
        ),
        column(
            "sequence",
            StreamValues::Int64(
                dead_letters
                    .iter()
                    .map(|letter| i64::try_from(letter.sequence).ok())
                    .collect(),
            ),
        ),
        column(
            "subject",
            StreamValues::Utf8(
                dead_letters
                    .iter()
                    .map(|letter| Some(letter.subject.clone()))
                    .collect(),
            ),
        ),
        column(
            "payload",
            StreamValues::Utf8(
                dead_letters
                    .iter()
                    .map(|letter| Some(letter.payload.clone()))
                    .collect(),
            ),
        ),
        column(
            "reason",
            StreamValues::Utf8(
                dead_letters
                    .iter()
                    .map(|letter| Some(letter.reason.clone()))
                    .collect(),
            ),
        ),
        column(
            "received_at",
            StreamValues::TimestampMicros(dead_letters.iter().map(|_| Some(received_at)).collect()),
        ),
    ]
}
