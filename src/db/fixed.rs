//! Statements of fixed text, prepared once per connection. diesel prepares every `UPDATE` it
//! builds afresh (a changeset may skip `None` fields, so it cannot trust the text to repeat),
//! and every `sql_query`, and on PostgreSQL that means parsing and planning it again each time.
//! The statements that every pledge makes while it holds the offer's row lock are written here
//! instead, as text with parameters; diesel then keeps each prepared, keyed by its text.

use chrono::NaiveDateTime;
use diesel::backend::Backend;
use diesel::query_builder::{AstPass, Query, QueryFragment, QueryId};
use diesel::serialize::ToSql;
use diesel::sql_types::{BigInt, Integer, Nullable, Text, Timestamp, Untyped};
use diesel::{OptionalExtension, QueryResult, QueryableByName, RunQueryDsl};

use super::DbConnection;
use crate::error::AppError;

/// A parameter of a fixed statement.
#[derive(Debug, Clone, Copy)]
pub enum Param<'a> {
    Text(&'a str),
    OptText(Option<&'a str>),
    BigInt(i64),
    Integer(i32),
    Timestamp(NaiveDateTime),
    OptTimestamp(Option<NaiveDateTime>),
}

/// A statement: its text around its parameters (`parts` has one more entry than `params`).
#[derive(Debug, Clone, Copy)]
pub struct Fixed<'a, const N: usize> {
    pub parts: &'static [&'static str],
    pub params: [Param<'a>; N],
}

impl<const N: usize> Fixed<'_, N> {
    /// Runs the statement; answers the rows it changed.
    pub fn execute(&self, conn: &mut DbConnection) -> Result<usize, AppError> {
        self.check();
        Ok(match conn {
            DbConnection::Postgresql(pg) => RunQueryDsl::execute(*self, pg)?,
            DbConnection::Sqlite(lite) => RunQueryDsl::execute(*self, lite)?,
        })
    }

    /// Runs a statement that answers at most one row of one whole number, named `n` (a
    /// `RETURNING n` or a `SELECT ... AS n`); `None` when it answers no row.
    pub fn first_number(&self, conn: &mut DbConnection) -> Result<Option<i64>, AppError> {
        self.check();
        let row: Option<Number> = match conn {
            DbConnection::Postgresql(pg) => RunQueryDsl::get_result(*self, pg).optional()?,
            DbConnection::Sqlite(lite) => RunQueryDsl::get_result(*self, lite).optional()?,
        };
        Ok(row.map(|row| row.n))
    }

    /// Runs a query; answers its rows, read by column name.
    pub fn read<T>(&self, conn: &mut DbConnection) -> Result<Vec<T>, AppError>
    where
        T: QueryableByName<diesel::pg::Pg> + QueryableByName<diesel::sqlite::Sqlite> + 'static,
    {
        self.check();
        Ok(match conn {
            DbConnection::Postgresql(pg) => RunQueryDsl::load(*self, pg)?,
            DbConnection::Sqlite(lite) => RunQueryDsl::load(*self, lite)?,
        })
    }

    fn check(&self) {
        debug_assert_eq!(
            self.parts.len(),
            N + 1,
            "a fixed statement's text and parameters disagree"
        );
    }
}

#[derive(QueryableByName)]
struct Number {
    #[diesel(sql_type = BigInt)]
    n: i64,
}

impl<const N: usize> Query for Fixed<'_, N> {
    // Rows are read by column name (`QueryableByName`), as for `diesel::sql_query`.
    type SqlType = Untyped;
}

impl<const N: usize> QueryId for Fixed<'_, N> {
    type QueryId = ();
    // No type stands for the text, so diesel keys its prepared statement by the text itself.
    const HAS_STATIC_QUERY_ID: bool = false;
}

impl<DB, const N: usize> QueryFragment<DB> for Fixed<'_, N>
where
    DB: Backend,
    str: ToSql<Text, DB>,
    i64: ToSql<BigInt, DB>,
    i32: ToSql<Integer, DB>,
    NaiveDateTime: ToSql<Timestamp, DB>,
    for<'x> Option<&'x str>: ToSql<Nullable<Text>, DB>,
    Option<NaiveDateTime>: ToSql<Nullable<Timestamp>, DB>,
    DB: diesel::sql_types::HasSqlType<Text>
        + diesel::sql_types::HasSqlType<BigInt>
        + diesel::sql_types::HasSqlType<Integer>
        + diesel::sql_types::HasSqlType<Timestamp>,
{
    fn walk_ast<'b>(&'b self, mut out: AstPass<'_, 'b, DB>) -> QueryResult<()> {
        for (index, part) in self.parts.iter().enumerate() {
            out.push_sql(part);
            match self.params.get(index) {
                Some(Param::Text(value)) => out.push_bind_param::<Text, str>(value)?,
                Some(Param::OptText(value)) => out.push_bind_param::<Nullable<Text>, Option<&str>>(value)?,
                Some(Param::BigInt(value)) => out.push_bind_param::<BigInt, i64>(value)?,
                Some(Param::Integer(value)) => out.push_bind_param::<Integer, i32>(value)?,
                Some(param) => push_param(&mut out, param)?,
                None => {}
            }
        }
        Ok(())
    }
}

impl<Conn, const N: usize> RunQueryDsl<Conn> for Fixed<'_, N> {}

fn push_param<'b, DB>(out: &mut AstPass<'_, 'b, DB>, param: &'b Param<'_>) -> QueryResult<()>
where
    DB: Backend,
    str: ToSql<Text, DB>,
    i64: ToSql<BigInt, DB>,
    i32: ToSql<Integer, DB>,
    NaiveDateTime: ToSql<Timestamp, DB>,
    for<'x> Option<&'x str>: ToSql<Nullable<Text>, DB>,
    Option<NaiveDateTime>: ToSql<Nullable<Timestamp>, DB>,
    DB: diesel::sql_types::HasSqlType<Text>
        + diesel::sql_types::HasSqlType<BigInt>
        + diesel::sql_types::HasSqlType<Integer>
        + diesel::sql_types::HasSqlType<Timestamp>,
{
    match param {
        Param::Text(value) => out.push_bind_param::<Text, str>(value),
        Param::OptText(value) => out.push_bind_param::<Nullable<Text>, Option<&str>>(value),
        Param::BigInt(value) => out.push_bind_param::<BigInt, i64>(value),
        Param::Integer(value) => out.push_bind_param::<Integer, i32>(value),
        Param::Timestamp(value) => out.push_bind_param::<Timestamp, NaiveDateTime>(value),
        Param::OptTimestamp(value) => out.push_bind_param::<Nullable<Timestamp>, Option<NaiveDateTime>>(value),
    }
}

/// A statement over many rows at once (a multi-row `INSERT ... VALUES`, or an `UPDATE ... FROM
/// (VALUES ...) AS v` that reads `v.column1`, `v.column2`, ...: the names both PostgreSQL and
/// SQLite give a `VALUES` list's columns): `head`, then one parenthesised tuple of parameters
/// per row, separated by commas, then `tail`. Its text varies with the number of rows, so it
/// is not kept prepared.
#[derive(Debug, Clone)]
pub struct Rows<'a> {
    pub head: &'static str,
    pub rows: Vec<Vec<Param<'a>>>,
    pub tail: &'static str,
}

impl Rows<'_> {
    /// Runs the statement (nothing when there are no rows); answers the rows it changed.
    pub fn execute(self, conn: &mut DbConnection) -> Result<usize, AppError> {
        if self.rows.is_empty() {
            return Ok(0);
        }
        Ok(match conn {
            DbConnection::Postgresql(pg) => RunQueryDsl::execute(self, pg)?,
            DbConnection::Sqlite(lite) => RunQueryDsl::execute(self, lite)?,
        })
    }
}

impl Query for Rows<'_> {
    type SqlType = Untyped;
}

impl QueryId for Rows<'_> {
    type QueryId = ();
    const HAS_STATIC_QUERY_ID: bool = false;
}

impl<DB> QueryFragment<DB> for Rows<'_>
where
    DB: Backend,
    str: ToSql<Text, DB>,
    i64: ToSql<BigInt, DB>,
    i32: ToSql<Integer, DB>,
    NaiveDateTime: ToSql<Timestamp, DB>,
    for<'x> Option<&'x str>: ToSql<Nullable<Text>, DB>,
    Option<NaiveDateTime>: ToSql<Nullable<Timestamp>, DB>,
    DB: diesel::sql_types::HasSqlType<Text>
        + diesel::sql_types::HasSqlType<BigInt>
        + diesel::sql_types::HasSqlType<Integer>
        + diesel::sql_types::HasSqlType<Timestamp>,
{
    fn walk_ast<'b>(&'b self, mut out: AstPass<'_, 'b, DB>) -> QueryResult<()> {
        out.unsafe_to_cache_prepared();
        out.push_sql(self.head);
        for (i, row) in self.rows.iter().enumerate() {
            out.push_sql(if i == 0 { "(" } else { ", (" });
            for (j, param) in row.iter().enumerate() {
                if j > 0 {
                    out.push_sql(", ");
                }
                push_param(&mut out, param)?;
            }
            out.push_sql(")");
        }
        out.push_sql(self.tail);
        Ok(())
    }
}

impl<Conn> RunQueryDsl<Conn> for Rows<'_> {}
