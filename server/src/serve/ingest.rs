//! `POST /v1/events`: authenticate, bound, parse and validate a batch, store it in one durable
//! transaction, answer `{"accepted":N,"duplicates":M}`.

use super::AppState;
use super::http::{ApiError, BodyError, discard_body, read_body};
use super::limits::bearer;
use super::store::check_storable;
use axum::Json;
use axum::body::Body;
use axum::extract::State;
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use edgerec::sync::{BatchError, EventBatch, IngestReply, MAX_BATCH_EVENTS, MAX_BODY_BYTES};
use std::sync::Arc;

/// Content types an upload may declare: JSON, or `text/plain` (what `navigator.sendBeacon`
/// sends for a string). No `Content-Type` at all is accepted too.
fn acceptable_content_type(headers: &HeaderMap) -> bool {
    match headers.get(header::CONTENT_TYPE) {
        None => true,
        Some(v) => {
            let essence = v.to_str().unwrap_or("").split(';').next().unwrap_or("").trim();
            essence.eq_ignore_ascii_case("application/json")
                || essence.eq_ignore_ascii_case("text/plain")
        }
    }
}

fn check_token(app: &AppState, headers: &HeaderMap) -> Result<(), ApiError> {
    let Some(tokens) = &app.tokens else { return Ok(()) };
    let challenge = |m: &str| {
        ApiError::new(StatusCode::UNAUTHORIZED, m)
            .with_header(header::WWW_AUTHENTICATE, HeaderValue::from_static("Bearer"))
    };
    match bearer(headers) {
        None => Err(challenge("missing Authorization: Bearer <token> header")),
        Some(t) if tokens.contains(t) => Ok(()),
        Some(_) => Err(challenge("invalid token")),
    }
}

/// The handler of `POST /v1/events`.
pub async fn post_events(
    State(app): State<Arc<AppState>>,
    headers: HeaderMap,
    body: Body,
) -> Result<Json<IngestReply>, ApiError> {
    if let Err(e) = check_token(&app, &headers) {
        discard_body(body).await;
        return Err(e);
    }
    if !acceptable_content_type(&headers) {
        discard_body(body).await;
        return Err(ApiError::new(
            StatusCode::UNSUPPORTED_MEDIA_TYPE,
            "Content-Type must be application/json or text/plain",
        ));
    }
    let bytes = read_body(&headers, body, MAX_BODY_BYTES).await.map_err(|e| match e {
        BodyError::TooLarge => ApiError::new(
            StatusCode::PAYLOAD_TOO_LARGE,
            format!("request body is larger than {MAX_BODY_BYTES} bytes"),
        ),
        BodyError::Io(m) => ApiError::new(StatusCode::BAD_REQUEST, format!("reading body: {m}")),
    })?;
    let batch = EventBatch::parse(&bytes).map_err(|e| match e {
        BatchError::Malformed(_) => ApiError::new(StatusCode::BAD_REQUEST, e.to_string()),
        BatchError::TooMany(_) => ApiError::new(StatusCode::PAYLOAD_TOO_LARGE, e.to_string()),
    })?;
    debug_assert!(batch.events.len() <= MAX_BATCH_EVENTS);
    for (i, event) in batch.events.iter().enumerate() {
        check_storable(event)
            .map_err(|m| ApiError::new(StatusCode::BAD_REQUEST, format!("events[{i}]: {m}")))?;
    }
    let outcome = app
        .store
        .insert_batch(&batch.events)
        .await
        .map_err(|e| ApiError::internal(format!("storing the batch failed: {e}")))?;
    tracing::debug!(
        events = batch.events.len(),
        accepted = outcome.accepted,
        duplicates = outcome.duplicates,
        "batch stored"
    );
    if let Some(retrainer) = &app.retrainer {
        retrainer.on_stored(outcome.accepted);
    }
    Ok(Json(IngestReply { accepted: outcome.accepted, duplicates: outcome.duplicates }))
}
