//! Numbers in patterns and events, and numeric ranges.
//!
//! Both services compare numbers at a fixed precision inside a fixed range,
//! as their documentation states: EventBridge from -5.0e9 to 5.0e9 with six
//! digits after the decimal point, SNS from -1.0e9 to 1.0e9 with five. A
//! number outside the range never matches a `numeric` condition; an exact
//! number in a pattern still matches an equal number outside the range.

/// The comparable range and precision of one dialect.
#[derive(Clone, Copy, Debug, PartialEq)]
pub(crate) struct NumberLimits {
    /// Largest magnitude that compares numerically, inclusive.
    bound: f64,
    /// Units per 1.0 at the dialect's precision (10^digits).
    scale: f64,
    /// The bounds as AWS prints them in the range error.
    bound_text: &'static str,
}

/// EventBridge: -5.0e9 to 5.0e9, six digits after the decimal point.
pub(crate) const EVENTBRIDGE_NUMBERS: NumberLimits = NumberLimits {
    bound: 5.0e9,
    scale: 1.0e6,
    bound_text: "-5.0E9 and 5.0E9",
};

/// SNS: -1.0e9 to 1.0e9, five digits after the decimal point.
pub(crate) const SNS_NUMBERS: NumberLimits = NumberLimits {
    bound: 1.0e9,
    scale: 1.0e5,
    bound_text: "-1.0E9 and 1.0E9",
};

impl NumberLimits {
    /// Converts a value to whole units of the dialect's precision, or `None`
    /// when it lies outside the comparable range.
    pub(crate) fn comparable(&self, value: f64) -> Option<i64> {
        if !value.is_finite() || value.abs() > self.bound {
            return None;
        }
        // The bound times the scale stays below 2^53, so the product is exact
        // to the unit and fits in an i64.
        Some((value * self.scale).round() as i64)
    }

    /// Returns the error for a pattern number outside the comparable range.
    ///
    /// NOTE: the EventBridge text is the one of AWS's event-ruler library; the
    /// SNS text follows the same form with SNS's bounds and is unverified.
    pub(crate) fn range_error(&self) -> String {
        format!("Value must be between {}, inclusive", self.bound_text)
    }
}

/// A number from a pattern or an event, in the forms that comparisons need.
#[derive(Clone, Debug)]
pub(crate) struct Number {
    /// The value as a double, as AWS parses it.
    value: f64,
    /// The exact value when the number is an integer, so that large integers
    /// such as account ids compare exactly outside the comparable range.
    integer: Option<i128>,
    /// The value in units of the dialect's precision, when in range.
    comparable: Option<i64>,
}

impl Number {
    /// Reads a number written in a pattern, or `None` when `text` is not a
    /// JSON number.
    pub(crate) fn from_text(text: &str, limits: &NumberLimits) -> Option<Number> {
        let value: f64 = text.parse().ok()?;
        let integer = text.parse::<i128>().ok();
        Some(Number {
            value,
            integer,
            comparable: limits.comparable(value),
        })
    }

    /// Converts a number from an event.
    pub(crate) fn from_json(number: &serde_json::Number, limits: &NumberLimits) -> Number {
        let integer = number
            .as_i64()
            .map(i128::from)
            .or_else(|| number.as_u64().map(i128::from));
        let value = number.as_f64().unwrap_or(f64::NAN);
        Number {
            value,
            integer,
            comparable: limits.comparable(value),
        }
    }

    /// Returns the value in units of the dialect's precision, when in range.
    pub(crate) fn comparable(&self) -> Option<i64> {
        self.comparable
    }

    /// Tells whether two numbers are equal for exact and `anything-but`
    /// matching: at the dialect's precision inside the range, exactly outside.
    pub(crate) fn equals(&self, other: &Number) -> bool {
        if let (Some(left), Some(right)) = (self.comparable, other.comparable) {
            return left == right;
        }
        if let (Some(left), Some(right)) = (self.integer, other.integer) {
            return left == right;
        }
        self.value == other.value
    }
}

/// One end of a numeric range, in units of the dialect's precision.
#[derive(Clone, Copy, Debug, PartialEq)]
pub(crate) struct Bound {
    pub(crate) value: i64,
    pub(crate) inclusive: bool,
}

/// A `numeric` condition: a range open or closed at either end, or a single
/// value when both ends are the same inclusive bound.
#[derive(Clone, Debug, PartialEq)]
pub(crate) struct Range {
    pub(crate) lower: Option<Bound>,
    pub(crate) upper: Option<Bound>,
}

impl Range {
    /// Tells whether a comparable event value lies in the range.
    pub(crate) fn contains(&self, value: i64) -> bool {
        let above = match self.lower {
            None => true,
            Some(Bound {
                value: lower,
                inclusive: true,
            }) => value >= lower,
            Some(Bound {
                value: lower,
                inclusive: false,
            }) => value > lower,
        };
        let below = match self.upper {
            None => true,
            Some(Bound {
                value: upper,
                inclusive: true,
            }) => value <= upper,
            Some(Bound {
                value: upper,
                inclusive: false,
            }) => value < upper,
        };
        above && below
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn number(text: &str) -> Number {
        Number::from_text(text, &EVENTBRIDGE_NUMBERS)
            .unwrap_or_else(|| panic!("{text} is a number"))
    }

    #[test]
    fn equal_spellings_compare_equal() {
        assert!(number("301.5").equals(&number("3.015e2")));
        assert!(number("5").equals(&number("5.0")));
        assert!(!number("5").equals(&number("5.1")));
    }

    #[test]
    fn precision_is_six_decimals_for_eventbridge() {
        assert!(number("1.0000001").equals(&number("1")));
        assert!(!number("1.000001").equals(&number("1")));
    }

    #[test]
    fn sns_precision_is_five_decimals() {
        let sns =
            |text: &str| Number::from_text(text, &SNS_NUMBERS).unwrap_or_else(|| panic!("{text}"));
        assert!(sns("1.000001").equals(&sns("1")));
        assert!(!sns("1.00001").equals(&sns("1")));
        assert_eq!(sns("1000000001").comparable(), None);
    }

    #[test]
    fn large_integers_compare_exactly_outside_range() {
        assert_eq!(number("123456789012").comparable(), None);
        assert!(number("123456789012").equals(&number("123456789012")));
        assert!(!number("123456789012").equals(&number("123456789013")));
    }

    #[test]
    fn range_bounds_respect_inclusion() {
        let range = Range {
            lower: Some(Bound {
                value: 0,
                inclusive: false,
            }),
            upper: Some(Bound {
                value: 5_000_000,
                inclusive: true,
            }),
        };
        assert!(!range.contains(0));
        assert!(range.contains(1));
        assert!(range.contains(5_000_000));
        assert!(!range.contains(5_000_001));
    }
}
