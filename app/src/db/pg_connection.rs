//! The blocking diesel connection to PostgreSQL, without libpq: tokio-postgres (pure Rust,
//! TLS by rustls) under diesel-async's `AsyncConnectionWrapper`, each connection on a small
//! runtime of its own ([`OwnRuntime`]).
//!
//! A newtype rather than the wrapper itself, for one reason: `#[derive(MultiConnection)]`
//! needs each backend's connection to hand its type-metadata lookup to the multi-backend
//! query builder and back (`MultiConnectionHelper`), which diesel-async's wrapper does not
//! do. Every type this site stores is built in (its OIDs fixed), so the lookup that goes
//! through is [`BuiltInTypesOnly`]: a user-defined type would fail its query with diesel's
//! "failed to look up type" error, never silently.

use std::cell::Cell;
use std::future::Future;

use diesel::connection::{
    CacheSize, Connection, ConnectionSealed, DefaultLoadingMode, Instrumentation, LoadConnection,
    MultiConnectionHelper, SimpleConnection, TransactionManager, TransactionManagerStatus,
};
use diesel::expression::QueryMetadata;
use diesel::pg::{Pg, PgMetadataCacheKey, PgMetadataLookup, PgTypeMetadata};
use diesel::query_builder::{Query, QueryFragment, QueryId};
use diesel::sql_types::TypeMetadata;
use diesel::{ConnectionResult, QueryResult};
use diesel_async::async_connection_wrapper::{AsyncConnectionWrapper, BlockOn};
use diesel_async::AsyncPgConnection;

type Wrapped = AsyncConnectionWrapper<AsyncPgConnection, OwnRuntime>;
type WrappedTransactions = <Wrapped as Connection>::TransactionManager;

/// A PostgreSQL connection for blocking code: the pool's, and the commands'. Boxed: the
/// async connection is ten times the size of a SQLite one, and `DbConnection` holds either.
pub struct PgConnection(Box<Wrapped>);

impl PgConnection {
    /// `conn`, opened inside `runtime` (whose tasks drive its socket), for blocking use.
    pub fn new(conn: AsyncPgConnection, runtime: tokio::runtime::Runtime) -> Self {
        OPENED_ON.set(Some(runtime));
        PgConnection(Box::new(Wrapped::from(conn)))
    }

    /// Whether the socket has closed or a transaction broke: then it must not be reused.
    pub fn is_closed(&mut self) -> bool {
        diesel_async::pooled_connection::PoolableConnection::is_broken(&mut **self.0)
    }
}

/// The runtime a connection runs on: its own single-threaded tokio runtime, holding the
/// task that reads the connection's socket, and driven by whichever thread runs a query on
/// it: on a blocking thread (the pool's tasks, the commands) that thread itself, so a
/// query costs no thread switch. From inside an async task (a test's body, say), where a
/// runtime cannot be driven, a short-lived thread drives it while the query is polled where
/// it was called ([`drive_from_async`]): slower, never a panic.
pub struct OwnRuntime(Option<tokio::runtime::Runtime>);

/// Shut down without waiting when the connection is dropped (tokio refuses a waiting
/// shutdown inside an async task; nothing is left to wait for: the socket's task ends with
/// the socket).
impl Drop for OwnRuntime {
    fn drop(&mut self) {
        if let Some(runtime) = self.0.take() {
            runtime.shutdown_background();
        }
    }
}

impl OwnRuntime {
    fn new(runtime: tokio::runtime::Runtime) -> Self {
        OwnRuntime(Some(runtime))
    }

    fn runtime(&self) -> &tokio::runtime::Runtime {
        match &self.0 {
            Some(runtime) => runtime,
            None => unreachable!("taken only when dropped"),
        }
    }
}

thread_local! {
    /// The runtime a connection was just opened on, for [`OwnRuntime::get_runtime`] to take:
    /// diesel-async's wrapper asks for its runtime through that function alone.
    static OPENED_ON: Cell<Option<tokio::runtime::Runtime>> = const { Cell::new(None) };
    /// Set while this thread runs blocking work for an async caller (see [`blocking`]).
    static BLOCKING: Cell<bool> = const { Cell::new(false) };
}

/// Runs `task` marked as blocking work on a thread of its own (a `spawn_blocking` thread:
/// within a tokio runtime, but not inside one of its tasks), where a connection's runtime
/// can be driven directly. Tokio cannot tell such a thread from an async task's, so the
/// pool's callers say so.
pub fn blocking<T>(task: impl FnOnce() -> T) -> T {
    let was = BLOCKING.replace(true);
    let out = task();
    BLOCKING.set(was);
    out
}

/// Whether a runtime may be driven right here: outside every runtime, or in [`blocking`].
fn may_block_here() -> bool {
    BLOCKING.get() || tokio::runtime::Handle::try_current().is_err()
}

/// A runtime for one connection.
pub fn new_runtime() -> std::io::Result<tokio::runtime::Runtime> {
    tokio::runtime::Builder::new_current_thread()
        .enable_io()
        .enable_time()
        .build()
}

/// `work` on `runtime`: here when this thread may block on it, else on a thread of its own.
pub fn run_on<T: Send>(runtime: &tokio::runtime::Runtime, work: impl Future<Output = T> + Send) -> T {
    if may_block_here() {
        return runtime.block_on(work);
    }
    std::thread::scope(|scope| match scope.spawn(|| runtime.block_on(work)).join() {
        Ok(out) => out,
        Err(panic) => std::panic::resume_unwind(panic),
    })
}

/// Polls `f` on this thread (inside an async task) while a short-lived thread drives
/// `runtime`, which holds the connection's socket.
fn drive_from_async<F: Future>(runtime: &tokio::runtime::Runtime, f: F) -> F::Output {
    use std::task::{Context, Poll, Waker};
    let waker = Waker::from(std::sync::Arc::new(Unpark(std::thread::current())));
    let mut cx = Context::from_waker(&waker);
    // Outside tokio's task budget: this thread's budget is its async caller's.
    let mut f = std::pin::pin!(tokio::task::unconstrained(f));
    // Rows already received need no driving.
    if let Poll::Ready(out) = f.as_mut().poll(&mut cx) {
        return out;
    }
    let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
    std::thread::scope(|scope| {
        scope.spawn(move || {
            runtime.block_on(async {
                let _ = stopped.await;
            })
        });
        let out = loop {
            if let Poll::Ready(out) = f.as_mut().poll(&mut cx) {
                break out;
            }
            std::thread::park();
        };
        let _ = stop.send(());
        out
    })
}

/// Wakes a thread parked in [`drive_from_async`].
struct Unpark(std::thread::Thread);

impl std::task::Wake for Unpark {
    fn wake(self: std::sync::Arc<Self>) {
        self.0.unpark();
    }
}

impl BlockOn for OwnRuntime {
    fn block_on<F: Future>(&self, f: F) -> F::Output {
        if may_block_here() {
            self.runtime().block_on(f)
        } else {
            drive_from_async(self.runtime(), f)
        }
    }

    fn get_runtime() -> Self {
        match OPENED_ON.take() {
            Some(runtime) => OwnRuntime::new(runtime),
            // Only `Connection::establish` comes this way, which nothing here calls (it
            // would connect without TLS: see `pg_config`).
            None => OwnRuntime::new(new_runtime().expect("cannot start a runtime for a database connection")),
        }
    }
}

impl SimpleConnection for PgConnection {
    fn batch_execute(&mut self, query: &str) -> QueryResult<()> {
        self.0.batch_execute(query)
    }
}

impl ConnectionSealed for PgConnection {}

impl Connection for PgConnection {
    type Backend = Pg;
    type TransactionManager = Transactions;

    /// Without TLS or the URL's libpq rules: use `connection::open_postgres`.
    fn establish(database_url: &str) -> ConnectionResult<Self> {
        Wrapped::establish(database_url).map(|conn| PgConnection(Box::new(conn)))
    }

    fn execute_returning_count<T>(&mut self, source: &T) -> QueryResult<usize>
    where
        T: QueryFragment<Pg> + QueryId,
    {
        self.0.execute_returning_count(source)
    }

    fn transaction_state(&mut self) -> &mut <Transactions as TransactionManager<Self>>::TransactionStateData {
        self.0.transaction_state()
    }

    fn instrumentation(&mut self) -> &mut dyn Instrumentation {
        Connection::instrumentation(&mut *self.0)
    }

    fn set_instrumentation(&mut self, instrumentation: impl Instrumentation) {
        Connection::set_instrumentation(&mut *self.0, instrumentation);
    }

    fn set_prepared_statement_cache_size(&mut self, size: CacheSize) {
        Connection::set_prepared_statement_cache_size(&mut *self.0, size);
    }
}

impl LoadConnection<DefaultLoadingMode> for PgConnection {
    type Cursor<'conn, 'query> = <Wrapped as LoadConnection<DefaultLoadingMode>>::Cursor<'conn, 'query>;
    type Row<'conn, 'query> = <Wrapped as LoadConnection<DefaultLoadingMode>>::Row<'conn, 'query>;

    fn load<'conn, 'query, T>(&'conn mut self, source: T) -> QueryResult<Self::Cursor<'conn, 'query>>
    where
        T: Query + QueryFragment<Pg> + QueryId + 'query,
        Pg: QueryMetadata<T::SqlType>,
    {
        LoadConnection::load(&mut *self.0, source)
    }
}

/// The wrapper's transactions, on the newtype.
pub struct Transactions;

impl TransactionManager<PgConnection> for Transactions {
    type TransactionStateData = <WrappedTransactions as TransactionManager<Wrapped>>::TransactionStateData;

    fn begin_transaction(conn: &mut PgConnection) -> QueryResult<()> {
        WrappedTransactions::begin_transaction(&mut *conn.0)
    }

    fn rollback_transaction(conn: &mut PgConnection) -> QueryResult<()> {
        WrappedTransactions::rollback_transaction(&mut *conn.0)
    }

    fn commit_transaction(conn: &mut PgConnection) -> QueryResult<()> {
        WrappedTransactions::commit_transaction(&mut *conn.0)
    }

    fn transaction_manager_status_mut(conn: &mut PgConnection) -> &mut TransactionManagerStatus {
        WrappedTransactions::transaction_manager_status_mut(&mut *conn.0)
    }

    fn is_broken_transaction_manager(conn: &mut PgConnection) -> bool {
        WrappedTransactions::is_broken_transaction_manager(&mut *conn.0)
    }
}

impl diesel::r2d2::R2D2Connection for PgConnection {
    fn ping(&mut self) -> QueryResult<()> {
        self.batch_execute("SELECT 1")
    }

    fn is_broken(&mut self) -> bool {
        self.is_closed()
    }
}

impl diesel::migration::MigrationConnection for PgConnection {
    fn setup(&mut self) -> QueryResult<usize> {
        diesel::migration::MigrationConnection::setup(&mut *self.0)
    }
}

/// What the multi-backend query builder carries for PostgreSQL's type lookup (a marker:
/// diesel-async's own lookup cannot be handed over, see the module's docs).
struct PgLookupMarker;

/// The type lookup for built-in types only: their OIDs are fixed and never looked up.
pub struct BuiltInTypesOnly;

impl PgMetadataLookup for BuiltInTypesOnly {
    fn lookup_type(&mut self, type_name: &str, schema: Option<&str>) -> PgTypeMetadata {
        let key = PgMetadataCacheKey::new(
            schema.map(|schema| schema.to_owned().into()),
            type_name.to_owned().into(),
        );
        PgTypeMetadata::from_result(Err(diesel::pg::FailedToLookupTypeError::new(key)))
    }

    fn as_any<'a>(&mut self) -> &mut (dyn std::any::Any + 'a)
    where
        Self: 'a,
    {
        self
    }
}

impl MultiConnectionHelper for PgConnection {
    fn to_any<'a>(_lookup: &mut <Pg as TypeMetadata>::MetadataLookup) -> &mut (dyn std::any::Any + 'a) {
        // A zero-sized value: leaking it allocates nothing.
        Box::leak(Box::new(PgLookupMarker))
    }

    fn from_any(lookup: &mut dyn std::any::Any) -> Option<&mut <Pg as TypeMetadata>::MetadataLookup> {
        lookup
            .downcast_mut::<PgLookupMarker>()
            .map(|_| Box::leak(Box::new(BuiltInTypesOnly)) as &mut dyn PgMetadataLookup)
    }
}
