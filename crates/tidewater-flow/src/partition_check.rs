use std::hash::{Hash, Hasher};
use std::sync::{Arc, Mutex, PoisonError};

use datafusion::arrow::array::Scalar;
use datafusion::arrow::compute::kernels::cmp::distinct;
use datafusion::arrow::datatypes::DataType;
use datafusion::common::{ScalarValue, exec_err};
use datafusion::logical_expr::{
    ColumnarValue, Expr, ScalarFunctionArgs, ScalarUDF, ScalarUDFImpl, Signature, Volatility,
};

use crate::flow_error::FlowError;

/// Passes a partition column through unchanged and fails the query at the first row whose
/// value is not the declared partition value.
///
/// The check runs inside the write's own plan, so the query is executed once and streamed,
/// never collected to be checked first. The failing row is recorded in a
/// [`PartitionMismatchSlot`] because the error reaches the caller wrapped by deltalake, and a
/// typed `PartitionMismatch` should not depend on parsing that message.
#[derive(Debug)]
pub(crate) struct PartitionCheck {
    column: String,
    expected: ScalarValue,
    slot: PartitionMismatchSlot,
    signature: Signature,
}

/// Where a [`PartitionCheck`] leaves the first mismatch it saw.
#[derive(Debug, Clone, Default)]
pub(crate) struct PartitionMismatchSlot(Arc<Mutex<Option<FlowError>>>);

impl PartitionMismatchSlot {
    pub(crate) fn take(&self) -> Option<FlowError> {
        self.0.lock().unwrap_or_else(PoisonError::into_inner).take()
    }

    fn record(&self, mismatch: FlowError) {
        let mut slot = self.0.lock().unwrap_or_else(PoisonError::into_inner);
        // Partitions of the plan run in parallel; the first report wins.
        slot.get_or_insert(mismatch);
    }
}

impl PartitionCheck {
    pub(crate) fn call(
        column: &str,
        expected: ScalarValue,
        slot: &PartitionMismatchSlot,
        argument: Expr,
    ) -> Expr {
        let check = PartitionCheck {
            column: column.to_owned(),
            expected,
            slot: slot.clone(),
            // Volatile: the optimizer must neither fold nor drop the check.
            signature: Signature::any(1, Volatility::Volatile),
        };
        ScalarUDF::new_from_impl(check).call(vec![argument])
    }

    fn mismatch(&self, found: &ScalarValue) -> datafusion::error::Result<ColumnarValue> {
        let found = if found.is_null() {
            "NULL".to_owned()
        } else {
            found.to_string()
        };
        self.slot.record(FlowError::PartitionMismatch {
            column: self.column.clone(),
            expected: self.expected.to_string(),
            found: found.clone(),
        });
        exec_err!(
            "partition column {} has the value {found}, expected {}",
            self.column,
            self.expected
        )
    }
}

impl ScalarUDFImpl for PartitionCheck {
    fn name(&self) -> &str {
        "tidewater_partition_check"
    }

    fn signature(&self) -> &Signature {
        &self.signature
    }

    fn return_type(&self, argument_types: &[DataType]) -> datafusion::error::Result<DataType> {
        match argument_types {
            [argument] => Ok(argument.clone()),
            _ => exec_err!("tidewater_partition_check takes one argument"),
        }
    }

    fn invoke_with_args(
        &self,
        args: ScalarFunctionArgs,
    ) -> datafusion::error::Result<ColumnarValue> {
        let [value] = args.args.as_slice() else {
            return exec_err!("tidewater_partition_check takes one argument");
        };
        match value {
            ColumnarValue::Scalar(scalar) => {
                if scalar.is_null() || *scalar != self.expected {
                    return self.mismatch(scalar);
                }
            }
            ColumnarValue::Array(array) => {
                let expected = Scalar::new(self.expected.to_array_of_size(1)?);
                // `IS DISTINCT FROM`, so a NULL partition value is a mismatch too.
                let differs = distinct(array, &expected)?;
                if let Some(index) = (0..differs.len()).find(|&index| differs.value(index)) {
                    return self.mismatch(&ScalarValue::try_from_array(array, index)?);
                }
            }
        }
        Ok(value.clone())
    }
}

impl PartialEq for PartitionCheck {
    fn eq(&self, other: &Self) -> bool {
        self.column == other.column
            && self.expected == other.expected
            && Arc::ptr_eq(&self.slot.0, &other.slot.0)
    }
}

impl Eq for PartitionCheck {}

impl Hash for PartitionCheck {
    fn hash<H: Hasher>(&self, state: &mut H) {
        self.column.hash(state);
        self.expected.hash(state);
    }
}
