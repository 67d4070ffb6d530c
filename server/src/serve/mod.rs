//! `edgerec serve`: the sync server (axum on tokio).
//!
//! | route | what |
//! |---|---|
//! | `POST /v1/events` | store a batch of events (`{"events":[…]}`), answer `{"accepted":N,"duplicates":M}` |
//! | `GET /v1/models/latest` | the latest bundle's `manifest.json` (`ETag`, `X-Edgerec-Model-Version`) |
//! | `GET /v1/models/{version}/{file}` | a bundle file, cached as immutable |
//! | `GET /v1/experiments` | the `--experiments` JSON, or `{"layers":[]}` |
//! | `GET /healthz` | `{"ok":true,"events":N}` |
//! | anything else | `--static DIR` when given (cross-origin isolated: COOP + COEP), else 404 |
//!
//! Uploads need `Authorization: Bearer <token>` with a token of `--token-file`; **without
//! `--token-file` anyone may upload** (fine on loopback, not on a public address). Every error
//! answer is JSON, `{"error": "…"}`. A batch is stored in one durable transaction before its
//! 200 is sent, so an acknowledged event survives `kill -9`.

mod http;
mod ingest;
pub mod limits;
pub mod load;
mod models;
pub mod retrain;
pub mod store;

use axum::Router;
use axum::extract::{ConnectInfo, Request, State};
use axum::http::{HeaderValue, Method, StatusCode, header};
use axum::middleware::{self, Next};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use clap::Args;
use http::{ApiError, discard_body, json_ok};
use limits::{ClientKey, RateLimiter, Tokens, bearer};
use models::ModelsDir;
use std::io::Write;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Instant;
use store::Store;
use tower_http::cors::{AllowOrigin, CorsLayer};
use tower_http::services::ServeDir;

/// Arguments of `edgerec serve`.
#[derive(Args, Debug)]
pub struct ServeArgs {
    /// Event store: `sqlite:PATH` (created if missing) or `postgres://user@host:port/db`.
    #[arg(long, default_value = "sqlite:edgerec-events.db")]
    db: String,
    /// Address to listen on (`127.0.0.1:0` picks a free port; the real one is printed).
    #[arg(long, default_value = "127.0.0.1:8787")]
    addr: SocketAddr,
    /// Model bundles: `DIR/<version>/manifest.json` + files, optional `DIR/LATEST`.
    #[arg(long)]
    models: Option<PathBuf>,
    /// Bearer tokens allowed to upload events, one per line. Without it, uploads need no token.
    #[arg(long)]
    token_file: Option<PathBuf>,
    /// Serve every other path from this directory (the demo page and the API on one origin).
    #[arg(long = "static")]
    static_dir: Option<PathBuf>,
    /// JSON served at `GET /v1/experiments` (re-read when it changes).
    #[arg(long)]
    experiments: Option<PathBuf>,
    /// Origins allowed by CORS (`*` for any); repeat or list several. None: no CORS headers.
    #[arg(long = "cors-origin", num_args = 1..)]
    cors_origin: Vec<String>,
    /// Requests per second allowed per token (or per client address without a valid token) on
    /// the `/v1` routes; over it the answer is 429 with `Retry-After`. Default: unlimited.
    #[arg(long)]
    rate_limit: Option<f64>,
    /// Requests a client may burst above `--rate-limit` (default: one second's worth, ≥ 1).
    #[arg(long, requires = "rate_limit")]
    rate_burst: Option<f64>,
    /// Retraining from the stored events.
    #[command(flatten)]
    retrain: retrain::RetrainArgs,
}

/// What every handler shares.
pub struct AppState {
    /// The event store.
    pub store: Arc<dyn Store>,
    /// Upload tokens (`None`: no authentication).
    pub tokens: Option<Tokens>,
    /// Rate limit (`None`: unlimited).
    pub limiter: Option<RateLimiter>,
    /// Model bundles (`None`: the model routes answer 404).
    models: Option<Arc<ModelsDir>>,
    /// The experiments document.
    experiments: Option<PathBuf>,
    /// Retraining after every N stored events (`--retrain-every`).
    pub retrainer: Option<Arc<retrain::Retrainer>>,
}

/// Runs `edgerec serve` until SIGTERM or Ctrl-C.
pub fn run(args: &ServeArgs) -> Result<(), String> {
    init_logging();
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .map_err(|e| format!("cannot start the async runtime: {e}"))?;
    runtime.block_on(serve(args))
}

fn init_logging() {
    let filter = tracing_subscriber::EnvFilter::try_from_env("EDGEREC_LOG")
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info"));
    // Already initialised (never, in the CLI) is not an error worth failing for.
    let _ = tracing_subscriber::fmt()
        .with_writer(std::io::stderr)
        .with_env_filter(filter)
        .with_target(false)
        .try_init();
}

async fn serve(args: &ServeArgs) -> Result<(), String> {
    let state = Arc::new(state(args).await?);
    let backend = state.store.backend();
    let app = router(Arc::clone(&state), args)?;
    let listener = tokio::net::TcpListener::bind(args.addr)
        .await
        .map_err(|e| format!("cannot listen on {}: {e}", args.addr))?;
    let addr = listener.local_addr().map_err(|e| format!("listening socket: {e}"))?;
    {
        let mut out = std::io::stdout().lock();
        writeln!(out, "edgerec serve listening on http://{addr}")
            .and_then(|()| out.flush())
            .map_err(|e| format!("writing to stdout: {e}"))?;
    }
    tracing::info!(%addr, store = backend, auth = state.tokens.is_some(), "serving");
    axum::serve(listener, app.into_make_service_with_connect_info::<SocketAddr>())
        .with_graceful_shutdown(shutdown_signal())
        .await
        .map_err(|e| format!("server failed: {e}"))?;
    tracing::info!("shut down");
    Ok(())
}

async fn state(args: &ServeArgs) -> Result<AppState, String> {
    let tokens = args.token_file.as_deref().map(Tokens::load).transpose()?;
    if tokens.is_none() {
        tracing::warn!("no --token-file: POST /v1/events accepts uploads without a token");
    }
    let limiter = match args.rate_limit {
        Some(rate) if !(rate.is_finite() && rate > 0.0) => {
            return Err(format!("--rate-limit must be a positive number, not {rate}"));
        }
        Some(rate) => Some(RateLimiter::new(rate, args.rate_burst.unwrap_or(rate.max(1.0)))),
        None => None,
    };
    let models = args.models.clone().map(ModelsDir::new).transpose()?.map(Arc::new);
    if let Some(path) = &args.experiments
        && !path.is_file()
    {
        return Err(format!("--experiments {} is not a file", path.display()));
    }
    if let Some(dir) = &args.static_dir
        && !dir.is_dir()
    {
        return Err(format!("--static {} is not a directory", dir.display()));
    }
    let retrainer = retrain::Retrainer::from_args(&args.retrain, &args.db, args.models.as_deref())?;
    if let Some(r) = &retrainer {
        r.spawn_schedule();
    }
    let store = store::open(&args.db).await.map_err(|e| e.to_string())?;
    Ok(AppState {
        store,
        tokens,
        limiter,
        models,
        experiments: args.experiments.clone(),
        retrainer,
    })
}

fn cors(origins: &[String]) -> Result<Option<CorsLayer>, String> {
    if origins.is_empty() {
        return Ok(None);
    }
    let allow = if origins.iter().any(|o| o == "*") {
        AllowOrigin::any()
    } else {
        let list = origins
            .iter()
            .map(|o| HeaderValue::from_str(o).map_err(|_| format!("bad --cors-origin {o:?}")))
            .collect::<Result<Vec<_>, _>>()?;
        AllowOrigin::list(list)
    };
    Ok(Some(
        CorsLayer::new()
            .allow_origin(allow)
            .allow_methods([Method::GET, Method::POST, Method::OPTIONS])
            .allow_headers([header::AUTHORIZATION, header::CONTENT_TYPE, header::IF_NONE_MATCH])
            .expose_headers([
                header::ETAG,
                models::MODEL_VERSION_HEADER,
                header::CONTENT_LOCATION,
                header::RETRY_AFTER,
            ])
            .max_age(std::time::Duration::from_secs(600)),
    ))
}

/// The whole application: API routes, rate limit, static files, JSON errors, CORS.
fn router(state: Arc<AppState>, args: &ServeArgs) -> Result<Router, String> {
    let api = Router::new()
        .route("/v1/events", post(ingest::post_events))
        .route("/v1/models/latest", get(models::latest))
        .route("/v1/models/{version}/{file}", get(models::file))
        .route("/v1/experiments", get(models::experiments))
        .route_layer(middleware::from_fn_with_state(Arc::clone(&state), rate_limit));
    let mut app = api.route("/healthz", get(healthz)).with_state(state);
    app = match &args.static_dir {
        Some(dir) => app.fallback_service(
            Router::new()
                .fallback_service(ServeDir::new(dir))
                .layer(middleware::map_response(cross_origin_isolated)),
        ),
        None => app.fallback(|| async { ApiError::new(StatusCode::NOT_FOUND, "not found") }),
    };
    app = app.layer(middleware::from_fn(http::json_errors)).layer(middleware::from_fn(log));
    if let Some(cors) = cors(&args.cors_origin)? {
        app = app.layer(cors);
    }
    Ok(app)
}

/// Static files are served cross-origin isolated, so that pages may share memory with workers
/// (the npm package's `threads` module); the demo's resources are all same-origin.
async fn cross_origin_isolated(mut response: Response) -> Response {
    let headers = response.headers_mut();
    headers.insert("cross-origin-opener-policy", HeaderValue::from_static("same-origin"));
    headers.insert("cross-origin-embedder-policy", HeaderValue::from_static("require-corp"));
    response
}

/// `GET /healthz`.
async fn healthz(State(app): State<Arc<AppState>>) -> Result<Response, ApiError> {
    let events = app.store.count().await.map_err(|e| {
        ApiError::new(StatusCode::SERVICE_UNAVAILABLE, format!("event store unavailable: {e}"))
    })?;
    let mut body = serde_json::json!({ "ok": true, "events": events });
    if let Some(retrainer) = &app.retrainer {
        // Versions published by --retrain-every since start, and whether one is training now.
        body["retrained"] = retrainer.published().into();
        body["retraining"] = retrainer.running().into();
    }
    Ok(json_ok(&body))
}

/// Middleware on the `/v1` routes: one request from the client's bucket, else 429.
async fn rate_limit(
    State(app): State<Arc<AppState>>,
    ConnectInfo(peer): ConnectInfo<SocketAddr>,
    request: Request,
    next: Next,
) -> Response {
    let Some(limiter) = &app.limiter else { return next.run(request).await };
    let key = match (bearer(request.headers()), &app.tokens) {
        (Some(token), Some(tokens)) if tokens.contains(token) => ClientKey::Token(token.to_owned()),
        _ => ClientKey::Addr(peer.ip()),
    };
    match limiter.check(key) {
        Ok(()) => next.run(request).await,
        Err(wait) => {
            discard_body(request.into_body()).await;
            let secs = wait.as_secs_f64().ceil().max(1.0) as u64;
            ApiError::new(
                StatusCode::TOO_MANY_REQUESTS,
                format!("rate limit exceeded; retry in {secs} s"),
            )
            .with_header(header::RETRY_AFTER, HeaderValue::from(secs))
            .into_response()
        }
    }
}

/// Middleware: one debug line per request (method, path, status, milliseconds).
async fn log(request: Request, next: Next) -> Response {
    let method = request.method().clone();
    let path = request.uri().path().to_owned();
    let start = Instant::now();
    let response = next.run(request).await;
    let status = response.status().as_u16();
    let ms = start.elapsed().as_secs_f64() * 1e3;
    if status >= 500 {
        tracing::warn!(%method, %path, status, ms, "request failed");
    } else {
        tracing::debug!(%method, %path, status, ms, "request");
    }
    response
}

async fn shutdown_signal() {
    let ctrl_c = async {
        if tokio::signal::ctrl_c().await.is_err() {
            std::future::pending::<()>().await;
        }
    };
    #[cfg(unix)]
    let terminate = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut s) => {
                s.recv().await;
            }
            Err(_) => std::future::pending::<()>().await,
        }
    };
    #[cfg(not(unix))]
    let terminate = std::future::pending::<()>();
    tokio::select! {
        () = ctrl_c => {},
        () = terminate => {},
    }
    tracing::info!("shutdown signal received; finishing open requests");
}
