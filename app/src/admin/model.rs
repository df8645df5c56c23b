//! What the admin needs of each model, and the registry of the four models it manages
//! (Django's `admin.site.register`). Views are generic over [`AdminModel`].

use std::collections::BTreeMap;

use diesel::prelude::*;
use diesel::query_dsl::methods::{LimitDsl, OffsetDsl, SelectDsl, ThenOrderDsl};
use diesel::sql_types::Text;

use super::models;
use super::session::StaffSession;
use crate::db::{DbConnection, DbError};
use crate::forms::{Choices, Cleaned, FieldSpec, Form, FormErrors};

/// A trigram index a search looks in (SQLite): `table`'s (`<table>_search`, migration
/// `2026-12-02-000003_search_index`), over its `columns` (all when `None`); `through` a
/// foreign key `(list table, its column)` when the index belongs to the table that key
/// points to. All names are this crate's constants.
#[derive(Debug, Clone, Copy)]
pub struct SearchIndex {
    pub table: &'static str,
    pub columns: Option<&'static str>,
    pub through: Option<(&'static str, &'static str)>,
}

impl SearchIndex {
    /// `table`'s own index, over `columns` (all when `None`).
    pub const fn of(table: &'static str, columns: Option<&'static str>) -> SearchIndex {
        SearchIndex {
            table,
            columns,
            through: None,
        }
    }

    /// `table`'s index over `columns`, reached from `list_table` through its `foreign_key`.
    pub const fn through(
        table: &'static str,
        columns: &'static str,
        list_table: &'static str,
        foreign_key: &'static str,
    ) -> SearchIndex {
        SearchIndex {
            table,
            columns: Some(columns),
            through: Some((list_table, foreign_key)),
        }
    }
}

/// On SQLite, the search as a lookup in trigram indexes: `id_column IN (SELECT rowid FROM
/// <table>_search WHERE <table>_search MATCH ? UNION …)`, one branch per index (one that
/// belongs to another table is reached through the foreign key), the term bound as a
/// parameter. One `IN` over a `UNION`, not an `OR` of `IN`s: SQLite reads the matches'
/// ids in order and looks up each row, where an `OR` reads every row of the list.
/// `None` where the search reads the rows instead (see [`ListQuery::search_phrase`]).
/// `id_column` is this crate's constant.
pub fn in_search_index<QS: 'static>(
    query: &ListQuery,
    id_column: &'static str,
    indexes: &[SearchIndex],
) -> Option<
    Box<dyn diesel::BoxableExpression<QS, crate::db::connection::MultiBackend, SqlType = diesel::sql_types::Bool>>,
> {
    // Each branch is SQL before its bound phrase and after it (binds chain by type, so
    // the one or two branches a list has are spelled out).
    let branch = |index: &SearchIndex| -> Option<(String, String, &'static str)> {
        let phrase = query.search_phrase(index.columns)?;
        let table = index.table;
        let matches = format!("SELECT rowid FROM {table}_search WHERE {table}_search MATCH ");
        Some(match index.through {
            None => (matches, phrase, ""),
            Some((list_table, foreign_key)) => (
                format!("SELECT id FROM {list_table} WHERE {foreign_key} IN ({matches}"),
                phrase,
                ")",
            ),
        })
    };
    let sql = |text: &str| diesel::dsl::sql::<diesel::sql_types::Bool>(text);
    Some(match indexes {
        [one] => {
            let (before, phrase, after) = branch(one)?;
            Box::new(
                sql(&format!("{id_column} IN ({before}"))
                    .bind::<Text, _>(phrase)
                    .sql(&format!("{after}{})", query.probe_limit())),
            )
        }
        [one, two] => {
            let (before, phrase, after) = branch(one)?;
            let (before_two, phrase_two, after_two) = branch(two)?;
            Box::new(
                sql(&format!("{id_column} IN ({before}"))
                    .bind::<Text, _>(phrase)
                    .sql(&format!("{after} {} {before_two}", query.union()))
                    .bind::<Text, _>(phrase_two)
                    .sql(&format!("{after_two}{})", query.probe_limit())),
            )
        }
        _ => return None,
    })
}

/// On PostgreSQL, a search over a one-to-one join as one `IN`: the rows of `table` whose
/// `column`, or whose `other_table` row's (through `foreign_key`) `other_column`, holds the
/// term (`lower(…) LIKE`, the pattern bound twice), each half answered from its own table's
/// trigram index; an `OR` across the join is answered by joining every row. All names are
/// this crate's constants.
pub fn in_joined_search<QS: 'static>(
    query: &ListQuery,
    (table, column): (&'static str, &'static str),
    foreign_key: &'static str,
    (other_table, other_column): (&'static str, &'static str),
) -> Box<dyn diesel::BoxableExpression<QS, crate::db::connection::MultiBackend, SqlType = diesel::sql_types::Bool>> {
    let pattern = query.pattern();
    Box::new(
        diesel::dsl::sql::<diesel::sql_types::Bool>(&format!(
            "{table}.id IN (SELECT id FROM {table} WHERE lower({column}) LIKE "
        ))
        .bind::<Text, _>(pattern.clone())
        .sql(&format!(
            " ESCAPE '\\' UNION ALL SELECT t.id FROM {table} t JOIN {other_table} o ON o.id = t.{foreign_key} \
             WHERE lower(o.{other_column}) LIKE "
        ))
        .bind::<Text, _>(pattern)
        .sql(&format!(" ESCAPE '\\'{})", query.probe_limit())),
    )
}

/// Rows a list page shows (Django's `list_per_page`).
pub const PER_PAGE: i64 = 100;

diesel::define_sql_function! {
    /// SQL `lower()`, on both backends (PostgreSQL's LIKE is case-sensitive).
    fn lower(x: Text) -> Text;
}

diesel::define_sql_function! {
    /// SQLite's `instr(haystack, needle)`: where `needle` starts in `haystack`, 1-based; 0
    /// when it is not there.
    fn instr(haystack: Text, needle: Text) -> diesel::sql_types::Integer;
}

diesel::define_sql_function! {
    /// PostgreSQL's `strpos(haystack, needle)`, as [`instr`]: no trigram index answers it,
    /// so a search written with it reads the rows the query walks, one by one.
    fn strpos(haystack: Text, needle: Text) -> diesel::sql_types::Integer;
}

/// The search term in `$column`, case folded, checked row by row (never through an
/// index: see [`ListQuery::scan`]), as a boxed condition: SQLite's `instr`, PostgreSQL's
/// `strpos`.
#[macro_export]
macro_rules! contains {
    ($query:expr, $column:expr) => {{
        use diesel::ExpressionMethods;
        let term = $query.term();
        let found: Box<
            dyn diesel::BoxableExpression<_, $crate::db::connection::MultiBackend, SqlType = diesel::sql_types::Bool>,
        > = if $query.sqlite {
            Box::new($crate::admin::model::instr($crate::admin::model::lower($column), term).gt(0))
        } else {
            Box::new($crate::admin::model::strpos($crate::admin::model::lower($column), term).gt(0))
        };
        found
    }};
}

/// Names and shape of a model in the admin.
#[derive(Debug)]
pub struct ModelMeta {
    pub app: &'static str,
    pub app_label: &'static str,
    pub name: &'static str,
    pub verbose: &'static str,
    pub plural: &'static str,
    /// Column headers of the list page.
    pub columns: &'static [&'static str],
    pub add_fields: &'static [FieldSpec],
    pub change_fields: &'static [FieldSpec],
    /// What the search box looks in, for its help text.
    pub search_help: &'static str,
    /// Only superusers may see and change it (users, groups: no staff can promote itself).
    pub superuser_only: bool,
    /// The filter sidebar (Django's `list_filter`).
    pub filters: &'static [ListFilter],
}

/// A filter of the list's sidebar: one column's distinct values, each with how many rows
/// have it, picked through `?<field>__exact=<value>` as Django's admin names it.
#[derive(Debug)]
pub struct ListFilter {
    pub field: &'static str,
    /// "By state".
    pub title: &'static str,
    /// A filter of fixed values, each with its label, in order (Django's
    /// `BooleanFieldListFilter`: `1` "Yes", `0` "No"); `None`: the column's own values.
    /// A value outside them is no filter at all.
    pub choices: Option<&'static [(&'static str, &'static str)]>,
}

/// A yes/no filter's values and labels, as Django's admin names them (`?is_staff__exact=1`).
pub const YES_NO: &[(&str, &str)] = &[("1", "Yes"), ("0", "No")];

/// What a list filter does in SQL, kept beside its [`ListFilter`] in the model's table
/// (one per filter, in the same order, or the build fails: as sort keys are): the
/// condition for a picked value, and its values' counts over the list narrowed by the
/// given conditions (SQL `GROUP BY`, [`value_counts!`](crate::value_counts)).
pub struct FilterKey<C> {
    pub condition: fn(String) -> C,
    pub counts: fn(&mut DbConnection, Vec<C>) -> Result<ValueCounts, DbError>,
}

/// Each value of a column with how many rows have it.
pub type ValueCounts = Vec<(String, i64)>;

/// The conditions of the filters `query` picked, each made by its key.
pub fn picked<C>(query: &ListQuery, filters: &[ListFilter], keys: &[FilterKey<C>]) -> Vec<C> {
    filters
        .iter()
        .zip(keys)
        .filter_map(|(filter, key)| Some((key.condition)(query.filter(filter.field)?.to_owned())))
        .collect()
}

/// The sidebar's filters of a list over `table`: each filter's values, with their counts
/// over the list as searched and narrowed by the other filters (`conditions` of the query
/// without that filter) when the table is small or `query.facets` asks; else its first
/// values from the column's index, uncounted.
pub fn facets_of<C>(
    conn: &mut DbConnection,
    query: &ListQuery,
    table: &'static str,
    filters: &'static [ListFilter],
    keys: &[FilterKey<C>],
    conditions: impl Fn(&ListQuery) -> Vec<C>,
) -> Result<Vec<Facet>, DbError> {
    if !query.facets && !is_small(conn, table)? {
        return filters
            .iter()
            .map(|filter| match filter.choices {
                Some(choices) => Ok(uncounted(
                    filter.field,
                    choices.iter().map(|(v, _)| (*v).to_owned()).collect(),
                )),
                None => Ok(uncounted(filter.field, distinct_values(conn, table, filter.field)?)),
            })
            .collect();
    }
    filters
        .iter()
        .zip(keys)
        .map(|(filter, key)| {
            let counts = (key.counts)(conn, conditions(&query.without(filter.field)))?;
            Ok(match filter.choices {
                // Every fixed value, in its order, with its count (0 when no row has it).
                Some(choices) => Facet {
                    labels: Vec::new(),
                    field: filter.field,
                    counts: choices
                        .iter()
                        .map(|(value, _)| {
                            let n = counts.iter().find(|(v, _)| v == value).map_or(0, |(_, n)| *n);
                            ((*value).to_owned(), Some(n))
                        })
                        .collect(),
                },
                None => facet(filter.field, counts),
            })
        })
        .collect()
}

/// A related row edited on a model's own form (Django's `StackedInline`, here for the
/// one-to-one its foreign key `field` names): on the add form, a new row made with the
/// parent and chosen by it; on the change form, the row the parent has. Its inputs are
/// named `<field>-0-<name>`, and it is saved in the parent's transaction, with its own
/// history entry, when the viewer may add (or change) the related model.
pub struct Inline {
    /// The parent's foreign key (`address`).
    pub field: &'static str,
    pub app: &'static str,
    pub model: &'static str,
}

impl Inline {
    /// `address-0-`: the inline's inputs' prefix, as Django's formset names them.
    pub fn prefix(&self) -> String {
        format!("{}-0-", self.field)
    }
}

/// A filter's choices on the current list: each value, with how many rows of the list
/// (searched, and narrowed by the other filters) have it when counts are shown.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Facet {
    pub field: &'static str,
    pub counts: Vec<(String, Option<i64>)>,
    /// What the sidebar shows for a value that is a row's id (a group's name for its id);
    /// empty for a column's own values and for fixed choices, which carry their labels.
    pub labels: Vec<(String, String)>,
}

impl ModelMeta {
    /// The model's list ([`super::urls::list`]).
    pub fn url(&self) -> String {
        super::urls::list(self)
    }

    /// The model as the history names it: `app.model`.
    pub fn content_type(&self) -> String {
        format!("{}.{}", self.app, self.name)
    }
}

/// A list page request: search text, 1-based page, the sort column (0-based,
/// descending), and the filters picked in the sidebar (field, value).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ListQuery {
    pub search: String,
    pub page: i64,
    pub sort: Option<(usize, bool)>,
    pub filters: Vec<(&'static str, String)>,
    /// `_facets=True`: the filters' counts, however large the table.
    pub facets: bool,
    /// The database is SQLite, whose search reads its trigram index (see
    /// [`in_search_index`]); set by [`ListQuery::on`].
    pub sqlite: bool,
    /// The search is checked row by row on the rows the page's order walks, not looked
    /// up in an index: [`paginate`] sets it for a term too common for the index to pay
    /// (more than [`SEARCH_COUNT`] matches), where a walk down the newest rows meets a
    /// page of matches within a few thousand and the index would read every match.
    pub scan: bool,
    /// The search's index lookup stops at this many matches (duplicates across its
    /// branches kept, so it streams): [`paginate`]'s probe of how common the term is.
    pub probe: Option<i64>,
}

impl ListQuery {
    /// The value picked for `field`'s filter, if any.
    pub fn filter(&self, field: &str) -> Option<&str> {
        self.filters.iter().find(|(f, _)| *f == field).map(|(_, v)| v.as_str())
    }

    /// This query without `field`'s filter (what that filter's counts are taken over).
    pub fn without(&self, field: &str) -> ListQuery {
        ListQuery {
            filters: self.filters.iter().filter(|(f, _)| *f != field).cloned().collect(),
            ..self.clone()
        }
    }

    /// This query as run on `conn`.
    pub fn on(&self, conn: &DbConnection) -> ListQuery {
        ListQuery {
            sqlite: matches!(conn, DbConnection::Sqlite(_)),
            ..self.clone()
        }
    }

    /// The search as an FTS5 query of a trigram index, `"term"` (its quotes doubled), after
    /// `columns : ` when given; `None` when the search does not go through the index: on
    /// PostgreSQL, without a search, or for a term shorter than three characters, which
    /// trigrams cannot find.
    pub fn search_phrase(&self, columns: Option<&str>) -> Option<String> {
        let term = self.search.trim();
        if !self.sqlite || self.scan || term.chars().count() < 3 {
            return None;
        }
        let phrase = format!("\"{}\"", term.replace('"', "\"\""));
        Some(match columns {
            Some(columns) => format!("{{{columns}}} : {phrase}"),
            None => phrase,
        })
    }

    /// Whether the list is searched.
    pub fn is_searching(&self) -> bool {
        !self.search.trim().is_empty()
    }

    /// The search term as [`contains!`](crate::contains) looks for it: trimmed, lower-cased.
    pub fn term(&self) -> String {
        self.search.trim().to_lowercase()
    }

    /// ` LIMIT n` for a probe's index lookup (see [`ListQuery::probe`]), else nothing.
    pub fn probe_limit(&self) -> String {
        self.probe.map(|n| format!(" LIMIT {n}")).unwrap_or_default()
    }

    /// How an index lookup's branches are joined: `UNION ALL` for a probe (no duplicate
    /// removal, which would read every match before the first), else `UNION`.
    pub fn union(&self) -> &'static str {
        if self.probe.is_some() {
            "UNION ALL"
        } else {
            "UNION"
        }
    }

    /// Whether the search is a `LIKE` that PostgreSQL answers from its trigram indexes
    /// (on PostgreSQL, unless checked row by row); else, where no index of SQLite's
    /// answers it, [`contains!`](crate::contains).
    pub fn like_through_index(&self) -> bool {
        !self.sqlite && !self.scan
    }

    /// This query with its search checked row by row (see [`ListQuery::scan`]).
    pub fn scanning(&self) -> ListQuery {
        ListQuery {
            scan: true,
            ..self.clone()
        }
    }

    /// Whether the list is narrowed at all (a search or a filter): an unnarrowed count or
    /// facet reads the table as it is.
    pub fn is_narrowed(&self) -> bool {
        !self.search.trim().is_empty() || !self.filters.is_empty()
    }

    /// `LIKE` pattern matching the search text anywhere, lower-cased, wildcards escaped.
    pub fn pattern(&self) -> String {
        let mut escaped = String::with_capacity(self.search.len() + 2);
        escaped.push('%');
        for c in self.search.trim().to_lowercase().chars() {
            if matches!(c, '%' | '_' | '\\') {
                escaped.push('\\');
            }
            escaped.push(c);
        }
        escaped.push('%');
        escaped
    }

    pub fn offset(&self) -> i64 {
        (self.page.max(1) - 1) * PER_PAGE
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ListRow {
    pub id: i32,
    pub cells: Vec<String>,
}

#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct ListPage {
    pub rows: Vec<ListRow>,
    pub total: i64,
    /// `total` is a floor, not a count: the search matched more than [`SEARCH_COUNT`]
    /// rows, and the list says "5000+" (Django's `show_full_result_count = False` spirit:
    /// an exact count of a common term reads every match).
    pub more: bool,
}

/// A list column's sort: the query ordered by that column (ascending, or descending when
/// asked) after whatever order it had. Each model keeps one per column, in a table.
pub type SortKey<Q> = fn(Q, bool) -> Q;

/// `query` ordered by `column` next, ascending or descending.
pub fn by<Q, C>(query: Q, column: C, descending: bool) -> Q
where
    C: diesel::ExpressionMethods,
    Q: ThenOrderDsl<diesel::dsl::Asc<C>, Output = Q> + ThenOrderDsl<diesel::dsl::Desc<C>, Output = Q>,
{
    if descending {
        ThenOrderDsl::then_order_by(query, column.desc())
    } else {
        ThenOrderDsl::then_order_by(query, column.asc())
    }
}

/// The id column of a list, as [`paginate`] uses it (made by [`ids!`](crate::ids)).
pub struct Ids<Q> {
    /// The last sort of every list, by id, so pages are stable: `(query, descending,
    /// through_index)`. Without the index (`id + 0`) when the list's rows come from a
    /// search's index, so the database sorts the rows the search found instead of walking
    /// the whole primary key backwards in the hope of meeting them (PostgreSQL chose that
    /// walk for a rare term: two seconds over a million rows).
    pub order: fn(Q, bool, bool) -> Q,
    /// How many rows the query matches, up to `limit` (it reads their ids, no more).
    pub count_to: fn(&mut DbConnection, Q, i64) -> Result<i64, DbError>,
    /// The id `rows` rows in from the table's newest end (oldest when not `descending`),
    /// read from the primary key's index; `None` when the table is no longer than that.
    pub band: fn(&mut DbConnection, i64, bool) -> Result<Option<i32>, DbError>,
    /// The query's rows from that id to the end it counted from.
    pub within: fn(Q, i32, bool) -> Q,
}

/// The [`Ids`] of a model whose table is `$table` and id column `$id`.
#[macro_export]
macro_rules! ids {
    ($table:expr, $id:expr) => {
        $crate::admin::model::Ids {
            order: |q, descending, through_index| {
                if through_index {
                    $crate::admin::model::by(q, $id, descending)
                } else {
                    $crate::admin::model::by(q, $id + 0, descending)
                }
            },
            count_to: |conn, q, limit| {
                use diesel::prelude::*;
                let ids: Vec<i32> = q.select($id).limit(limit).load(conn)?;
                Ok(i64::try_from(ids.len()).unwrap_or(i64::MAX))
            },
            band: |conn, rows, descending| {
                use diesel::prelude::*;
                let ids = $table.select($id).offset(rows).limit(1).into_boxed();
                let ids = if descending {
                    ids.order($id.desc())
                } else {
                    ids.order($id.asc())
                };
                Ok(ids.first::<i32>(conn).optional()?)
            },
            within: |q, from, descending| {
                use diesel::prelude::*;
                if descending {
                    q.filter($id.ge(from))
                } else {
                    q.filter($id.le(from))
                }
            },
        }
    };
}

/// How a list counts its rows: an unnarrowed list as the rows of its `table`, as
/// [`crate::db::counts::rows`] keeps them (a list that joins another table counts its own
/// table alone: the join is one-to-one and required, so the count is the same, without a
/// million lookups into the other table); a list narrowed by filters alone through
/// `filtered` where the model gives one (its filters' columns are its table's, so the
/// join can go there too), else by counting the list.
#[derive(Clone, Copy)]
pub struct Counted {
    pub table: &'static str,
    pub filtered: Option<FilteredCount>,
}

/// A model's own count of its list narrowed by filters alone (see [`Counted`]).
pub type FilteredCount = fn(&mut DbConnection, &ListQuery) -> Result<i64, DbError>;

impl Counted {
    pub const fn table(table: &'static str) -> Counted {
        Counted { table, filtered: None }
    }
}

/// A search that matches more rows than this is *common*: its list says "2000+ results"
/// instead of reading every match to count them (Django's `show_full_result_count =
/// False` in spirit), and its newest-first pages are looked for row by row among the
/// newest rows first (see [`paginate`]). A rarer term is looked up in the index, every
/// match read, counted and sorted: at most this many.
pub const SEARCH_COUNT: i64 = 2_000;

/// How many of the newest rows a common term's page is looked for in, per page asked
/// (see [`paginate`]).
pub const SEARCH_WALK: i64 = 20_000;

/// One page of a list (Django's `Paginator`; crates.io's `Paginate` is the model): how
/// many rows `filtered(query)` matches, and the asked page of it sorted by the asked
/// column's key (newest first otherwise), then by id in the same direction (`ids.order`,
/// so pages are stable; Django breaks ties by `-pk` whatever the column's direction, which
/// no single index serves both ways), its rows read by `load`.
///
/// A search is first probed: the index's first [`SEARCH_COUNT`] + 1 matches, no more.
/// A rarer term is counted, and its page read, through the index. A common term is not
/// counted; in the default (newest-first) order its page is read by walking the primary
/// key down through the newest [`SEARCH_WALK`] rows per page asked, each checked row by
/// row ([`ListQuery::scan`]): a term in 3 % of the rows fills a page within 3 400 rows,
/// where the index would read, and sort, 30 000 matches. A page that the walk does not
/// fill (the term's rows are old ones, or it is in under 0.5 % of them), and any page
/// sorted by a column, is read through the index: every match, sorted.
///
/// A page in the back half of a counted list is read from the other end: the order
/// reversed, the rows after it skipped, then turned round. So the last page of a million
/// rows skips nothing, and no page skips more than half the list.
pub fn paginate<Q>(
    conn: &mut DbConnection,
    query: &ListQuery,
    filtered: impl Fn(&ListQuery) -> Q,
    sort_keys: &[SortKey<Q>],
    ids: Ids<Q>,
    counted: Counted,
    load: impl Fn(&mut DbConnection, Q) -> Result<Vec<ListRow>, DbError>,
) -> Result<ListPage, DbError>
where
    Q: SelectDsl<diesel::dsl::CountStar> + LimitDsl<Output = Q> + OffsetDsl<Output = Q>,
    diesel::dsl::Select<Q, diesel::dsl::CountStar>:
        diesel::query_dsl::LoadQuery<'static, DbConnection, i64> + RunQueryDsl<DbConnection>,
{
    let count = |conn: &mut DbConnection, query: &ListQuery| -> Result<i64, DbError> {
        Ok(SelectDsl::select(filtered(query), diesel::dsl::count_star()).get_result(conn)?)
    };
    let probe = ListQuery {
        probe: Some(SEARCH_COUNT + 1),
        ..query.clone()
    };
    let chosen = query
        .sort
        .and_then(|(column, descending)| Some((*sort_keys.get(column)?, descending)));
    let (total, more) = if !query.is_searching() {
        let total = match (query.is_narrowed(), counted.filtered) {
            (false, _) => crate::db::counts::rows(conn, counted.table)?,
            (true, Some(own)) => own(conn, query)?,
            (true, None) => count(conn, query)?,
        };
        (total, false)
    } else if (ids.count_to)(conn, filtered(&probe), SEARCH_COUNT + 1)? > SEARCH_COUNT {
        // A common term, in the newest-first order: its page is looked for among the
        // newest rows, row by row, and is usually there.
        if chosen.is_none() {
            let rows = SEARCH_WALK * query.page.max(1);
            let walked = match (ids.band)(conn, rows, true)? {
                Some(from) => (ids.within)(filtered(&query.scanning()), from, true),
                None => filtered(&query.scanning()),
            };
            let page = OffsetDsl::offset(
                LimitDsl::limit((ids.order)(walked, true, true), PER_PAGE),
                query.offset(),
            );
            let rows = load(conn, page)?;
            if rows.len() as i64 == PER_PAGE {
                return Ok(ListPage {
                    rows,
                    total: SEARCH_COUNT,
                    more: true,
                });
            }
            // Not enough of its matches among the newest rows: read them all from the index.
        }
        (SEARCH_COUNT, true)
    } else {
        (count(conn, query)?, false)
    };
    let window = if more {
        Window::front(query.offset())
    } else {
        Window::of(query.offset(), total)
    };
    let flip = window.reversed;
    // A search's rows come from its index, unordered.
    let through_index = !query.is_searching();
    let sorted = match chosen {
        // Ties go the column's way, so a column's index (its value, then the id) reads a
        // page straight off, in either direction.
        Some((key, descending)) => (ids.order)(
            key(filtered(query), descending != flip),
            descending != flip,
            through_index,
        ),
        None => (ids.order)(filtered(query), !flip, through_index),
    };
    let mut rows = load(
        conn,
        OffsetDsl::offset(LimitDsl::limit(sorted, window.limit), window.offset),
    )?;
    if flip {
        rows.reverse();
    }
    Ok(ListPage { rows, total, more })
}

/// Which rows a page reads: from the front (`offset` rows skipped), or, for a page in the
/// back half of the list, from the back in reversed order.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Window {
    pub offset: i64,
    pub limit: i64,
    pub reversed: bool,
}

impl Window {
    /// The page that starts `offset` rows into a list of unknown length, read from the front.
    pub fn front(offset: i64) -> Window {
        Window {
            offset,
            limit: PER_PAGE,
            reversed: false,
        }
    }

    /// The page that starts `offset` rows into a list of `total`.
    pub fn of(offset: i64, total: i64) -> Window {
        if offset > total / 2 && offset < total {
            let limit = (total - offset).min(PER_PAGE);
            Window {
                offset: total - offset - limit,
                limit,
                reversed: true,
            }
        } else {
            Window::front(offset)
        }
    }
}

/// The most values a filter of the sidebar lists: with counts, the most common ones;
/// without, the first in value order (a column of a million rows can hold as many values;
/// Django would list them all).
pub const FACET_VALUES: i64 = 50;

/// Up to this many rows in a model's table, its filters show their counts (a `GROUP BY`
/// over the list costs a few milliseconds); past it, only when asked with `_facets=True`
/// (Django 5's "Show counts", `ModelAdmin.show_facets = ShowFacets.ALLOW`), as the count
/// reads every row of the list.
pub const FACET_COUNT_ROWS: i64 = 100_000;

/// A filter's values with their counts, as SQL gives them (the most common first), in
/// value order.
pub fn facet(field: &'static str, counts: Vec<(String, i64)>) -> Facet {
    let mut counts: Vec<(String, Option<i64>)> = counts.into_iter().map(|(v, n)| (v, Some(n))).collect();
    counts.sort();
    Facet {
        field,
        counts,
        labels: Vec::new(),
    }
}

/// A filter's values without counts.
pub fn uncounted(field: &'static str, values: Vec<String>) -> Facet {
    Facet {
        field,
        counts: values.into_iter().map(|v| (v, None)).collect(),
        labels: Vec::new(),
    }
}

#[derive(QueryableByName)]
struct Value {
    #[diesel(sql_type = Text)]
    value: String,
}

/// The first [`FACET_VALUES`] distinct values of `column` of `table`, in order, read from
/// the column's index by a loose index scan (one index seek per value, not a pass over a
/// million rows). Both are this crate's constants, never input.
pub fn distinct_values(conn: &mut DbConnection, table: &str, column: &str) -> Result<Vec<String>, DbError> {
    let rows: Vec<Value> = diesel::sql_query(format!(
        "WITH RECURSIVE v(value, n) AS ( \
             SELECT min({column}), 1 FROM {table} \
             UNION ALL \
             SELECT (SELECT min({column}) FROM {table} WHERE {column} > v.value), v.n + 1 \
             FROM v WHERE v.value IS NOT NULL AND v.n < {FACET_VALUES} \
         ) SELECT value FROM v WHERE value IS NOT NULL"
    ))
    .load(conn)?;
    Ok(rows.into_iter().map(|r| r.value).collect())
}

/// Whether `table` holds at most [`FACET_COUNT_ROWS`] rows.
pub fn is_small(conn: &mut DbConnection, table: &str) -> Result<bool, DbError> {
    Ok(crate::db::counts::rows(conn, table)? <= FACET_COUNT_ROWS)
}

/// How many rows have each value of `$column` (SQL `GROUP BY`, the [`FACET_VALUES`]
/// most common) among the rows of `$source` (a table or a join) that meet every one of
/// `$conditions` (the list's search and filters, as boxed expressions).
#[macro_export]
macro_rules! value_counts {
    ($conn:expr, $source:expr, $column:expr, $conditions:expr) => {{
        use diesel::prelude::*;
        let grouped = $source
            .group_by($column)
            .select(($column, diesel::dsl::count_star()))
            .order((diesel::dsl::count_star().desc(), $column))
            .limit($crate::admin::model::FACET_VALUES)
            .into_boxed();
        $conditions
            .into_iter()
            .fold(grouped, |grouped, condition| grouped.filter(condition))
            .load::<(String, i64)>($conn)
    }};
}

/// Why a save did not happen.
#[derive(Debug, thiserror::Error)]
pub enum SaveError {
    #[error("the form has errors")]
    Invalid(FormErrors),
    #[error(transparent)]
    Database(#[from] DbError),
    #[error(transparent)]
    Password(#[from] crate::accounts::password::HashError),
    #[error("no randomness for a token: {0}")]
    Random(#[from] getrandom::Error),
}

impl From<diesel::result::Error> for SaveError {
    fn from(err: diesel::result::Error) -> Self {
        SaveError::Database(DbError::Query(err))
    }
}

/// The submit button a change form was sent with (Django's three).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Pressed {
    Save,
    AddAnother,
    Continue,
}

impl Pressed {
    pub fn of(form: &Form) -> Pressed {
        if form.has("_addanother") {
            Pressed::AddAnother
        } else if form.has("_continue") {
            Pressed::Continue
        } else {
            Pressed::Save
        }
    }

    /// Where Django's admin goes next, for this button, after saving object `id`.
    pub fn location(self, meta: &ModelMeta, id: i32) -> String {
        match self {
            Pressed::Save => meta.url(),
            Pressed::AddAnother => super::urls::add(meta),
            Pressed::Continue => super::urls::change(meta, id),
        }
    }
}

/// A page of one object besides its change and delete pages, at
/// `/admin/<app>/<model>/<id>/<slug>/` (Django's `ModelAdmin.get_urls`): a form whose
/// valid submission runs [`ObjectAction::run`]. The user's password form is one.
pub trait ObjectAction: Sync {
    fn slug(&self) -> &'static str;
    /// The link to it on the change form, and the text beside the link.
    fn link(&self) -> (&'static str, &'static str);
    /// The page's heading, for the object titled `title`.
    fn heading(&self, title: &str) -> String;
    fn fields(&self) -> &'static [FieldSpec];
    /// Values the rules need besides the submitted ones (the password rules compare
    /// against the username).
    fn prefill(&self, _form: &mut Form, _title: &str) {}
    /// Applies the cleaned form to object `id`, for staff member `actor`; the message to show.
    fn run(
        &self,
        conn: &mut DbConnection,
        id: i32,
        values: &Cleaned,
        actor: &StaffSession,
    ) -> Result<String, SaveError>;
}

pub trait AdminModel: Sync {
    fn meta(&self) -> &'static ModelMeta;
    fn list(&self, conn: &mut DbConnection, query: &ListQuery) -> Result<ListPage, DbError>;
    /// The row as form values, for the change form.
    fn load(&self, conn: &mut DbConnection, id: i32) -> Result<Option<Form>, DbError>;
    /// The row as Django's `__str__` shows it.
    fn describe(&self, conn: &mut DbConnection, id: i32) -> Result<Option<String>, DbError>;
    /// Options of the multiple-choice fields (a foreign key has none: see [`Self::lookup`]).
    fn choices(&self, _conn: &mut DbConnection) -> Result<Choices, DbError> {
        Ok(BTreeMap::new())
    }
    /// Rows that `query`'s search matches, as (id, name), `limit` of them after `offset`,
    /// in the model's order: what a foreign key to this model offers in the admin's
    /// search widget (Django's autocomplete view). Only a model that a foreign key points
    /// to needs one; the others offer nothing.
    fn lookup(
        &self,
        _conn: &mut DbConnection,
        _query: &ListQuery,
        _offset: i64,
        _limit: i64,
    ) -> Result<Vec<(i32, String)>, DbError> {
        Ok(Vec::new())
    }
    /// Cleans `form` into the model's typed add (`id` None) or change form, then inserts or
    /// updates; returns the row's id. A form that does not clean is `SaveError::Invalid`.
    fn save(&self, conn: &mut DbConnection, id: Option<i32>, form: &Form) -> Result<i32, SaveError>;
    /// What deleting the row deletes with it ("Letting: …"), each with the registered
    /// model it is a row of (whose delete permission the deletion then needs).
    fn cascades(&self, _conn: &mut DbConnection, _id: i32) -> Result<Vec<Cascade>, DbError> {
        Ok(Vec::new())
    }
    fn delete(&self, conn: &mut DbConnection, id: i32) -> Result<bool, DbError>;
    /// The sidebar's filters, one per `meta().filters` entry, in that order: each
    /// column's values, with their counts on the list `query` asks for when the table is
    /// small or `query.facets` asks for them.
    fn facets(&self, _conn: &mut DbConnection, _query: &ListQuery) -> Result<Vec<Facet>, DbError> {
        Ok(Vec::new())
    }

    // Hooks, as Django's `ModelAdmin` has them; the defaults are Django's defaults.

    /// Where to go after adding object `id` with `pressed` (Django's `response_add`).
    fn after_add(&self, pressed: Pressed, id: i32) -> String {
        pressed.location(self.meta(), id)
    }
    /// Where to go after changing object `id` with `pressed` (Django's `response_change`).
    fn after_change(&self, pressed: Pressed, id: i32) -> String {
        pressed.location(self.meta(), id)
    }
    /// Pages of one object besides change and delete.
    fn actions(&self) -> &'static [&'static dyn ObjectAction] {
        &[]
    }
    /// The related row edited on this model's form, if any (Django's `inlines`).
    fn inline(&self) -> Option<&'static Inline> {
        None
    }
    /// Facts shown on the change form that no form changes (Django's `readonly_fields`).
    fn readonly(&self, _conn: &mut DbConnection, _id: i32) -> Result<Vec<(&'static str, String)>, DbError> {
        Ok(Vec::new())
    }
    /// The object's public page ("View on site", Django's `get_absolute_url`), if it has one.
    fn site_url(&self, _conn: &mut DbConnection, _id: i32) -> Result<Option<String>, DbError> {
        Ok(None)
    }
}

/// A row that goes with a deleted one: its label ("Letting: Cozy loft"), and the
/// registered model it is a row of, `(app, model)`: deleting through it needs that
/// model's delete permission, as Django's `get_deleted_objects` checks. `None` for a
/// link row that is no object of the admin's (a group membership).
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct Cascade {
    pub label: String,
    #[serde(skip)]
    pub model: Option<(&'static str, &'static str)>,
    /// The row's id and repr (`None` for a link row): its deletion gets its own history
    /// entry.
    #[serde(skip)]
    pub row: Option<(i32, String)>,
}

/// The verbose names of the models among `cascades` whose rows `permissions` may not
/// delete, each once, in order: a deletion that would take them is refused.
pub fn lacking_permissions(permissions: &super::permissions::Permissions, cascades: &[Cascade]) -> Vec<&'static str> {
    let mut lacking = Vec::new();
    for (app, name) in cascades.iter().filter_map(|c| c.model) {
        let Some(model) = find(app, name) else { continue };
        let verbose = model.meta().verbose;
        if !permissions.may(model.meta(), super::permissions::Action::Delete) && !lacking.contains(&verbose) {
            lacking.push(verbose);
        }
    }
    lacking
}

/// Every model of the admin, in the index's order.
pub fn registry() -> [&'static dyn AdminModel; 5] {
    [
        &models::group::GROUPS,
        &models::user::USERS,
        &models::address::ADDRESSES,
        &models::letting::LETTINGS,
        &models::profile::PROFILES,
    ]
}

pub fn find(app: &str, name: &str) -> Option<&'static dyn AdminModel> {
    registry()
        .into_iter()
        .find(|m| m.meta().app == app && m.meta().name == name)
}

/// A choice field whose row does not exist (any more): Django's message, beside `field`.
pub fn invalid_choice(field: &str) -> SaveError {
    SaveError::Invalid(FormErrors::field(field, crate::forms::NOT_A_CHOICE))
}

/// A unique-constraint violation as a form error on `field`, anything else as it is.
pub fn unique_violation(err: diesel::result::Error, field: &str, message: &str) -> SaveError {
    match err {
        diesel::result::Error::DatabaseError(diesel::result::DatabaseErrorKind::UniqueViolation, _) => {
            SaveError::Invalid(FormErrors::field(field, message))
        }
        other => other.into(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn search_patterns_escape_wildcards() {
        let query = ListQuery {
            search: " 50%_Off\\ ".into(),
            page: 1,
            ..ListQuery::default()
        };
        assert_eq!(query.pattern(), "%50\\%\\_off\\\\%");
        assert_eq!(
            ListQuery {
                page: 3,
                ..ListQuery::default()
            }
            .offset(),
            200
        );
        assert_eq!(ListQuery::default().offset(), 0);
    }

    #[test]
    fn searches_of_three_characters_or_more_go_through_sqlites_index() {
        let query = |search: &str, sqlite: bool| ListQuery {
            search: search.into(),
            sqlite,
            ..ListQuery::default()
        };
        assert_eq!(query(" cozy ", true).search_phrase(None).as_deref(), Some("\"cozy\""));
        assert_eq!(
            query("say \"hi\"", true).search_phrase(Some("street")).as_deref(),
            Some("{street} : \"say \"\"hi\"\"\"")
        );
        assert_eq!(query("ab", true).search_phrase(None), None, "too short for trigrams");
        assert_eq!(
            query("ü€x", true).search_phrase(None).as_deref(),
            Some("\"ü€x\""),
            "characters, not bytes"
        );
        assert_eq!(
            query("cozy", false).search_phrase(None),
            None,
            "PostgreSQL searches by LIKE"
        );
        assert_eq!(query("", true).search_phrase(None), None);
    }

    #[test]
    fn pages_in_the_back_half_are_read_from_the_end() {
        // 1 050 rows, 100 a page: pages 1-6 from the front, 7-11 from the back.
        assert_eq!(
            Window::of(0, 1050),
            Window {
                offset: 0,
                limit: 100,
                reversed: false
            }
        );
        assert!(!Window::of(500, 1050).reversed);
        assert_eq!(
            Window::of(600, 1050),
            Window {
                offset: 350,
                limit: 100,
                reversed: true
            }
        );
        // The last page: its 50 rows, skipping none.
        assert_eq!(
            Window::of(1000, 1050),
            Window {
                offset: 0,
                limit: 50,
                reversed: true
            }
        );
        // Past the end, or an empty list: as asked (no rows).
        assert!(!Window::of(2000, 1050).reversed);
        assert_eq!(Window::of(0, 0).offset, 0);
        // Every row of the list is on exactly one page.
        for total in [1, 99, 100, 101, 250, 1050] {
            let mut seen = vec![0; total as usize];
            for page in 0..=(total / 100) {
                let w = Window::of(page * 100, total);
                for i in 0..w.limit {
                    let from_front = if w.reversed {
                        total - 1 - (w.offset + i)
                    } else {
                        w.offset + i
                    };
                    if from_front < total {
                        seen[from_front as usize] += 1;
                    }
                }
            }
            assert!(seen.iter().all(|&n| n == 1), "{total}: {seen:?}");
        }
    }

    #[test]
    fn the_registry_holds_each_model_once() {
        let urls: Vec<String> = registry().iter().map(|m| m.meta().url()).collect();
        assert_eq!(
            urls,
            [
                "/admin/auth/group/",
                "/admin/auth/user/",
                "/admin/lettings/address/",
                "/admin/lettings/letting/",
                "/admin/profiles/profile/"
            ]
        );
        assert!(find("lettings", "letting").is_some());
        assert!(find("lettings", "nope").is_none());
    }
}
