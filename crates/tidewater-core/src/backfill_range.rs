//! The dates a backfill covers, checked once where the request comes in.

use chrono::NaiveDate;

use crate::DataInterval;

/// The local dates of a backfill (`--from D --to D`), `from` at or before `to`: a run is
/// made for every interval that starts on one of these dates, both ends included.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct BackfillRange {
    from: NaiveDate,
    to: NaiveDate,
    order: BackfillOrder,
}

/// The order in which a backfill's runs are created, and so admitted.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum BackfillOrder {
    OldestFirst,
    /// `--reverse`: the most recent data first, when it matters most.
    NewestFirst,
}

/// A backfill request that cannot be planned; the user's input is wrong.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum BackfillError {
    #[error("the backfill range is reversed: from {from} is after to {to}")]
    FromAfterTo { from: NaiveDate, to: NaiveDate },
}

/// The intervals a backfill must create runs for, in the order asked.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BackfillPlan {
    pub intervals: Vec<DataInterval>,
    /// The first interval of the range that has not ended yet, if any: it and those after it
    /// are left out, since their data is not complete.
    pub first_not_ended: Option<DataInterval>,
}

impl BackfillRange {
    pub fn new(
        from: NaiveDate,
        to: NaiveDate,
        order: BackfillOrder,
    ) -> Result<BackfillRange, BackfillError> {
        if from > to {
            return Err(BackfillError::FromAfterTo { from, to });
        }
        Ok(BackfillRange { from, to, order })
    }

    pub fn from(&self) -> NaiveDate {
        self.from
    }

    pub fn to(&self) -> NaiveDate {
        self.to
    }

    pub fn order(&self) -> BackfillOrder {
        self.order
    }
}
