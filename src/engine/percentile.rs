//! `percentile_cont` with exact interpolation, in place of DataFusion's own in every session.
//!
//! SPEC §5.2's response-time percentiles are continuous: percentile p of n values lies at rank
//! p·(n − 1) (0-based), interpolated linearly between the two ranks around it. DataFusion's
//! `percentile_cont` keeps every value of a group (a hash aggregate, one pass over the messages)
//! but rounds the interpolation weight down to a multiple of 1e-6, which moves a value in hours
//! rounded to two decimals when it lies near a .xx5 boundary. This function is DataFusion's for
//! everything but the result: the values are gathered by its accumulators (the same state, so
//! partial aggregates, spilling and a cluster's stages work as they do), and each group's
//! percentile is computed from them with the weight as it is, `lo + (p·(n−1) − ⌊p·(n−1)⌋)·(hi − lo)`,
//! as DuckDB's `quantile_cont` and PostgreSQL compute it.
//!
//! The models call it in the standard form, `percentile_cont(0.5) within group (order by x)`, or
//! with a list of percentiles, `percentile_cont([0.5, 0.9]) within group (order by x)`, which
//! answers a list (`[median, p90]`, indexed from 1 as `p[1]`, `p[2]`) from one gathering of the
//! values: two percentiles of one column then hold its values once, not twice. DuckDB reads the
//! same call the same way, so a model's SQL stays the same on both engines.

use arrow::array::{Array, ArrayRef, AsArray, BooleanArray, Float64Array, Float64Builder, ListArray, ListBuilder};
use arrow::datatypes::{DataType, Field, FieldRef, Float64Type};
use datafusion::common::{Result, ScalarValue};
use datafusion::error::DataFusionError;
use datafusion::logical_expr::function::{AccumulatorArgs, AggregateFunctionSimplification, StateFieldsArgs};
use datafusion::logical_expr::{
    Accumulator, AggregateUDF, AggregateUDFImpl, ColumnarValue, EmitTo, GroupsAccumulator, Signature, Volatility,
};
use datafusion::physical_expr::expressions::Literal;
use datafusion::physical_expr::PhysicalExpr;
use std::sync::Arc;

/// The exact `percentile_cont` (alias `quantile_cont`), to register in a session.
pub fn percentile_cont() -> AggregateUDF {
    AggregateUDF::new_from_impl(ExactPercentileCont {
        inner: datafusion::functions_aggregate::percentile_cont::percentile_cont_udaf(),
        // The argument types are checked and coerced by `coerce_types`: DataFusion's own
        // signature takes one percentile, not a list of them.
        signature: Signature::user_defined(Volatility::Immutable),
    })
}

#[derive(Debug, PartialEq, Eq, Hash)]
struct ExactPercentileCont {
    /// DataFusion's `percentile_cont`: its state and accumulators.
    inner: Arc<AggregateUDF>,
    signature: Signature,
}

/// What a call asks for: one percentile (a number) or several (a list, answered as a list).
#[derive(Debug, Clone)]
enum Asked {
    One(f64),
    Many(Vec<f64>),
}

/// A list of `element`s, as a list of percentiles and the answer to it are typed.
fn list_of(element: DataType) -> DataType {
    DataType::List(Arc::new(Field::new_list_field(element, true)))
}

impl AggregateUDFImpl for ExactPercentileCont {
    fn name(&self) -> &str {
        self.inner.name()
    }

    fn aliases(&self) -> &[String] {
        self.inner.aliases()
    }

    fn signature(&self) -> &Signature {
        &self.signature
    }

    /// The values as DataFusion's own takes them (a float type kept, any other number as
    /// Float64), the percentile as Float64, a list of them as a list of Float64.
    fn coerce_types(&self, arg_types: &[DataType]) -> Result<Vec<DataType>> {
        let bad = |what: &str| DataFusionError::Plan(format!("percentile_cont: {what}"));
        let [value, percentile] = arg_types else {
            return Err(bad("takes the values to order and one percentile or a list of them"));
        };
        let value = match value {
            DataType::Float16 | DataType::Float32 | DataType::Float64 => value.clone(),
            t if t.is_numeric() || t.is_null() => DataType::Float64,
            t => return Err(bad(&format!("the values must be numbers, not {t}"))),
        };
        let percentile = match percentile {
            DataType::List(f) | DataType::LargeList(f) | DataType::FixedSizeList(f, _)
                if f.data_type().is_numeric() || f.data_type().is_null() =>
            {
                list_of(DataType::Float64)
            }
            t if t.is_numeric() || t.is_null() => DataType::Float64,
            _ => return Err(bad("the percentile must be a literal number between 0 and 1, or a list of them")),
        };
        Ok(vec![value, percentile])
    }

    fn return_type(&self, arg_types: &[DataType]) -> Result<DataType> {
        let value = arg_types.first().ok_or_else(|| DataFusionError::Plan("percentile_cont: takes the values to order".into()))?;
        let one = self.inner.return_type(std::slice::from_ref(value))?;
        Ok(match arg_types.get(1) {
            Some(DataType::List(_)) => list_of(one),
            _ => one,
        })
    }

    fn state_fields(&self, args: StateFieldsArgs) -> Result<Vec<FieldRef>> {
        self.inner.state_fields(args)
    }

    fn accumulator(&self, args: AccumulatorArgs) -> Result<Box<dyn Accumulator>> {
        let asked = percentiles_asked(&args)?;
        let out = args.return_field.data_type().clone();
        let (exprs, fields) = as_one_percentile(&args);
        let inner = self.inner.accumulator(AccumulatorArgs { exprs: &exprs, expr_fields: &fields, ..args })?;
        Ok(Box::new(Exact { inner, asked, out }))
    }

    fn groups_accumulator_supported(&self, args: AccumulatorArgs) -> bool {
        self.inner.groups_accumulator_supported(args)
    }

    fn create_groups_accumulator(&self, args: AccumulatorArgs) -> Result<Box<dyn GroupsAccumulator>> {
        let asked = percentiles_asked(&args)?;
        let out = args.return_field.data_type().clone();
        if args.expr_fields.first().is_some_and(|f| f.data_type() == &DataType::Float64) {
            return Ok(Box::new(GroupedValues::new(asked, out)));
        }
        let (exprs, fields) = as_one_percentile(&args);
        let inner = self.inner.create_groups_accumulator(AccumulatorArgs { exprs: &exprs, expr_fields: &fields, ..args })?;
        Ok(Box::new(ExactGroups { inner, asked, out }))
    }

    fn simplify(&self) -> Option<AggregateFunctionSimplification> {
        // Percentiles 0 and 1 become min and max; any other call stays this function.
        self.inner.inner().simplify()
    }

    fn supports_within_group_clause(&self) -> bool {
        true
    }

    fn documentation(&self) -> Option<&datafusion::logical_expr::Documentation> {
        self.inner.documentation()
    }
}

/// The percentiles of a call: its second argument, a literal in [0, 1] or a non-empty list of
/// them; `within group (order by x desc)` asks for 1 − p.
fn percentiles_asked(args: &AccumulatorArgs) -> Result<Asked> {
    let bad =
        || DataFusionError::Plan("percentile_cont: the percentile must be a literal number between 0 and 1, or a list of them".into());
    // A literal evaluates to itself over no rows; anything else (a column) is refused.
    let Some(value) = args.exprs.get(1).and_then(|e| constant(e.as_ref())) else { return Err(bad()) };
    let descending = args.order_bys.first().is_some_and(|s| s.options.descending);
    let checked = |p: Option<f64>| match p {
        Some(p) if (0.0..=1.0).contains(&p) => Ok(if descending { 1.0 - p } else { p }),
        _ => Err(bad()),
    };
    match value {
        ScalarValue::List(list) if list.len() == 1 && !list.is_null(0) => {
            let items = arrow::compute::cast(&list.value(0), &DataType::Float64)?;
            let items = items.as_primitive::<Float64Type>();
            let ps = items.iter().map(checked).collect::<Result<Vec<f64>>>()?;
            if ps.is_empty() {
                return Err(bad());
            }
            Ok(Asked::Many(ps))
        }
        ScalarValue::List(_) => Err(bad()),
        v => match v.cast_to(&DataType::Float64)? {
            ScalarValue::Float64(p) => Ok(Asked::One(checked(p)?)),
            _ => Err(bad()),
        },
    }
}

/// The call's arguments as DataFusion's accumulators take them: a list of percentiles becomes one
/// (0.5, which they check and which this function never reads: it answers from their values).
fn as_one_percentile(args: &AccumulatorArgs) -> (Vec<Arc<dyn PhysicalExpr>>, Vec<FieldRef>) {
    let mut exprs = args.exprs.to_vec();
    let mut fields = args.expr_fields.to_vec();
    if let (Some(e), Some(f)) = (exprs.get_mut(1), fields.get_mut(1)) {
        if matches!(f.data_type(), DataType::List(_)) {
            *e = Arc::new(Literal::new(ScalarValue::Float64(Some(0.5))));
            *f = Arc::new(Field::new(f.name(), DataType::Float64, false));
        } else if let Some(value) = constant(e.as_ref()) {
            // DataFusion's accumulators read the percentile from a literal of theirs; the
            // argument may be the same constant in another form (`constants::Repeated`).
            *e = Arc::new(Literal::new(value));
        }
    }
    (exprs, fields)
}

/// The value of a constant expression: what it evaluates to over no rows, if that is a value.
fn constant(e: &dyn PhysicalExpr) -> Option<ScalarValue> {
    let none = arrow::array::RecordBatch::new_empty(Arc::new(arrow::datatypes::Schema::empty()));
    match e.evaluate(&none) {
        Ok(ColumnarValue::Scalar(v)) => Some(v),
        _ => None,
    }
}

/// Whether `f` is this module's `percentile_cont`.
pub(crate) fn is_exact(f: &AggregateUDF) -> bool {
    f.inner().is::<ExactPercentileCont>()
}

/// A value percentiles are taken of: a float, or a whole number held in 4 bytes.
trait Sample: Copy {
    fn order(&self, other: &Self) -> std::cmp::Ordering;
    fn float(self) -> f64;
}

impl Sample for f64 {
    fn order(&self, other: &Self) -> std::cmp::Ordering {
        self.total_cmp(other)
    }
    fn float(self) -> f64 {
        self
    }
}

impl Sample for i32 {
    fn order(&self, other: &Self) -> std::cmp::Ordering {
        self.cmp(other)
    }
    fn float(self) -> f64 {
        f64::from(self)
    }
}

/// Percentile `p` of `values` (reordered in place): rank p·(n − 1), interpolated linearly between
/// the values at the ranks around it. None for no values. Whole numbers give what their floats
/// give: both ranks' values are exact as floats, and ordered alike.
fn exact_percentile<T: Sample>(values: &mut [T], p: f64) -> Option<f64> {
    let n = values.len();
    if n == 0 {
        return None;
    }
    let index = p * (n - 1) as f64;
    let lo = (index.floor() as usize).min(n - 1);
    let (_, at, above) = values.select_nth_unstable_by(lo, T::order);
    let lo_value = at.float();
    let weight = index - lo as f64;
    match above.iter().copied().min_by(T::order) {
        Some(hi_value) if weight > 0.0 => Some(lo_value + weight * (hi_value.float() - lo_value)),
        _ => Some(lo_value),
    }
}

/// The answers to a call, group after group: one percentile as a number, several as a list.
enum Answers<'a> {
    One(Float64Builder, f64),
    Many(ListBuilder<Float64Builder>, &'a [f64]),
}

impl<'a> Answers<'a> {
    fn new(asked: &'a Asked, groups: usize) -> Self {
        match asked {
            Asked::One(p) => Answers::One(Float64Builder::with_capacity(groups), *p),
            Asked::Many(ps) => Answers::Many(ListBuilder::with_capacity(Float64Builder::with_capacity(groups * ps.len()), groups), ps),
        }
    }

    /// The next group's answer from its values (reordered in place), NULL for a NULL group; a group
    /// without values has no percentile (a NULL list for several, as for one).
    fn push<T: Sample>(&mut self, values: Option<&mut [T]>) {
        match (self, values) {
            (Answers::One(b, p), values) => b.append_option(values.and_then(|v| exact_percentile(v, *p))),
            (Answers::Many(b, _), None) => b.append_null(),
            (Answers::Many(b, _), Some([])) => b.append_null(),
            (Answers::Many(b, ps), Some(v)) => {
                for p in ps.iter() {
                    b.values().append_option(exact_percentile(v, *p));
                }
                b.append(true);
            }
        }
    }

    /// The answers as an array of `out`: the argument's float type for one, a list of it for several.
    fn finish(self, out: &DataType) -> Result<ArrayRef> {
        let result: ArrayRef = match self {
            Answers::One(mut b, _) => Arc::new(b.finish()),
            Answers::Many(mut b, _) => Arc::new(b.finish()),
        };
        Ok(arrow::compute::cast(&result, out)?)
    }
}

/// Each list's exact percentiles asked, as an array of `out` (NULL for a group without values).
fn percentiles_of(lists: &ListArray, asked: &Asked, out: &DataType) -> Result<ArrayRef> {
    let all = arrow::compute::cast(lists.values(), &DataType::Float64)?;
    let all = all.as_primitive::<Float64Type>();
    let offsets = lists.value_offsets();
    let mut values: Vec<f64> = Vec::new();
    let mut answers = Answers::new(asked, lists.len());
    for i in 0..lists.len() {
        if lists.is_null(i) {
            answers.push::<f64>(None);
            continue;
        }
        // Group i's values, copied (each percentile's selection reorders them).
        values.clear();
        values.extend_from_slice(&items(all, offsets[i] as usize..offsets[i + 1] as usize));
        answers.push(Some(&mut values));
    }
    answers.finish(out)
}

/// The values of `all` in `range` but its NULLs: the slice itself when it holds none, as the states
/// DataFusion's accumulators and `GroupedValues` make never do.
fn items(all: &Float64Array, range: std::ops::Range<usize>) -> std::borrow::Cow<'_, [f64]> {
    match all.null_count() {
        0 => std::borrow::Cow::Borrowed(&all.values()[range]),
        _ => std::borrow::Cow::Owned(all.slice(range.start, range.len()).iter().flatten().collect()),
    }
}

/// The state's one field: the list of a group's values.
fn values_list(state: &[ArrayRef]) -> Result<&ListArray> {
    state
        .first()
        .and_then(|a| a.as_list_opt::<i32>())
        .ok_or_else(|| DataFusionError::Internal("percentile_cont: the state is not a list of values".into()))
}

#[derive(Debug)]
struct Exact {
    inner: Box<dyn Accumulator>,
    asked: Asked,
    out: DataType,
}

impl Accumulator for Exact {
    fn update_batch(&mut self, values: &[ArrayRef]) -> Result<()> {
        self.inner.update_batch(values)
    }

    fn evaluate(&mut self) -> Result<ScalarValue> {
        // DataFusion's state() hands the values over (its accumulator is then empty); a window
        // frame evaluates the same accumulator row after row, so they are given back.
        let state = self.inner.state()?;
        let lists = match state.first() {
            Some(ScalarValue::List(list)) => list.clone(),
            // No values of a type the list holds (a NULL argument): DataFusion's own answer, or
            // a NULL list for a list of percentiles.
            _ if matches!(self.asked, Asked::Many(_)) => return ScalarValue::try_from(&self.out),
            _ => return self.inner.evaluate(),
        };
        let result = percentiles_of(&lists, &self.asked, &self.out)?;
        self.inner.merge_batch(&[lists as ArrayRef])?;
        ScalarValue::try_from_array(&result, 0)
    }

    fn size(&self) -> usize {
        self.inner.size() + std::mem::size_of::<Self>()
    }

    fn state(&mut self) -> Result<Vec<ScalarValue>> {
        self.inner.state()
    }

    fn merge_batch(&mut self, states: &[ArrayRef]) -> Result<()> {
        self.inner.merge_batch(states)
    }

    fn retract_batch(&mut self, values: &[ArrayRef]) -> Result<()> {
        self.inner.retract_batch(values)
    }

    fn supports_retract_batch(&self) -> bool {
        self.inner.supports_retract_batch()
    }
}

struct ExactGroups {
    inner: Box<dyn GroupsAccumulator>,
    asked: Asked,
    out: DataType,
}

impl GroupsAccumulator for ExactGroups {
    fn update_batch(
        &mut self,
        values: &[ArrayRef],
        group_indices: &[usize],
        opt_filter: Option<&BooleanArray>,
        total_num_groups: usize,
    ) -> Result<()> {
        self.inner.update_batch(values, group_indices, opt_filter, total_num_groups)
    }

    fn evaluate(&mut self, emit_to: EmitTo) -> Result<ArrayRef> {
        let state = self.inner.state(emit_to)?;
        percentiles_of(values_list(&state)?, &self.asked, &self.out)
    }

    fn state(&mut self, emit_to: EmitTo) -> Result<Vec<ArrayRef>> {
        self.inner.state(emit_to)
    }

    fn merge_batch(&mut self, values: &[ArrayRef], group_indices: &[usize], total_num_groups: usize) -> Result<()> {
        self.inner.merge_batch(values, group_indices, total_num_groups)
    }

    fn convert_to_state(&self, values: &[ArrayRef], opt_filter: Option<&BooleanArray>) -> Result<Vec<ArrayRef>> {
        self.inner.convert_to_state(values, opt_filter)
    }

    fn size(&self) -> usize {
        self.inner.size()
    }
}

/// The values of each group (Float64, what every number but a float is taken as), as DataFusion's
/// accumulator keeps them, a vector per group, with each group's percentiles computed in place
/// from its vector and the bytes they hold counted as they grow. DataFusion's accumulator sums
/// every group's capacity each time the aggregate asks its size, after every batch: for a
/// country's 150,000 accounts per partition that read gigabytes in all. It also hands its values
/// to `evaluate` only as a state, a copy of them all into one list, which was copied again group
/// by group. The state (for spilling and for a two-phase plan) is the same list of values as
/// DataFusion's, so the two read each other's. Float16 and Float32 values (a column of that type)
/// keep DataFusion's accumulator, through `ExactGroups`.
///
/// While every value is a whole number of 32 bits (a response time in seconds, cast to a float
/// by the model), the groups hold them in 4 bytes each, not 8: the national tier's 96 M messages
/// then fit the aggregate's share of the pool instead of spilling it to disk. The first other
/// value turns every group's values into floats, once.
struct GroupedValues {
    groups: Groups,
    /// The bytes the groups' vectors hold (the sum of their capacities).
    held: usize,
    asked: Asked,
    out: DataType,
}

/// Each group's values: whole numbers while all of them are, else floats.
enum Groups {
    Whole(Vec<Vec<i32>>),
    Float(Vec<Vec<f64>>),
}

/// `x` as a 32-bit whole number, if it is one exactly (not -0.0, NaN or out of range).
fn whole(x: f64) -> Option<i32> {
    let i = x as i32;
    (f64::from(i).to_bits() == x.to_bits()).then_some(i)
}

/// The bytes of the vectors' buffers.
fn capacity_bytes<T>(groups: &[Vec<T>]) -> usize {
    groups.iter().map(|v| v.capacity() * size_of::<T>()).sum()
}

/// The argument's values as Float64 (what `create_groups_accumulator` checked they are).
fn float64(values: &[ArrayRef]) -> Result<&Float64Array> {
    values
        .first()
        .and_then(|a| a.as_primitive_opt::<Float64Type>())
        .ok_or_else(|| DataFusionError::Internal("percentile_cont: the values are not Float64".into()))
}

/// Whether row `i` counts: its value is not NULL and the filter, if any, is true there (not false
/// or NULL).
fn kept(values: &Float64Array, filter: Option<&BooleanArray>, i: usize) -> bool {
    values.is_valid(i) && filter.is_none_or(|f| f.is_valid(i) && f.value(i))
}

/// The state's lists: the values held as Float64 lists.
fn state_field() -> FieldRef {
    Arc::new(Field::new_list_field(DataType::Float64, true))
}

impl GroupedValues {
    fn new(asked: Asked, out: DataType) -> Self {
        GroupedValues { groups: Groups::Whole(Vec::new()), held: 0, asked, out }
    }

    /// Makes room for `total` groups.
    fn resize(&mut self, total: usize) {
        match &mut self.groups {
            Groups::Whole(g) => g.resize_with(total, Vec::new),
            Groups::Float(g) => g.resize_with(total, Vec::new),
        }
    }

    /// Appends `x` to group `g`, counting the bytes its vector takes when it grows.
    fn push(&mut self, g: usize, x: f64) {
        /// Pushes `x` onto `v`, adding to `held` the bytes `v` took when it grew.
        fn counted<T>(v: &mut Vec<T>, x: T, held: &mut usize) {
            let before = v.capacity();
            v.push(x);
            *held += (v.capacity() - before) * size_of::<T>();
        }
        if let Groups::Whole(groups) = &mut self.groups {
            if let Some(i) = whole(x) {
                return counted(&mut groups[g], i, &mut self.held);
            }
            self.widen();
        }
        if let Groups::Float(groups) = &mut self.groups {
            counted(&mut groups[g], x, &mut self.held);
        }
    }

    /// Every group's values as floats, from now on.
    fn widen(&mut self) {
        if let Groups::Whole(groups) = &mut self.groups {
            let floats: Vec<Vec<f64>> = std::mem::take(groups).into_iter().map(|v| v.into_iter().map(f64::from).collect()).collect();
            self.held = capacity_bytes(&floats);
            self.groups = Groups::Float(floats);
        }
    }

    /// The groups `emit_to` asks for, taken out of the accumulator with their bytes.
    fn take(&mut self, emit_to: EmitTo) -> Groups {
        let (taken, bytes) = match &mut self.groups {
            Groups::Whole(g) => {
                let taken = emit_to.take_needed(g);
                let bytes = capacity_bytes(&taken);
                (Groups::Whole(taken), bytes)
            }
            Groups::Float(g) => {
                let taken = emit_to.take_needed(g);
                let bytes = capacity_bytes(&taken);
                (Groups::Float(taken), bytes)
            }
        };
        debug_assert!(bytes <= self.held, "percentile_cont: {bytes} bytes taken of {} counted", self.held);
        self.held = self.held.saturating_sub(bytes);
        taken
    }
}

impl GroupsAccumulator for GroupedValues {
    fn update_batch(
        &mut self,
        values: &[ArrayRef],
        group_indices: &[usize],
        opt_filter: Option<&BooleanArray>,
        total_num_groups: usize,
    ) -> Result<()> {
        let values = float64(values)?;
        if group_indices.len() != values.len() {
            return Err(DataFusionError::Internal(format!(
                "percentile_cont: {} group indices for {} values",
                group_indices.len(),
                values.len()
            )));
        }
        self.resize(total_num_groups);
        for (i, (&g, &x)) in group_indices.iter().zip(values.values().iter()).enumerate() {
            if kept(values, opt_filter, i) {
                self.push(g, x);
            }
        }
        Ok(())
    }

    fn evaluate(&mut self, emit_to: EmitTo) -> Result<ArrayRef> {
        fn answer<T: Sample>(asked: &Asked, out: &DataType, mut taken: Vec<Vec<T>>) -> Result<ArrayRef> {
            let mut answers = Answers::new(asked, taken.len());
            for values in &mut taken {
                answers.push(Some(values));
            }
            answers.finish(out)
        }
        match self.take(emit_to) {
            Groups::Whole(taken) => answer(&self.asked, &self.out, taken),
            Groups::Float(taken) => answer(&self.asked, &self.out, taken),
        }
    }

    fn state(&mut self, emit_to: EmitTo) -> Result<Vec<ArrayRef>> {
        fn list<T: Sample>(taken: &[Vec<T>]) -> Result<ArrayRef> {
            let mut offsets = Vec::with_capacity(taken.len() + 1);
            offsets.push(0i32);
            let mut all = Vec::with_capacity(taken.iter().map(Vec::len).sum());
            for values in taken {
                all.extend(values.iter().map(|x| x.float()));
                let end = i32::try_from(all.len())
                    .map_err(|_| DataFusionError::Execution("percentile_cont: over 2^31 values in one state".into()))?;
                offsets.push(end);
            }
            let values = Arc::new(Float64Array::from(all));
            Ok(Arc::new(ListArray::new(state_field(), arrow::buffer::OffsetBuffer::new(offsets.into()), values, None)))
        }
        Ok(vec![match self.take(emit_to) {
            Groups::Whole(taken) => list(&taken)?,
            Groups::Float(taken) => list(&taken)?,
        }])
    }

    fn merge_batch(&mut self, values: &[ArrayRef], group_indices: &[usize], total_num_groups: usize) -> Result<()> {
        let lists = values_list(values)?;
        let all = lists
            .values()
            .as_primitive_opt::<Float64Type>()
            .ok_or_else(|| DataFusionError::Internal("percentile_cont: the state's values are not Float64".into()))?;
        self.resize(total_num_groups);
        let offsets = lists.value_offsets();
        for (i, &g) in group_indices.iter().enumerate() {
            if lists.is_null(i) {
                continue;
            }
            for &x in items(all, offsets[i] as usize..offsets[i + 1] as usize).iter() {
                self.push(g, x);
            }
        }
        Ok(())
    }

    /// Each row as a group of its own: a list of its value, NULL where the value is NULL or filtered out.
    fn convert_to_state(&self, values: &[ArrayRef], opt_filter: Option<&BooleanArray>) -> Result<Vec<ArrayRef>> {
        let values = float64(values)?;
        let kept: arrow::buffer::NullBuffer = (0..values.len()).map(|i| kept(values, opt_filter, i)).collect();
        let list = ListArray::new(
            state_field(),
            arrow::buffer::OffsetBuffer::from_lengths(std::iter::repeat_n(1, values.len())),
            Arc::new(Float64Array::new(values.values().clone(), None)),
            Some(kept),
        );
        Ok(vec![Arc::new(list)])
    }

    fn size(&self) -> usize {
        let vectors = match &self.groups {
            Groups::Whole(g) => g.capacity() * size_of::<Vec<i32>>(),
            Groups::Float(g) => g.capacity() * size_of::<Vec<f64>>(),
        };
        self.held + vectors + size_of::<Self>()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn percentiles_interpolate_with_the_exact_weight() {
        let mut v = vec![40.0, 10.0, 30.0, 20.0];
        assert_eq!(exact_percentile(&mut v, 0.5), Some(25.0));
        // Rank 0.9 × 3 = 2.7: 30 + 0.7 × 10, with 0.7 as the rank's fraction is (not 0.699999).
        let weight = 0.9 * 3.0 - 2.0;
        assert_eq!(exact_percentile(&mut v, 0.9), Some(30.0 + weight * 10.0));
        assert_eq!(exact_percentile(&mut [7.0], 0.9), Some(7.0));
        assert_eq!(exact_percentile::<f64>(&mut [], 0.5), None);
        assert_eq!(exact_percentile(&mut [3.0, 1.0, 2.0], 1.0), Some(3.0));
        assert_eq!(exact_percentile(&mut [3.0, 1.0, 2.0], 0.0), Some(1.0));
    }

    #[test]
    fn grouped_values_answer_alike_in_one_pass_or_through_states_and_count_their_bytes() -> Result<()> {
        // Group 0: 10, 40, NULL, 20, 30, 100 and 1000 whose filter is NULL; group 1: 7, and 1
        // filtered out; group 2: nothing.
        let values: ArrayRef = Arc::new(Float64Array::from(vec![
            Some(10.0),
            Some(40.0),
            None,
            Some(20.0),
            Some(7.0),
            Some(30.0),
            Some(100.0),
            Some(1.0),
            Some(1000.0),
        ]));
        let groups = [0, 0, 0, 0, 1, 0, 0, 1, 0];
        let filter =
            BooleanArray::from(vec![Some(true), Some(true), Some(true), Some(true), Some(true), Some(true), Some(true), Some(false), None]);
        let new = |asked: Asked, out: DataType| GroupedValues::new(asked, out);
        let many = || new(Asked::Many(vec![0.5, 0.9]), list_of(DataType::Float64));
        let update = |acc: &mut GroupedValues| -> Result<()> {
            acc.update_batch(&[values.slice(0, 4)], &groups[..4], Some(&filter.slice(0, 4)), 2)?;
            acc.update_batch(&[values.slice(4, 5)], &groups[4..], Some(&filter.slice(4, 5)), 3)
        };
        let lists = |a: ArrayRef| -> Vec<Option<Vec<f64>>> {
            let lists = a.as_list::<i32>();
            (0..lists.len()).map(|i| lists.is_valid(i).then(|| lists.value(i).as_primitive::<Float64Type>().values().to_vec())).collect()
        };
        let capacities = |acc: &GroupedValues| match &acc.groups {
            Groups::Whole(g) => capacity_bytes(g),
            Groups::Float(g) => capacity_bytes(g),
        };

        let mut whole = many();
        update(&mut whole)?;
        assert!(matches!(whole.groups, Groups::Whole(_)), "whole numbers are held in 4 bytes");
        assert_eq!(whole.held, capacities(&whole));
        let expected = vec![Some(vec![30.0, 40.0 + (0.9 * 4.0 - 3.0) * 60.0]), Some(vec![7.0, 7.0]), None];
        assert_eq!(lists(whole.evaluate(EmitTo::All)?), expected);
        assert_eq!(whole.held, 0, "the emitted groups' bytes are no longer counted");

        // One percentile, the first two groups emitted before the last.
        let mut one = new(Asked::One(0.5), DataType::Float64);
        update(&mut one)?;
        let first = one.evaluate(EmitTo::First(2))?;
        assert_eq!(first.as_primitive::<Float64Type>().values().to_vec(), vec![30.0, 7.0]);
        assert_eq!(one.held, capacities(&one));
        let last = one.evaluate(EmitTo::All)?;
        assert!(last.len() == 1 && last.is_null(0), "a group without values has no percentile");

        // Partial states, the first group emitted on its own, merged into a final accumulator.
        let mut partial = many();
        update(&mut partial)?;
        let first = partial.state(EmitTo::First(1))?;
        assert_eq!(partial.held, capacities(&partial));
        let rest = partial.state(EmitTo::All)?;
        let mut merged = many();
        merged.merge_batch(&first, &[0], 1)?;
        merged.merge_batch(&rest, &[1, 2], 3)?;
        assert_eq!(merged.held, capacities(&merged));
        assert_eq!(lists(merged.evaluate(EmitTo::All)?), expected);

        // Each row converted to a state of its own (a NULL or filtered row to a NULL list), merged.
        let rows = many().convert_to_state(std::slice::from_ref(&values), Some(&filter))?;
        assert_eq!(rows[0].null_count(), 3);
        let mut converted = many();
        converted.merge_batch(&rows, &groups, 3)?;
        assert_eq!(lists(converted.evaluate(EmitTo::All)?), expected);

        // A state read back in part (its offsets not starting at 0), with a NULL item and a NULL
        // list: [99], [5, NULL, 15], NULL, [1], of which the last three.
        let state = ListArray::new(
            state_field(),
            arrow::buffer::OffsetBuffer::new(vec![0, 1, 4, 4, 5].into()),
            Arc::new(Float64Array::from(vec![Some(99.0), Some(5.0), None, Some(15.0), Some(1.0)])),
            Some(vec![true, true, false, true].into()),
        );
        let mut read_back = new(Asked::Many(vec![0.5]), list_of(DataType::Float64));
        read_back.merge_batch(&[Arc::new(state.slice(1, 3))], &[0, 1, 1], 2)?;
        assert_eq!(read_back.held, capacities(&read_back));
        assert_eq!(lists(read_back.evaluate(EmitTo::All)?), vec![Some(vec![10.0]), Some(vec![1.0])]);
        Ok(())
    }

    #[test]
    fn whole_numbers_answer_as_their_floats_do_and_other_values_turn_the_groups_to_floats() -> Result<()> {
        // Both ways of holding a value give the same percentiles, to the bit, at ranks between
        // values and on them, with negatives and repeats.
        let ints: Vec<i32> = (0..1001).map(|k: i32| (k * 7919) % 2003 - 600).collect();
        for p in [0.0, 0.1, 0.25, 0.5, 0.9, 0.999, 1.0] {
            let mut as_ints = ints.clone();
            let mut as_floats: Vec<f64> = ints.iter().map(|&i| f64::from(i)).collect();
            let (a, b) = (exact_percentile(&mut as_ints, p), exact_percentile(&mut as_floats, p));
            assert_eq!(a.map(f64::to_bits), b.map(f64::to_bits), "p = {p}");
        }
        assert_eq!(whole(3600.0), Some(3600));
        assert_eq!(whole(-5.0), Some(-5));
        for not_whole in [0.5, -0.0, f64::NAN, 3e9, -3e9, f64::INFINITY] {
            assert_eq!(whole(not_whole), None, "{not_whole}");
        }

        // Group 0 holds whole numbers when a half arrives for group 1, mid-batch: from then on
        // every group holds floats, and both answer as if they always had.
        let values: ArrayRef = Arc::new(Float64Array::from(vec![10.0, 20.0, 1.5, 30.0, 2.5, -0.0]));
        let groups = [0, 0, 1, 0, 1, 1];
        let mut acc = GroupedValues::new(Asked::Many(vec![0.5, 0.9]), list_of(DataType::Float64));
        acc.update_batch(&[values.slice(0, 2)], &groups[..2], None, 1)?;
        assert!(matches!(acc.groups, Groups::Whole(_)));
        acc.update_batch(&[values.slice(2, 4)], &groups[2..], None, 2)?;
        let Groups::Float(held) = &acc.groups else { panic!("a half turns the groups to floats") };
        assert_eq!(acc.held, capacity_bytes(held), "the floats' bytes are counted anew");
        let answers = acc.evaluate(EmitTo::All)?;
        let answers = answers.as_list::<i32>();
        let group = |i: usize| answers.value(i).as_primitive::<Float64Type>().values().to_vec();
        assert_eq!(group(0), vec![20.0, 20.0 + (0.9 * 2.0 - 1.0) * 10.0]);
        assert_eq!(group(1), vec![1.5, 1.5 + (0.9 * 2.0 - 1.0) * 1.0]);
        Ok(())
    }

    #[tokio::test]
    async fn sessions_answer_percentile_cont_exactly_grouped_or_not() {
        let ctx = crate::engine::session().unwrap();
        // Ten values 0, 3600·k for k = 1..9 plus one more: p90 lies at rank 0.9 × 9 = 8.1, whose
        // fraction 0.1 is 0.0999… in binary: DataFusion's own rounds the weight to 0.099999.
        let sql = "select g, percentile_cont(0.9) within group (order by x) as p90, \
                          percentile_cont(0.5) within group (order by x desc) filter (where x > 0) as p50_desc \
                   from (values (1, 0.0), (1, 3600.0), (1, 7200.0), (1, 10800.0), (1, 14400.0), (1, 18000.0), \
                                (1, 21600.0), (1, 25200.0), (1, 28800.0), (1, 100000.0), (2, null)) t(g, x) \
                   group by g order by g";
        let batches = ctx.sql(sql).await.unwrap().collect().await.unwrap();
        let p90 = batches[0].column(1).as_primitive::<Float64Type>();
        let index = 0.9 * 9.0;
        assert_eq!(p90.value(0), 28800.0 + (index - 8.0) * (100000.0 - 28800.0));
        assert!(p90.is_null(1), "a group without values has no percentile");
        // Descending order asks for 1 − p; the filter leaves nine values, the median is the fifth.
        let p50 = batches[0].column(2).as_primitive::<Float64Type>();
        assert_eq!(p50.value(0), 18000.0);
        let whole = ctx.sql("select percentile_cont(0.9) within group (order by x) from (values (0.0), (1.0), (2.0), (3.0), (4.0), (5.0), (6.0), (7.0), (8.0), (100.0)) t(x)");
        let whole = whole.await.unwrap().collect().await.unwrap();
        assert_eq!(whole[0].column(0).as_primitive::<Float64Type>().value(0), 8.0 + (index - 8.0) * 92.0);
        // As a window function: each row's frame, growing and sliding (the accumulator is
        // evaluated row after row, and values leave a sliding frame).
        let sql = "select percentile_cont(x, 0.5) over (order by x rows between unbounded preceding and current row) as grows, \
                          percentile_cont(x, 0.5) over (order by x rows between 1 preceding and current row) as slides \
                   from (values (1.0), (2.0), (4.0)) t(x) order by x";
        let batches = ctx.sql(sql).await.unwrap().collect().await.unwrap();
        let column = |i: usize| batches[0].column(i).as_primitive::<Float64Type>().values().to_vec();
        assert_eq!(column(0), vec![1.0, 1.5, 2.0]);
        assert_eq!(column(1), vec![1.0, 1.5, 3.0]);
        // A percentile that is not a literal in [0, 1] is refused by name, a column's too, and a
        // list holding one.
        for p in ["1.5", "null", "x", "[0.5, 1.5]", "[0.5, null]", "[]"] {
            let q = format!("select percentile_cont({p}) within group (order by x) from (values (1.0), (2.0)) t(x)");
            let err = match ctx.sql(&q).await {
                Ok(df) => df.collect().await.expect_err(&q).to_string(),
                Err(e) => e.to_string(),
            };
            assert!(err.contains("must be a literal number between 0 and 1"), "{q}: {err}");
        }
    }

    #[tokio::test]
    async fn a_list_of_percentiles_answers_each_as_its_own_call_does() {
        let ctx = crate::engine::session().unwrap();
        // Integers are taken as Float64; group 3's values are all filtered out, group 4 has none.
        let data = "(values (1, 10), (1, 40), (1, 20), (1, 30), (1, 100), (2, 7), (2, 7), (2, 1), (3, -1), (4, null)) t(g, x)";
        let sql = format!(
            "select g, \
                    percentile_cont([0.5, 0.9, 0.25]) within group (order by x) filter (where x > 0) as many, \
                    percentile_cont([0.9]) within group (order by x desc) filter (where x > 0) as desc_one, \
                    percentile_cont(0.5) within group (order by x) filter (where x > 0) as p50, \
                    percentile_cont(0.9) within group (order by x) filter (where x > 0) as p90, \
                    percentile_cont(0.25) within group (order by x) filter (where x > 0) as p25, \
                    percentile_cont(0.9) within group (order by x desc) filter (where x > 0) as p90_desc \
             from {data} group by g order by g"
        );
        let batches = ctx.sql(&sql).await.unwrap().collect().await.unwrap();
        let b = &batches[0];
        let many = b.column(1).as_list::<i32>();
        let desc_one = b.column(2).as_list::<i32>();
        let single = |c: usize| b.column(c).as_primitive::<Float64Type>().clone();
        let (p50, p90, p25, p90_desc) = (single(3), single(4), single(5), single(6));
        for row in 0..2 {
            let got = many.value(row);
            let got = got.as_primitive::<Float64Type>();
            assert_eq!(got.values().to_vec(), vec![p50.value(row), p90.value(row), p25.value(row)], "group {}", row + 1);
            // Descending order asks for 1 − p, in a list as alone.
            assert_eq!(desc_one.value(row).as_primitive::<Float64Type>().value(0), p90_desc.value(row));
        }
        // Group 1: 10, 20, 30, 40, 100; the median is 30, p90 at rank 3.6 is 40 + 0.6·60, and p90
        // in descending order is p10, at rank 0.4: 10 + 0.4·10.
        assert_eq!(p50.value(0), 30.0);
        assert!((desc_one.value(0).as_primitive::<Float64Type>().value(0) - 14.0).abs() < 1e-9);
        assert_eq!(p90.value(0), 40.0 + (0.9 * 4.0 - 3.0) * 60.0);
        // A group without values answers a NULL list, whose items are NULL, as one call's answer is.
        for row in 2..4 {
            assert!(many.is_null(row) && p50.is_null(row), "group {}", row + 1);
        }
        let sql = format!(
            "select g, p[1] as a, p[2] as b from (select g, percentile_cont([0.5, 0.9]) within group (order by x) as p \
             from {data} group by g) order by g"
        );
        let indexed = ctx.sql(&sql).await.unwrap().collect().await.unwrap();
        let a = indexed[0].column(1).as_primitive::<Float64Type>();
        assert_eq!(a.value(0), 30.0);
        assert!(a.is_null(3));
        // Without groups, and as a window function.
        let whole = ctx.sql("select percentile_cont([0.0, 0.5, 1.0]) within group (order by x) from (values (3.0), (1.0), (2.0)) t(x)");
        let whole = whole.await.unwrap().collect().await.unwrap();
        let whole = whole[0].column(0).as_list::<i32>().value(0);
        assert_eq!(whole.as_primitive::<Float64Type>().values().to_vec(), vec![1.0, 2.0, 3.0]);
        let sql = "select percentile_cont(x, [0.5, 1.0]) over (order by x rows between unbounded preceding and current row) as grows \
                   from (values (1.0), (2.0), (4.0)) t(x) order by x";
        let batches = ctx.sql(sql).await.unwrap().collect().await.unwrap();
        let grows = batches[0].column(0).as_list::<i32>();
        let rows: Vec<Vec<f64>> = (0..3).map(|i| grows.value(i).as_primitive::<Float64Type>().values().to_vec()).collect();
        assert_eq!(rows, vec![vec![1.0, 1.0], vec![1.5, 2.0], vec![2.0, 4.0]]);
    }
}
