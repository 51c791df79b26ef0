//! `govmedia serve`: the warehouse over the Postgres wire protocol (issue #20), so psql, DBeaver,
//! ODBC, notebooks and BI tools query it without a plugin. `datafusion-postgres` speaks the
//! protocol and answers the `pg_catalog` queries clients send on connect; this module decides what
//! each statement sees and whether it may run:
//!
//! - every staging table and mart under the names `govmedia sql` shows, in the engine's session
//!   ([`crate::engine`]), all of them drawing on one memory pool (`GOVMEDIA_MEMORY_LIMIT`);
//! - one committed warehouse version per statement: the manifest is read before each statement,
//!   and a new version gets a session of its own, so a commit during a query is seen by the next
//!   statement and never half (a prepared statement planned on an older version is planned again);
//! - read-only as `govmedia sql` is: the engine's guard refuses DDL, DML and COPY, and `SET` may
//!   only change the client's own settings;
//! - a password (SCRAM-SHA-256) whenever one is given, and always off loopback; TLS with a
//!   certificate and key;
//! - a statement stops, and its memory goes back to the pool, when its client sends a cancel
//!   request (psql's Ctrl-C) or goes away.

use crate::engine::{self, EngineError};
use crate::warehouse::{Manifest, Warehouse, WarehouseError};
use async_trait::async_trait;
use datafusion::common::tree_node::TreeNodeRecursion;
use datafusion::common::ParamValues;
use datafusion::execution::runtime_env::RuntimeEnv;
use datafusion::logical_expr::LogicalPlan;
use datafusion::prelude::SessionContext;
use datafusion::sql::sqlparser::ast::{Set, Statement};
use datafusion_postgres::datafusion_pg_catalog::pg_catalog::context::EmptyContextProvider;
use datafusion_postgres::datafusion_pg_catalog::pg_catalog::setup_pg_catalog;
use datafusion_postgres::hooks::cursor::CursorStatementHook;
use datafusion_postgres::hooks::set_show::SetShowHook;
use datafusion_postgres::hooks::transactions::TransactionStatementHook;
use datafusion_postgres::hooks::HookClient;
use datafusion_postgres::pgwire;
use datafusion_postgres::{DfSessionService, QueryHook};
use pgwire::api::auth::noop::NoopStartupHandler;
use pgwire::api::auth::sasl::scram::{gen_salted_password, ScramAuth, SCRAM_ITERATIONS};
use pgwire::api::auth::sasl::SASLAuthStartupHandler;
use pgwire::api::auth::{AuthSource, DefaultServerParameterProvider, LoginInfo, Password, StartupHandler};
use pgwire::api::cancel::CancelHandler;
use pgwire::api::portal::{Format, Portal};
use pgwire::api::query::{ExtendedQueryHandler, SimpleQueryHandler};
use pgwire::api::results::{FieldInfo, Response, SendableRowStream};
use pgwire::api::stmt::{QueryParser, StoredStatement};
use pgwire::api::store::PortalStore;
use pgwire::api::{ClientInfo, ClientPortalStore, PgWireServerHandlers, PidSecretKeyGenerator, RandomPidSecretKeyGenerator, Type};
use pgwire::error::{ErrorInfo, PgWireError, PgWireResult};
use pgwire::messages::cancel::CancelRequest;
use pgwire::messages::data::DataRow;
use pgwire::messages::startup::SecretKey;
use pgwire::messages::{PgWireBackendMessage, PgWireFrontendMessage};
use std::collections::HashMap;
use std::fmt::Debug;
use std::future::Future;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::pin::Pin;
use std::sync::{Arc, Mutex, RwLock};
use std::task::{Context, Poll};
use tokio::net::{TcpListener, TcpStream};
use tokio_util::sync::{CancellationToken, WaitForCancellationFutureOwned};

/// What `govmedia serve` listens on and how clients prove who they are.
#[derive(Debug, Clone)]
pub struct ServeOptions {
    /// `HOST:PORT`: an IP address or a host name, resolved once at start (every address it
    /// resolves to is served).
    pub listen: String,
    /// Required of every client when set; required to be set off loopback.
    pub password: Option<String>,
    /// A PEM certificate chain and its private key: clients may then ask for TLS.
    pub tls: Option<(PathBuf, PathBuf)>,
}

#[derive(Debug, thiserror::Error)]
pub enum ServeError {
    #[error(
        "refused to listen on {listen}: {what} not a loopback address and no password is set; set GOVMEDIA_PG_PASSWORD or \
         --password-file, or listen on 127.0.0.1 or localhost"
    )]
    NoPassword { listen: String, what: String },
    #[error("cannot listen on {listen}: {reason} (expected HOST:PORT, e.g. 127.0.0.1:5433, localhost:5433 or 0.0.0.0:5433)")]
    Resolve { listen: String, reason: String },
    #[error("cannot listen on {addr}: {source}")]
    Bind { addr: SocketAddr, source: std::io::Error },
    #[error("TLS: {}: {reason}", path.display())]
    Tls { path: PathBuf, reason: String },
    #[error(transparent)]
    Engine(#[from] EngineError),
    #[error(transparent)]
    Warehouse(#[from] WarehouseError),
    #[error("{0}")]
    Io(#[from] std::io::Error),
}

/// The statement the protocol layer keeps between Parse and Execute: its SQL and its plan
/// (`datafusion-postgres`'s; its cursor hook reads the portals back under this type).
type DfStatement = (String, Option<(Statement, LogicalPlan)>);

/// Serves the warehouse until Ctrl-C. `ready` is told the addresses bound (with the port the
/// system picked when 0 was asked for) once clients can connect.
pub async fn serve(wh: Warehouse, opts: &ServeOptions, ready: impl FnOnce(&[SocketAddr], u64)) -> Result<(), ServeError> {
    let addrs = resolve(&opts.listen).await?;
    if opts.password.is_none() {
        if let Some(open) = not_loopback(&addrs) {
            let what = if open.to_string() == opts.listen { "it is".to_string() } else { format!("it resolves to {open}, which is") };
            return Err(ServeError::NoPassword { listen: opts.listen.clone(), what });
        }
    }
    let tls = opts.tls.as_ref().map(|(cert, key)| tls_acceptor(cert, key)).transpose()?;
    let versions = Versions::open(wh).await?;
    let first = versions.latest().number;
    let secret = opts.password.as_deref().map(|p| Arc::new(Secret::new(p)));
    let shared = Arc::new(Shared { secret, versions, cancels: Arc::new(Cancels::default()) });
    let listeners = bind(&addrs).await?;
    let bound = listeners.iter().map(TcpListener::local_addr).collect::<Result<Vec<_>, _>>()?;
    ready(&bound, first);
    for listener in listeners {
        tokio::spawn(accept(listener, shared.clone(), tls.clone()));
    }
    tokio::signal::ctrl_c().await?;
    Ok(())
}

/// The addresses `HOST:PORT` stands for, each once, in the resolver's order.
async fn resolve(listen: &str) -> Result<Vec<SocketAddr>, ServeError> {
    let bad = |reason: String| ServeError::Resolve { listen: listen.to_string(), reason };
    let mut addrs: Vec<SocketAddr> = Vec::new();
    for addr in tokio::net::lookup_host(listen).await.map_err(|e| bad(e.to_string()))? {
        if !addrs.contains(&addr) {
            addrs.push(addr);
        }
    }
    if addrs.is_empty() {
        return Err(bad("the name resolves to no address".into()));
    }
    Ok(addrs)
}

/// The first address beyond loopback: a name is served without a password only when every
/// address it resolves to is a loopback one.
fn not_loopback(addrs: &[SocketAddr]) -> Option<SocketAddr> {
    addrs.iter().find(|a| !a.ip().is_loopback()).copied()
}

/// A listener on each address, all on one port (the one the system picked for the first when 0
/// was asked for). As Postgres does with `listen_addresses`, an address that cannot be bound
/// while another can (`localhost`'s `::1` without IPv6) is reported and left out.
async fn bind(addrs: &[SocketAddr]) -> Result<Vec<TcpListener>, ServeError> {
    let mut listeners = Vec::new();
    let mut first_error = None;
    let mut port = None;
    for &addr in addrs {
        let mut addr = addr;
        if let (0, Some(p)) = (addr.port(), port) {
            addr.set_port(p);
        }
        match TcpListener::bind(addr).await {
            Ok(listener) => {
                port.get_or_insert(listener.local_addr()?.port());
                listeners.push(listener);
            }
            Err(source) => {
                eprintln!("govmedia serve: cannot listen on {addr}: {source}");
                first_error.get_or_insert(ServeError::Bind { addr, source });
            }
        }
    }
    match first_error {
        Some(e) if listeners.is_empty() => Err(e),
        _ => Ok(listeners),
    }
}

/// Accepts connections on one address until the server stops, each served by a task of its own.
async fn accept(listener: TcpListener, shared: Arc<Shared>, tls: Option<pgwire::tokio::TlsAcceptor>) {
    loop {
        match listener.accept().await {
            Ok((socket, addr)) => {
                tokio::spawn(connection(socket, addr, shared.clone(), tls.clone()));
            }
            // Running out of file descriptors and the like: the listener stays, the client
            // retries; the pause keeps a persistent failure from filling the log.
            Err(e) => {
                eprintln!("govmedia serve: cannot accept a connection: {e}");
                tokio::time::sleep(std::time::Duration::from_millis(100)).await;
            }
        }
    }
}

/// Serves one client until it leaves. The protocol layer reads the socket only between
/// statements, so while one runs nobody would notice the client hang up until its rows are
/// sent (an aggregate sends none until it is done): a second handle on the socket watches for
/// the hang-up, and dropping the connection then stops the statement and gives its memory back
/// to the pool at once.
async fn connection(socket: TcpStream, addr: SocketAddr, shared: Arc<Shared>, tls: Option<pgwire::tokio::TlsAcceptor>) {
    let (socket, watch) = match watched(socket) {
        Ok(pair) => pair,
        Err(e) => return eprintln!("govmedia serve: connection from {addr}: {e}"),
    };
    let handlers = Connection::new(shared);
    tokio::select! {
        served = pgwire::tokio::process_socket(socket, tls, handlers) => {
            if let Err(e) = served {
                eprintln!("govmedia serve: connection from {addr}: {e}");
            }
        }
        () = hung_up(&watch) => {}
    }
}

/// The socket and a second handle on it (a duplicated descriptor) to watch.
fn watched(socket: TcpStream) -> std::io::Result<(TcpStream, TcpStream)> {
    let socket = socket.into_std()?;
    let watch = socket.try_clone()?;
    Ok((TcpStream::from_std(socket)?, TcpStream::from_std(watch)?))
}

/// Returns when the client has closed its end (or the socket failed). Only readiness is
/// watched, nothing is read: the bytes are the protocol layer's.
async fn hung_up(watch: &TcpStream) {
    loop {
        match watch.ready(tokio::io::Interest::READABLE).await {
            Ok(ready) if ready.is_read_closed() || ready.is_error() => return,
            // A message from the client, for the protocol layer: wait for the next event.
            Ok(_) => {
                let _ = watch.try_io(tokio::io::Interest::READABLE, || Err::<(), _>(std::io::ErrorKind::WouldBlock.into()));
            }
            Err(_) => return,
        }
    }
}

/// TLS from a PEM certificate chain and key: a certificate or key that cannot be read stops the
/// server instead of serving without encryption.
fn tls_acceptor(cert: &std::path::Path, key: &std::path::Path) -> Result<pgwire::tokio::TlsAcceptor, ServeError> {
    use rustls_pki_types::pem::PemObject;
    use rustls_pki_types::{CertificateDer, PrivateKeyDer};
    use tokio_rustls::rustls;
    let bad = |path: &std::path::Path, reason: String| ServeError::Tls { path: path.to_path_buf(), reason };
    let certs = CertificateDer::pem_file_iter(cert)
        .and_then(|it| it.collect::<Result<Vec<_>, _>>())
        .map_err(|e| bad(cert, format!("cannot read the certificate chain (PEM): {e}")))?;
    if certs.is_empty() {
        return Err(bad(cert, "no certificate in the file (PEM `BEGIN CERTIFICATE`)".into()));
    }
    let key_der = PrivateKeyDer::from_pem_file(key).map_err(|e| bad(key, format!("cannot read the private key (PEM): {e}")))?;
    let config = rustls::ServerConfig::builder_with_provider(Arc::new(rustls::crypto::ring::default_provider()))
        .with_safe_default_protocol_versions()
        .and_then(|b| b.with_no_client_auth().with_single_cert(certs, key_der))
        .map_err(|e| bad(cert, format!("the certificate and key do not make a TLS configuration: {e}")))?;
    Ok(pgwire::tokio::TlsAcceptor::from(Arc::new(config)))
}

/// What every connection shares: the password, the warehouse's versions, the statements that
/// can be cancelled.
struct Shared {
    secret: Option<Arc<Secret>>,
    versions: Versions,
    cancels: Arc<Cancels>,
}

/// One connection's handlers (the protocol layer asks for them once per connection): the
/// startup (authentication) handler, the query handlers that pick the warehouse version, and
/// the cancel handler.
struct Connection {
    shared: Arc<Shared>,
    session: Arc<Session>,
}

impl Connection {
    fn new(shared: Arc<Shared>) -> Connection {
        let session = Arc::new(Session {
            inner: shared.versions.inner.clone(),
            parser: shared.versions.parser.clone(),
            cancels: shared.cancels.clone(),
            running: Arc::new(Running::default()),
            key: Mutex::new(None),
        });
        Connection { shared, session }
    }
}

impl PgWireServerHandlers for Connection {
    fn simple_query_handler(&self) -> Arc<impl SimpleQueryHandler> {
        self.session.clone()
    }
    fn extended_query_handler(&self) -> Arc<impl ExtendedQueryHandler> {
        self.session.clone()
    }
    // A SCRAM exchange keeps its state in its handler: one per connection.
    fn startup_handler(&self) -> Arc<impl StartupHandler> {
        Arc::new(Startup::new(self.shared.secret.clone(), self.session.clone()))
    }
    // A cancel request comes on a connection of its own, naming the one to cancel.
    fn cancel_handler(&self) -> Arc<impl CancelHandler> {
        self.shared.cancels.clone()
    }
}

/// Without a password, any client on loopback is let in; with one, SCRAM-SHA-256 (the password
/// never crosses the wire, TLS or not), whatever the user name. Either way the client is given
/// the key its cancel requests will carry.
enum Startup {
    Open(Open),
    Password(SASLAuthStartupHandler<DefaultServerParameterProvider>),
}

struct Open(Arc<Session>);
impl NoopStartupHandler for Open {
    fn pid_secret_key_generator(&self) -> &dyn PidSecretKeyGenerator {
        &*self.0
    }
}

impl Startup {
    fn new(secret: Option<Arc<Secret>>, session: Arc<Session>) -> Startup {
        let Some(secret) = secret else { return Startup::Open(Open(session)) };
        let mut scram = ScramAuth::new(secret);
        scram.set_iterations(SCRAM_ITERATIONS);
        let mut params = DefaultServerParameterProvider::default();
        params.default_transaction_read_only = true;
        Startup::Password(SASLAuthStartupHandler::new(Arc::new(params)).with_scram(scram).with_pid_secret_key_generator(session))
    }
}

#[async_trait]
impl StartupHandler for Startup {
    async fn on_startup<C>(&self, client: &mut C, message: PgWireFrontendMessage) -> PgWireResult<()>
    where
        C: ClientInfo + futures::Sink<PgWireBackendMessage> + Unpin + Send + Sync,
        C::Error: Debug,
        PgWireError: From<<C as futures::Sink<PgWireBackendMessage>>::Error>,
    {
        match self {
            Startup::Open(h) => h.on_startup(client, message).await,
            Startup::Password(h) => h.on_startup(client, message).await,
        }
    }
}

/// The password, salted once at start (SCRAM's stored form).
struct Secret {
    salt: Vec<u8>,
    salted: Vec<u8>,
}

impl Secret {
    fn new(password: &str) -> Secret {
        let mut salt = [0u8; 16];
        // The salt only needs to differ between servers; a failing system generator leaves the
        // fixed one, which SCRAM still accepts.
        let _ = getrandom::fill(&mut salt);
        Secret { salt: salt.to_vec(), salted: gen_salted_password(password, &salt, SCRAM_ITERATIONS) }
    }
}

impl Debug for Secret {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Secret(…)")
    }
}

#[async_trait]
impl AuthSource for Secret {
    async fn get_password(&self, _login: &LoginInfo) -> PgWireResult<Password> {
        Ok(Password::new(Some(self.salt.clone()), self.salted.clone()))
    }
}

/// One committed warehouse version: a session with its tables registered and the pg_catalog, and
/// the protocol service over it.
struct Version {
    number: u64,
    service: Arc<DfSessionService>,
    /// Each warehouse table's provider (its address), by name: a plan that scans another
    /// provider under one of these names was made on another version.
    tables: HashMap<String, usize>,
}

fn provider_addr(p: &Arc<dyn datafusion::catalog::TableProvider>) -> usize {
    Arc::as_ptr(p) as *const () as usize
}

impl Version {
    async fn open(wh: &Warehouse, runtime: &Arc<RuntimeEnv>, manifest: &Manifest) -> Result<Version, ServeError> {
        let ctx = engine::session_in(runtime.clone());
        engine::register_warehouse(&ctx, wh, manifest).await?;
        let mut tables = HashMap::new();
        if let Some(schema) = ctx.catalog("datafusion").and_then(|c| c.schema("public")) {
            for name in schema.table_names() {
                if let Ok(Some(p)) = schema.table(&name).await {
                    tables.insert(name, provider_addr(&p));
                }
            }
        }
        setup_pg_catalog(&ctx, "datafusion", EmptyContextProvider).map_err(|e| EngineError::DataFusion(*e))?;
        let hooks: Vec<Arc<dyn QueryHook>> =
            vec![Arc::new(ReadOnly), Arc::new(CursorStatementHook), Arc::new(SetShowHook), Arc::new(TransactionStatementHook)];
        let service = Arc::new(DfSessionService::new_with_hooks(Arc::new(ctx), hooks));
        Ok(Version { number: manifest.version, service, tables })
    }

    /// Whether `plan` scans a warehouse table of another version (a statement prepared before a commit).
    fn planned_elsewhere(&self, plan: &LogicalPlan) -> bool {
        let mut elsewhere = false;
        let _ = plan.apply_with_subqueries(|node| {
            if let LogicalPlan::TableScan(scan) = node {
                let ours = self.tables.get(scan.table_name.table());
                let theirs = datafusion::datasource::source_as_provider(&scan.source).ok();
                if let (Some(ours), Some(theirs)) = (ours, theirs) {
                    if *ours != provider_addr(&theirs) {
                        elsewhere = true;
                        return Ok(TreeNodeRecursion::Stop);
                    }
                }
            }
            Ok(TreeNodeRecursion::Continue)
        });
        elsewhere
    }
}

/// The versions: the newest one opened, and the warehouse to check for a newer one.
struct Inner {
    wh: Warehouse,
    runtime: Arc<RuntimeEnv>,
    latest: RwLock<Arc<Version>>,
    /// Held while a new version is opened, so that concurrent statements open it once.
    opening: tokio::sync::Mutex<()>,
}

impl Inner {
    fn latest(&self) -> Arc<Version> {
        self.latest.read().unwrap_or_else(|e| e.into_inner()).clone()
    }

    /// The version a statement runs on: the manifest's current one (read now), opened once.
    async fn current(&self) -> PgWireResult<Arc<Version>> {
        let manifest = self.wh.existing_manifest().await.map_err(api_error)?;
        let latest = self.latest();
        if latest.number >= manifest.version {
            return Ok(latest);
        }
        let _opening = self.opening.lock().await;
        let latest = self.latest();
        if latest.number >= manifest.version {
            return Ok(latest);
        }
        let version = Arc::new(Version::open(&self.wh, &self.runtime, &manifest).await.map_err(api_error)?);
        *self.latest.write().unwrap_or_else(|e| e.into_inner()) = version.clone();
        Ok(version)
    }
}

/// The warehouse's versions as the connections' query handlers see them.
struct Versions {
    inner: Arc<Inner>,
    parser: Arc<VersionParser>,
}

impl Versions {
    async fn open(wh: Warehouse) -> Result<Versions, ServeError> {
        let runtime = engine::runtime()?;
        let manifest = wh.existing_manifest().await?;
        let first = Arc::new(Version::open(&wh, &runtime, &manifest).await?);
        let inner = Arc::new(Inner { wh, runtime, latest: RwLock::new(first), opening: tokio::sync::Mutex::new(()) });
        Ok(Versions { parser: Arc::new(VersionParser { inner: inner.clone() }), inner })
    }

    fn latest(&self) -> Arc<Version> {
        self.inner.latest()
    }
}

/// A connection's query handlers: each statement is handed to the service of the current
/// version, and runs until it is done or cancelled.
struct Session {
    inner: Arc<Inner>,
    parser: Arc<VersionParser>,
    cancels: Arc<Cancels>,
    running: Arc<Running>,
    /// The key the client was given for its cancel requests, once authenticated.
    key: Mutex<Option<CancelKey>>,
}

impl Drop for Session {
    // The connection is gone: its key cancels nothing any more.
    fn drop(&mut self) {
        if let Some(key) = self.key.get_mut().unwrap_or_else(|e| e.into_inner()).take() {
            self.cancels.running.lock().unwrap_or_else(|e| e.into_inner()).remove(&key);
        }
    }
}

/// The startup handlers ask for the client's key once it is authenticated: the key is
/// registered for this connection as it is given out.
impl PidSecretKeyGenerator for Session {
    fn generate(&self, client: &dyn ClientInfo) -> (i32, SecretKey) {
        let (pid, secret) = self.cancels.keys.generate(client);
        let key = (pid, secret.to_bytes().to_vec());
        self.cancels.running.lock().unwrap_or_else(|e| e.into_inner()).insert(key.clone(), self.running.clone());
        if let Some(old) = self.key.lock().unwrap_or_else(|e| e.into_inner()).replace(key) {
            self.cancels.running.lock().unwrap_or_else(|e| e.into_inner()).remove(&old);
        }
        (pid, secret)
    }
}

/// A connection's process id and secret key (as bytes: protocol 3.2's keys are longer).
type CancelKey = (i32, Vec<u8>);

/// The connections by their cancel keys, and the keys' generator.
#[derive(Default)]
struct Cancels {
    keys: RandomPidSecretKeyGenerator,
    running: Mutex<HashMap<CancelKey, Arc<Running>>>,
}

#[async_trait]
impl CancelHandler for Cancels {
    // As in Postgres, a request with an unknown key, or for a connection between statements,
    // does nothing, and the requester is told nothing either way.
    async fn on_cancel_request(&self, request: CancelRequest) {
        let key = (request.pid, request.secret_key.to_bytes().to_vec());
        let running = self.running.lock().unwrap_or_else(|e| e.into_inner()).get(&key).cloned();
        if let Some(running) = running {
            running.cancel();
        }
    }
}

/// The statement a connection is running, as a cancel request reaches it.
#[derive(Default)]
struct Running(Mutex<CancellationToken>);

impl Running {
    /// A new statement: a cancel request from now on stops it (and no earlier one's).
    fn start(&self) -> CancellationToken {
        let token = CancellationToken::new();
        *self.0.lock().unwrap_or_else(|e| e.into_inner()) = token.clone();
        token
    }

    fn cancel(&self) {
        self.0.lock().unwrap_or_else(|e| e.into_inner()).cancel();
    }
}

/// `work` (planning a statement, starting it), unless the statement is cancelled first.
async fn unless_canceled<T>(canceled: &CancellationToken, work: impl Future<Output = PgWireResult<T>>) -> PgWireResult<T> {
    tokio::select! {
        done = work => done,
        () = canceled.cancelled() => Err(PgWireError::QueryCanceled),
    }
}

/// A response whose rows stop at a cancel request. The rows are where a statement does its
/// work (an aggregate or a sort runs as its first row is asked for), so this is what stops it.
fn stop_when_canceled(response: Response, canceled: &CancellationToken) -> Response {
    let Response::Query(mut query) = response else { return response };
    let rows = std::mem::replace(&mut query.data_rows, Box::pin(futures::stream::empty()));
    query.data_rows = Box::pin(Cancelable { rows: Some(rows), canceled: Box::pin(canceled.clone().cancelled_owned()) });
    Response::Query(query)
}

/// Rows that end with SQLSTATE 57014 ("canceling statement due to user request") once the
/// statement is cancelled.
struct Cancelable {
    rows: Option<SendableRowStream>,
    canceled: Pin<Box<WaitForCancellationFutureOwned>>,
}

impl futures::Stream for Cancelable {
    type Item = PgWireResult<DataRow>;

    fn poll_next(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Self::Item>> {
        let this = &mut *self;
        let Some(rows) = this.rows.as_mut() else { return Poll::Ready(None) };
        if this.canceled.as_mut().poll(cx).is_ready() {
            // Dropping the plan's stream stops its tasks and gives its memory back to the pool
            // now, not when the portal holding these rows is closed.
            this.rows = None;
            return Poll::Ready(Some(Err(PgWireError::QueryCanceled)));
        }
        rows.as_mut().poll_next(cx)
    }
}

#[async_trait]
impl SimpleQueryHandler for Session {
    async fn do_query<C>(&self, client: &mut C, query: &str) -> PgWireResult<Vec<Response>>
    where
        C: ClientInfo + ClientPortalStore + futures::Sink<PgWireBackendMessage> + Unpin + Send + Sync,
        C::PortalStore: PortalStore,
        C::Error: Debug,
        PgWireError: From<<C as futures::Sink<PgWireBackendMessage>>::Error>,
    {
        let canceled = self.running.start();
        let responses = unless_canceled(&canceled, async {
            let version = self.inner.current().await?;
            SimpleQueryHandler::do_query(&*version.service, client, query).await
        })
        .await?;
        Ok(responses.into_iter().map(|r| stop_when_canceled(r, &canceled)).collect())
    }
}

#[async_trait]
impl ExtendedQueryHandler for Session {
    type Statement = DfStatement;
    type QueryParser = VersionParser;

    fn query_parser(&self) -> Arc<VersionParser> {
        self.parser.clone()
    }

    async fn do_query<C>(&self, client: &mut C, portal: &Portal<DfStatement>, max_rows: usize) -> PgWireResult<Response>
    where
        C: ClientInfo + ClientPortalStore + futures::Sink<PgWireBackendMessage> + Unpin + Send + Sync,
        C::PortalStore: PortalStore<Statement = DfStatement>,
        C::Error: Debug,
        PgWireError: From<<C as futures::Sink<PgWireBackendMessage>>::Error>,
    {
        let canceled = self.running.start();
        let response = unless_canceled(&canceled, self.start_portal(client, portal, max_rows)).await?;
        Ok(stop_when_canceled(response, &canceled))
    }
}

impl Session {
    /// A portal's statement, on the current version.
    async fn start_portal<C>(&self, client: &mut C, portal: &Portal<DfStatement>, max_rows: usize) -> PgWireResult<Response>
    where
        C: ClientInfo + ClientPortalStore + futures::Sink<PgWireBackendMessage> + Unpin + Send + Sync,
        C::PortalStore: PortalStore<Statement = DfStatement>,
        C::Error: Debug,
        PgWireError: From<<C as futures::Sink<PgWireBackendMessage>>::Error>,
    {
        let version = self.inner.current().await?;
        // Drivers prepare a statement once and run it many times (psycopg and pgjdbc after five
        // runs): one prepared before a commit is planned again, on the version it now runs on.
        if let (sql, Some((Statement::Query(_), plan))) = &portal.statement.statement {
            if version.planned_elsewhere(plan) {
                let parser = version.service.query_parser();
                let statement = parser.parse_sql(&*client, sql, &portal.statement.parameter_types).await?;
                let Some(statement) = statement else { return Ok(Response::EmptyQuery) };
                let stored = StoredStatement::new(portal.statement.id.clone(), statement, portal.statement.parameter_types.clone());
                let mut replanned = Portal::new_cursor(portal.name.clone(), Arc::new(stored));
                replanned.parameter_format = portal.parameter_format.clone();
                replanned.parameters = portal.parameters.clone();
                replanned.result_column_format = portal.result_column_format.clone();
                return ExtendedQueryHandler::do_query(&*version.service, client, &replanned, max_rows).await;
            }
        }
        ExtendedQueryHandler::do_query(&*version.service, client, portal, max_rows).await
    }
}

/// Parses (plans) a prepared statement on the current version.
struct VersionParser {
    inner: Arc<Inner>,
}

#[async_trait]
impl QueryParser for VersionParser {
    type Statement = DfStatement;

    async fn parse_sql<C>(&self, client: &C, sql: &str, types: &[Option<Type>]) -> PgWireResult<Option<DfStatement>>
    where
        C: ClientInfo + Unpin + Send + Sync,
    {
        let version = self.inner.current().await?;
        version.service.query_parser().parse_sql(client, sql, types).await
    }

    // Both read only the statement's plan, which any version's parser describes alike.
    fn get_parameter_types(&self, stmt: &DfStatement) -> PgWireResult<Vec<Type>> {
        self.inner.latest().service.query_parser().get_parameter_types(stmt)
    }

    fn get_result_schema(&self, stmt: &DfStatement, column_format: Option<&Format>) -> PgWireResult<Vec<FieldInfo>> {
        self.inner.latest().service.query_parser().get_result_schema(stmt, column_format)
    }
}

/// The settings a client may change: its own session's (the protocol layer keeps them per
/// connection). Anything else would reach the shared DataFusion session and change the server.
const CLIENT_SETTINGS: &[&str] = &[
    "application_name",
    "bytea_output",
    "client_encoding",
    "client_min_messages",
    "datestyle",
    "extra_float_digits",
    "intervalstyle",
    "search_path",
    "standard_conforming_strings",
    "statement_timeout",
];

/// The read-only guard, first of the hooks: statements are checked before any other hook or the
/// engine sees them.
struct ReadOnly;

#[async_trait]
impl QueryHook for ReadOnly {
    async fn handle_simple_query(
        &self,
        statement: &Statement,
        ctx: &SessionContext,
        _client: &mut dyn HookClient,
    ) -> Option<PgWireResult<Response>> {
        check(statement, ctx).await.err().map(Err)
    }

    async fn handle_extended_parse_query(
        &self,
        statement: &Statement,
        ctx: &SessionContext,
        _client: &(dyn ClientInfo + Send + Sync),
    ) -> Option<PgWireResult<LogicalPlan>> {
        // A query's plan, made and checked here, is the one the statement keeps.
        check(statement, ctx).await.transpose()
    }

    async fn handle_extended_query(
        &self,
        _statement: &Statement,
        _plan: &LogicalPlan,
        _params: &ParamValues,
        _ctx: &SessionContext,
        _client: &mut dyn HookClient,
    ) -> Option<PgWireResult<Response>> {
        // Checked when parsed.
        None
    }
}

/// Whether a statement may run: a query (or EXPLAIN) is planned and its plan checked by the
/// engine's read-only guard (the plan is returned); the protocol's own statements (client
/// settings, SHOW, transactions, cursors over queries) pass; anything else is refused.
async fn check(statement: &Statement, ctx: &SessionContext) -> PgWireResult<Option<LogicalPlan>> {
    match statement {
        Statement::Query(_) | Statement::Explain { .. } => plan_read_only(statement, ctx).await.map(Some),
        Statement::Set(set) => match set {
            Set::SingleAssignment { variable, .. } => {
                let name = variable.to_string().to_lowercase();
                if CLIENT_SETTINGS.contains(&name.as_str()) {
                    Ok(None)
                } else {
                    Err(refused(&format!(
                        "SET {name} would change the server's settings; `govmedia serve` lets a client set only its own: {}, SET TIME ZONE",
                        CLIENT_SETTINGS.join(", ")
                    )))
                }
            }
            // Per client (the protocol layer keeps them), or a no-op on a read-only server.
            Set::SetTimeZone { .. } | Set::SetNames { .. } | Set::SetNamesDefault {} | Set::SetTransaction { .. } => Ok(None),
            other => Err(refused(&format!("`{other}` would change the server's settings; `govmedia serve` only reads"))),
        },
        Statement::Declare { stmts } => {
            for d in stmts {
                if let Some(q) = &d.for_query {
                    plan_read_only(&Statement::Query(q.clone()), ctx).await?;
                }
            }
            Ok(None)
        }
        _ => {
            let text = statement.to_string();
            let word = text.split_whitespace().next().unwrap_or("").to_uppercase();
            if matches!(word.as_str(), "SHOW" | "BEGIN" | "START" | "COMMIT" | "END" | "ROLLBACK" | "FETCH" | "CLOSE") {
                Ok(None)
            } else {
                Err(refused(&EngineError::Refused(word).to_string()))
            }
        }
    }
}

async fn plan_read_only(statement: &Statement, ctx: &SessionContext) -> PgWireResult<LogicalPlan> {
    let plan = ctx
        .state()
        .statement_to_plan(datafusion::sql::parser::Statement::Statement(Box::new(statement.clone())))
        .await
        .map_err(api_error)?;
    engine::verify_read_only(&plan, &statement.to_string()).map_err(|e| refused(&e.to_string()))?;
    Ok(plan)
}

/// A refusal, as Postgres reports a write in a read-only transaction (SQLSTATE 25006).
fn refused(message: &str) -> PgWireError {
    PgWireError::UserError(Box::new(ErrorInfo::new("ERROR".into(), "25006".into(), message.to_string())))
}

fn api_error(e: impl std::error::Error + Send + Sync + 'static) -> PgWireError {
    PgWireError::ApiError(Box::new(e))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn addrs(list: &[&str]) -> Vec<SocketAddr> {
        list.iter().map(|a| a.parse().unwrap()).collect()
    }

    // A name is served without a password only when every address it resolves to is loopback.
    #[test]
    fn a_name_is_loopback_only_when_all_its_addresses_are() {
        assert_eq!(not_loopback(&addrs(&["127.0.0.1:5433", "[::1]:5433"])), None);
        assert_eq!(not_loopback(&addrs(&["127.0.1.1:5433"])), None);
        let mixed = addrs(&["127.0.0.1:5433", "10.1.2.3:5433", "[::1]:5433"]);
        assert_eq!(not_loopback(&mixed), Some("10.1.2.3:5433".parse().unwrap()));
        assert_eq!(not_loopback(&addrs(&["[::]:5433"])), Some("[::]:5433".parse().unwrap()));
    }

    #[tokio::test]
    async fn every_address_is_bound_on_one_port_and_one_that_fails_is_left_out() {
        // IPv6 may be off: then ::1 is left out and 127.0.0.1 served alone.
        let listeners = bind(&addrs(&["127.0.0.1:0", "[::1]:0"])).await.unwrap();
        let ports: Vec<u16> = listeners.iter().map(|l| l.local_addr().unwrap().port()).collect();
        assert!(ports[0] != 0 && ports.iter().all(|p| *p == ports[0]), "{ports:?}");
        let taken: SocketAddr = format!("127.0.0.1:{}", ports[0]).parse().unwrap();
        assert!(matches!(bind(&[taken]).await, Err(ServeError::Bind { addr, .. }) if addr == taken));
        let rest = bind(&[taken, "127.0.0.1:0".parse().unwrap()]).await.unwrap();
        assert_eq!(rest.len(), 1);
        assert_ne!(rest[0].local_addr().unwrap(), taken);
    }

    #[tokio::test]
    async fn a_name_resolves_and_a_bad_one_is_named_in_the_error() {
        let got = resolve("localhost:5433").await.unwrap();
        assert!(!got.is_empty() && got.iter().all(|a| a.port() == 5433), "{got:?}");
        assert_eq!(resolve("127.0.0.1:0").await.unwrap(), addrs(&["127.0.0.1:0"]));
        let err = resolve("localhost").await.unwrap_err().to_string();
        assert!(err.starts_with("cannot listen on localhost: ") && err.contains("HOST:PORT"), "{err}");
    }
}
