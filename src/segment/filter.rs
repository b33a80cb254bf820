//! The filter language: a SQL `WHERE` expression parsed by `sqlparser`, evaluated column by column.
//!
//! # Semantics
//!
//! SQL's three-valued logic: a comparison with a missing value is unknown, `NOT unknown` is
//! unknown, and only rows whose filter is true are members. Each sub-expression evaluates to two
//! bitsets, the rows where it is true and the rows where it is false; neither holds the unknown rows.

use super::bitset::Bitset;
use crate::consumer::{Column, ConsumerTable, MISSING};
use sqlparser::ast::{BinaryOperator, Expr, Ident, Spanned, UnaryOperator, Value};
use sqlparser::dialect::GenericDialect;
use sqlparser::keywords::Keyword;
use sqlparser::parser::Parser;
use sqlparser::tokenizer::{Location, Token, TokenWithSpan, Tokenizer};
use std::collections::HashMap;

/// A filter problem at a position of the filter text.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FilterError {
    /// 1-based column in the filter text (0 when unknown).
    pub column: u64,
    /// What is wrong and what would be right.
    pub message: String,
}

impl FilterError {
    fn at(location: Location, message: impl Into<String>) -> Self {
        FilterError {
            column: location.column,
            message: message.into(),
        }
    }
}

/// A parser message as a [`FilterError`] at the column it names (`... at Line: 1, Column: 9`),
/// without sqlparser's prefix and position text.
fn located(message: &str) -> FilterError {
    let message = message.trim_start_matches("sql parser error: ");
    let (text, column) = match message.rsplit_once(" at Line: ") {
        Some((text, position)) => (
            text,
            position
                .rsplit_once("Column: ")
                .and_then(|(_, c)| c.trim().parse().ok())
                .unwrap_or(0),
        ),
        None => (message, 0),
    };
    FilterError {
        column,
        message: text.to_string(),
    }
}

/// AND and OR each join two conditions: one with nothing before it (the start, `(`, another
/// connective or NOT) or after it (the end) is an error at its own column. sqlparser would read a
/// doubled `AND` as a column named AND and blame the word after it.
fn check_connectives(tokens: &[TokenWithSpan]) -> Result<(), FilterError> {
    let significant: Vec<&TokenWithSpan> = tokens
        .iter()
        .filter(|t| !matches!(t.token, Token::Whitespace(_) | Token::EOF))
        .collect();
    let keyword = |t: &TokenWithSpan| match &t.token {
        Token::Word(w) => w.keyword,
        _ => Keyword::NoKeyword,
    };
    let connective = |t: &TokenWithSpan| matches!(keyword(t), Keyword::AND | Keyword::OR);
    for (i, token) in significant.iter().enumerate() {
        if !connective(token) {
            continue;
        }
        let word = token.token.to_string().to_uppercase();
        let before = i.checked_sub(1).map(|j| significant[j]);
        let dangling_before = before.is_none_or(|b| {
            connective(b) || keyword(b) == Keyword::NOT || b.token == Token::LParen
        });
        if dangling_before {
            let after = before.map_or_else(
                || "the start of the filter".to_string(),
                |b| format!("'{}'", b.token),
            );
            return Err(FilterError::at(
                token.span.start,
                format!(
                    "'{word}' follows {after} with no condition between them; remove one or add the missing condition"
                ),
            ));
        }
        let next = significant.get(i + 1);
        if next.is_none_or(|n| n.token == Token::RParen) {
            return Err(FilterError::at(
                token.span.start,
                format!("'{word}' has no condition after it; add one or remove '{word}'"),
            ));
        }
    }
    Ok(())
}

/// The words of `filter` (attribute names and keywords; text values in single quotes are not
/// words): a superset of the attributes it reads. `None` when it does not tokenize (evaluating
/// it then reports where).
pub fn words(filter: &str) -> Option<Vec<String>> {
    let tokens = Tokenizer::new(&GenericDialect {}, filter).tokenize().ok()?;
    Some(
        tokens
            .into_iter()
            .filter_map(|t| match t {
                Token::Word(word) => Some(word.value),
                _ => None,
            })
            .collect(),
    )
}

/// Rows where an expression is true and rows where it is false.
#[derive(Clone)]
struct Truth {
    t: Bitset,
    f: Bitset,
}

/// A literal on the right of a comparison.
enum Literal {
    Text(String),
    Number(f64),
    Null,
}

/// Evaluates filters against one table, sharing leaf results between filters.
pub struct Evaluator<'a> {
    table: &'a ConsumerTable,
    leaves: HashMap<String, Truth>,
    /// Values compared with that never occur in the data (likely typos).
    pub warnings: Vec<String>,
}

impl<'a> Evaluator<'a> {
    /// An evaluator over `table`.
    pub fn new(table: &'a ConsumerTable) -> Self {
        Evaluator {
            table,
            leaves: HashMap::new(),
            warnings: Vec::new(),
        }
    }

    /// Parses `filter` and returns the rows for which it is true.
    ///
    /// # Errors
    ///
    /// [`FilterError`] at the position of a syntax error, an unknown attribute (listing the known
    /// ones), or a comparison of the wrong kind (text with a number or the reverse).
    pub fn evaluate(&mut self, filter: &str) -> Result<Bitset, FilterError> {
        let dialect = GenericDialect {};
        let tokens = Tokenizer::new(&dialect, filter)
            .tokenize_with_location()
            .map_err(|e| {
                let hint = if e.message.contains("Unterminated") {
                    "; close it with ' (text values are in single quotes, a quote inside one is written '')"
                } else {
                    ""
                };
                FilterError::at(e.location, format!("{}{hint}", e.message))
            })?;
        check_connectives(&tokens)?;
        let mut parser = Parser::new(&dialect).with_tokens_with_locations(tokens);
        let expr = parser.parse_expr().map_err(|e| located(&e.to_string()))?;
        let next = parser.peek_token();
        if next.token != Token::EOF {
            return Err(FilterError::at(
                next.span.start,
                format!(
                    "unexpected '{}' after a complete expression; join conditions with AND or OR",
                    next.token
                ),
            ));
        }
        Ok(self.eval(&expr)?.t)
    }

    fn eval(&mut self, expr: &Expr) -> Result<Truth, FilterError> {
        match expr {
            Expr::Nested(inner) => self.eval(inner),
            Expr::UnaryOp {
                op: UnaryOperator::Not,
                expr,
            } => {
                let inner = self.eval(expr)?;
                Ok(Truth {
                    t: inner.f,
                    f: inner.t,
                })
            }
            Expr::BinaryOp {
                left,
                op: op @ (BinaryOperator::And | BinaryOperator::Or),
                right,
            } => {
                let (a, b) = (self.eval(left)?, self.eval(right)?);
                Ok(if *op == BinaryOperator::And {
                    Truth {
                        t: a.t.and(&b.t),
                        f: a.f.or(&b.f),
                    }
                } else {
                    Truth {
                        t: a.t.or(&b.t),
                        f: a.f.and(&b.f),
                    }
                })
            }
            Expr::Value(v) if matches!(v.value, Value::Boolean(_)) => {
                let n = self.table.len();
                let all = Bitset::full(n);
                let none = Bitset::empty(n);
                Ok(if v.value == Value::Boolean(true) {
                    Truth { t: all, f: none }
                } else {
                    Truth { t: none, f: all }
                })
            }
            _ => {
                let key = expr.to_string();
                if let Some(hit) = self.leaves.get(&key) {
                    return Ok(hit.clone());
                }
                let truth = self.leaf(expr)?;
                self.leaves.insert(key, truth.clone());
                Ok(truth)
            }
        }
    }

    fn leaf(&mut self, expr: &Expr) -> Result<Truth, FilterError> {
        match expr {
            Expr::BinaryOp { left, op, right } => {
                let op = comparison(op).ok_or_else(|| {
                    FilterError::at(
                        expr.span().start,
                        format!("unsupported operator {op}; use = != <> < <= > >= AND OR NOT"),
                    )
                })?;
                let (ident, literal, op) = match (left.as_ref(), right.as_ref()) {
                    (Expr::Identifier(id), other) => (id, literal(other)?, op),
                    (other, Expr::Identifier(id)) => (id, literal(other)?, op.flipped()),
                    _ => {
                        return Err(FilterError::at(
                            expr.span().start,
                            "a comparison needs an attribute on one side and a value on the other",
                        ));
                    }
                };
                self.compare(ident, op, &literal)
            }
            Expr::InList {
                expr: inner,
                list,
                negated,
            } => {
                let ident = identifier(inner)?;
                let literals = list.iter().map(literal).collect::<Result<Vec<_>, _>>()?;
                let mut acc: Option<Truth> = None;
                for lit in &literals {
                    let one = self.compare(ident, Cmp::Eq, lit)?;
                    acc = Some(match acc {
                        None => one,
                        Some(a) => Truth {
                            t: a.t.or(&one.t),
                            f: a.f.and(&one.f),
                        },
                    });
                }
                let truth = acc.ok_or_else(|| {
                    FilterError::at(expr.span().start, "IN needs at least one value")
                })?;
                Ok(negate_if(truth, *negated))
            }
            Expr::Between {
                expr: inner,
                negated,
                low,
                high,
            } => {
                let ident = identifier(inner)?;
                let (low, high) = (literal(low)?, literal(high)?);
                let a = self.compare(ident, Cmp::GtEq, &low)?;
                let b = self.compare(ident, Cmp::LtEq, &high)?;
                let truth = Truth {
                    t: a.t.and(&b.t),
                    f: a.f.or(&b.f),
                };
                Ok(negate_if(truth, *negated))
            }
            Expr::IsNull(inner) | Expr::IsNotNull(inner) => {
                let ident = identifier(inner)?;
                let column = self.column(ident)?;
                let missing = match column {
                    Column::Categorical { codes, .. } => {
                        Bitset::from_predicate(codes, |&c| c == MISSING)
                    }
                    Column::Numeric(values) => Bitset::from_predicate(values, |v| v.is_nan()),
                };
                let present = missing.clone().complement();
                let truth = Truth {
                    t: missing,
                    f: present,
                };
                Ok(negate_if(truth, matches!(expr, Expr::IsNotNull(_))))
            }
            Expr::Identifier(id) => Err(FilterError::at(
                id.span.start,
                format!(
                    "'{}' alone is not a condition; compare it, e.g. {} = 'value'",
                    id.value, id.value
                ),
            )),
            other => Err(FilterError::at(
                other.span().start,
                format!(
                    "unsupported expression '{other}'; use comparisons, IN (...), BETWEEN a AND b, IS [NOT] NULL, AND, OR, NOT and parentheses"
                ),
            )),
        }
    }

    fn column(&self, ident: &Ident) -> Result<&'a Column, FilterError> {
        let table: &'a ConsumerTable = self.table;
        table
            .attribute(&ident.value)
            .map(|a| &a.column)
            .ok_or_else(|| {
                let quote_hint = if ident.quote_style == Some('"') {
                    "; text values take single quotes, as in gender = 'F'"
                } else {
                    ""
                };
                FilterError::at(
                    ident.span.start,
                    format!(
                        "unknown attribute '{}'; known attributes: {}{quote_hint}",
                        ident.value,
                        table.known_attributes()
                    ),
                )
            })
    }

    fn compare(&mut self, ident: &Ident, op: Cmp, lit: &Literal) -> Result<Truth, FilterError> {
        let column = self.column(ident)?;
        let at = ident.span.start;
        let n = self.table.len();
        if matches!(lit, Literal::Null) {
            return Err(FilterError::at(
                at,
                format!(
                    "comparing with NULL is never true; write {} IS NULL or IS NOT NULL",
                    ident.value
                ),
            ));
        }
        match (column, lit) {
            (Column::Categorical { codes, dictionary }, Literal::Text(text)) => {
                if !matches!(op, Cmp::Eq | Cmp::NotEq) {
                    return Err(FilterError::at(
                        at,
                        format!(
                            "'{}' is categorical: use = , != or IN with quoted values, not {}",
                            ident.value,
                            op.symbol()
                        ),
                    ));
                }
                let target = dictionary.iter().position(|d| d == text).map(|p| p as u32);
                if target.is_none() {
                    let other_case = dictionary.iter().find(|d| d.eq_ignore_ascii_case(text));
                    self.warnings.push(match other_case {
                        Some(d) => format!(
                            "value '{text}' never occurs in '{}'; values are case-sensitive: did you mean '{d}'?",
                            ident.value
                        ),
                        None => format!(
                            "value '{text}' never occurs in '{}' (known: {})",
                            ident.value,
                            preview(dictionary)
                        ),
                    });
                }
                let equal = match target {
                    Some(code) => Bitset::from_predicate(codes, |&c| c == code),
                    None => Bitset::empty(n),
                };
                let present = Bitset::from_predicate(codes, |&c| c != MISSING);
                let unequal = present.and_not(&equal);
                Ok(if op == Cmp::Eq {
                    Truth {
                        t: equal,
                        f: unequal,
                    }
                } else {
                    Truth {
                        t: unequal,
                        f: equal,
                    }
                })
            }
            (Column::Numeric(values), Literal::Number(x)) => {
                let x = *x;
                let t = Bitset::from_predicate(values, |&v| op.holds(v, x));
                let f = Bitset::from_predicate(values, |&v| !v.is_nan() && !op.holds(v, x));
                Ok(Truth { t, f })
            }
            (Column::Categorical { dictionary, .. }, Literal::Number(x)) => Err(FilterError::at(
                at,
                format!(
                    "'{}' is categorical but is compared with the number {x}; quote the value, e.g. {} = '{x}' (known values: {})",
                    ident.value,
                    ident.value,
                    preview(dictionary)
                ),
            )),
            (Column::Numeric(_), Literal::Text(text)) => Err(FilterError::at(
                at,
                format!(
                    "'{}' is numeric but is compared with the text '{text}'; compare it with a number",
                    ident.value
                ),
            )),
            (_, Literal::Null) => unreachable!("handled above"),
        }
    }
}

fn preview(dictionary: &[String]) -> String {
    let mut shown: Vec<&str> = dictionary.iter().take(12).map(String::as_str).collect();
    if dictionary.len() > 12 {
        shown.push("...");
    }
    shown.join(", ")
}

fn negate_if(truth: Truth, negated: bool) -> Truth {
    if negated {
        Truth {
            t: truth.f,
            f: truth.t,
        }
    } else {
        truth
    }
}

fn identifier(expr: &Expr) -> Result<&Ident, FilterError> {
    match expr {
        Expr::Identifier(id) => Ok(id),
        other => Err(FilterError::at(
            other.span().start,
            format!("expected an attribute name, found '{other}'"),
        )),
    }
}

fn literal(expr: &Expr) -> Result<Literal, FilterError> {
    match expr {
        Expr::Value(v) => match &v.value {
            Value::SingleQuotedString(s) => Ok(Literal::Text(s.clone())),
            Value::Number(n, _) => n
                .parse::<f64>()
                .map(Literal::Number)
                .map_err(|_| FilterError::at(v.span.start, format!("'{n}' is not a number"))),
            Value::Null => Ok(Literal::Null),
            other => Err(FilterError::at(
                v.span.start,
                format!("unsupported value {other}; use 'quoted text' or a number"),
            )),
        },
        Expr::UnaryOp {
            op: op @ (UnaryOperator::Minus | UnaryOperator::Plus),
            expr: inner,
        } => match literal(inner)? {
            Literal::Number(x) if *op == UnaryOperator::Minus => Ok(Literal::Number(-x)),
            Literal::Number(x) => Ok(Literal::Number(x)),
            _ => Err(FilterError::at(expr.span().start, "a sign needs a number")),
        },
        Expr::Identifier(id) if id.quote_style == Some('"') => Err(FilterError::at(
            id.span.start,
            format!(
                "\"{}\" is an attribute name in SQL; text values take single quotes: '{}'",
                id.value, id.value
            ),
        )),
        other => Err(FilterError::at(
            other.span().start,
            format!("expected a value ('quoted text' or a number), found '{other}'"),
        )),
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Cmp {
    Eq,
    NotEq,
    Lt,
    LtEq,
    Gt,
    GtEq,
}

fn comparison(op: &BinaryOperator) -> Option<Cmp> {
    Some(match op {
        BinaryOperator::Eq => Cmp::Eq,
        BinaryOperator::NotEq => Cmp::NotEq,
        BinaryOperator::Lt => Cmp::Lt,
        BinaryOperator::LtEq => Cmp::LtEq,
        BinaryOperator::Gt => Cmp::Gt,
        BinaryOperator::GtEq => Cmp::GtEq,
        _ => return None,
    })
}

impl Cmp {
    /// The same comparison with its sides swapped (`5 < age` is `age > 5`).
    fn flipped(self) -> Cmp {
        match self {
            Cmp::Lt => Cmp::Gt,
            Cmp::LtEq => Cmp::GtEq,
            Cmp::Gt => Cmp::Lt,
            Cmp::GtEq => Cmp::LtEq,
            same => same,
        }
    }

    /// Whether `v op x` holds; false when `v` is missing (`NaN`).
    #[allow(clippy::float_cmp, reason = "the filter asks for exact equality")]
    fn holds(self, v: f64, x: f64) -> bool {
        match self {
            Cmp::Eq => v == x,
            Cmp::NotEq => !v.is_nan() && v != x,
            Cmp::Lt => v < x,
            Cmp::LtEq => v <= x,
            Cmp::Gt => v > x,
            Cmp::GtEq => v >= x,
        }
    }

    fn symbol(self) -> &'static str {
        match self {
            Cmp::Eq => "=",
            Cmp::NotEq => "!=",
            Cmp::Lt => "<",
            Cmp::LtEq => "<=",
            Cmp::Gt => ">",
            Cmp::GtEq => ">=",
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::consumer::Attribute;

    fn table() -> ConsumerTable {
        ConsumerTable {
            ids: Vec::new(),
            id_hashes: Vec::new(),
            unread: Vec::new(),
            lat: vec![0.0; 5],
            lng: vec![0.0; 5],
            attributes: vec![
                Attribute {
                    name: "gender".into(),
                    column: Column::Categorical {
                        codes: vec![0, 1, MISSING, 0, 1],
                        dictionary: vec!["F".into(), "M".into()],
                    },
                },
                Attribute {
                    name: "age".into(),
                    column: Column::Numeric(vec![25.0, 40.0, 30.0, f64::NAN, 50.0]),
                },
            ],
        }
    }

    fn rows(filter: &str) -> Vec<usize> {
        let t = table();
        let bits = Evaluator::new(&t).evaluate(filter).expect("valid filter");
        (0..5).filter(|&i| bits.contains(i)).collect()
    }

    #[test]
    fn three_valued_logic() {
        assert_eq!(rows("gender = 'F'"), vec![0, 3]);
        assert_eq!(rows("gender != 'F'"), vec![1, 4]);
        assert_eq!(rows("NOT gender = 'F'"), vec![1, 4]);
        assert_eq!(rows("gender IS NULL"), vec![2]);
        assert_eq!(rows("age BETWEEN 25 AND 40"), vec![0, 1, 2]);
        assert_eq!(rows("age NOT BETWEEN 25 AND 40"), vec![4]);
        assert_eq!(rows("gender = 'F' OR age > 45"), vec![0, 3, 4]);
        // Row 2: unknown AND false is false, so NOT gives true; row 3: F AND unknown stays unknown.
        assert_eq!(rows("NOT (gender = 'F' AND age < 30)"), vec![1, 2, 4]);
        assert_eq!(rows("gender IN ('F', 'M') AND 30 <= age"), vec![1, 4]);
        assert_eq!(rows("gender NOT IN ('M')"), vec![0, 3]);
        assert_eq!(rows("age <> 25"), vec![1, 2, 4]);
        assert_eq!(rows("age > -1 AND age IS NOT NULL"), vec![0, 1, 2, 4]);
    }

    #[test]
    fn errors_point_at_the_problem() {
        let t = table();
        let mut e = Evaluator::new(&t);
        let err = e.evaluate("age > 3 AND gendr = 'F'").expect_err("unknown");
        assert_eq!(err.column, 13);
        assert!(
            err.message
                .contains("known attributes: age (numeric), gender (categorical)"),
            "{}",
            err.message
        );
        let err = e.evaluate("gender = 1").expect_err("kind");
        assert!(
            err.message
                .contains("categorical but is compared with the number 1"),
            "{}",
            err.message
        );
        let err = e.evaluate("age = 'old'").expect_err("kind");
        assert!(err.message.contains("numeric"), "{}", err.message);
        let err = e.evaluate("gender = \"F\"").expect_err("quotes");
        assert!(err.message.contains("single quotes"), "{}", err.message);
        let err = e.evaluate("age > 3 gender").expect_err("trailing");
        assert_eq!(err.column, 9);
        assert!(e.evaluate("age >").is_err());
    }
}
