use datafusion::arrow::datatypes::DataType;
use datafusion::common::exec_err;
use datafusion::logical_expr::{
    ColumnarValue, Expr, ScalarFunctionArgs, ScalarUDF, ScalarUDFImpl, Signature, Volatility,
};

/// The identity, declared nullable: wraps every column the write produces.
///
/// The Delta writer creates a table with the nullability of the query's columns, and
/// DataFusion marks literals and many expressions non-null. A table created from
/// `SELECT 'kr' AS region` would then reject a later run's NULL region. Tables created here
/// therefore have only nullable columns, as Spark's CREATE TABLE AS SELECT does.
#[derive(Debug, PartialEq, Eq, Hash)]
pub(crate) struct AsNullable {
    signature: Signature,
}

impl AsNullable {
    pub(crate) fn call(argument: Expr) -> Expr {
        let function = AsNullable {
            // Volatile, or constant folding would turn `as_nullable(1)` back into a non-null
            // literal.
            signature: Signature::any(1, Volatility::Volatile),
        };
        ScalarUDF::new_from_impl(function).call(vec![argument])
    }
}

impl ScalarUDFImpl for AsNullable {
    fn name(&self) -> &str {
        "tidewater_as_nullable"
    }

    fn signature(&self) -> &Signature {
        &self.signature
    }

    /// The default `return_field_from_args` declares the result nullable, which is the point.
    fn return_type(&self, argument_types: &[DataType]) -> datafusion::error::Result<DataType> {
        match argument_types {
            [argument] => Ok(argument.clone()),
            _ => exec_err!("tidewater_as_nullable takes one argument"),
        }
    }

    fn invoke_with_args(
        &self,
        args: ScalarFunctionArgs,
    ) -> datafusion::error::Result<ColumnarValue> {
        match <[ColumnarValue; 1]>::try_from(args.args) {
            Ok([value]) => Ok(value),
            Err(_) => exec_err!("tidewater_as_nullable takes one argument"),
        }
    }
}
