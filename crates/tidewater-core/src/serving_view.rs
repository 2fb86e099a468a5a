//! A serving view (`views/*.yaml`): one name over a batch table and a stream table that share
//! a partition column, read as the batch partition where it exists and the stream's rows
//! elsewhere (the lambda architecture, DESIGN.md §1.5).

use std::time::Duration;

use crate::TableName;

/// `serving.<name>`: for each value of `by`, the batch table's rows where the batch table has
/// that partition, and the stream table's rows elsewhere; never both.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ServingView {
    /// `serving.<name>`: the name queries use.
    pub name: TableName,
    /// The table the batch workflows write with `replace_partition`, one partition per
    /// closed interval.
    pub batch: TableName,
    /// The table a stream appends to.
    pub stream: TableName,
    /// The partition column both tables share (`dt`).
    pub by: String,
    /// Stream partitions older than this, and covered by the batch table, may be pruned.
    pub retention: Option<Duration>,
}

impl ServingView {
    /// The schema every view's name lives in, so that a view is never mistaken for a table
    /// that a task writes (`serving.orders` is the view `orders`).
    pub const SCHEMA: &'static str = "serving";
}
