//! `minimalagent ui`: the live trace viewer — a local web server whose page lists sessions and
//! shows runs as timelines, live while they run.
//!
//! The page is three hand-written files built into the binary (no build step, nothing fetched
//! from elsewhere). It builds its DOM with `textContent`, never from HTML strings, and the
//! server forbids inline scripts with a strict Content-Security-Policy. On loopback the server
//! answers only requests addressed to loopback names (a web page elsewhere cannot reach it by
//! DNS rebinding), and deleting a session needs `--allow-delete`, a same-origin request and
//! a confirmation on the page.
//!
//! The JSON API the page uses (documented in docs/viewer.md):
//! - `GET /api/config`: `{"store", "allow_delete", "version"}`
//! - `GET /api/sessions?after=TOKEN`: `{"sessions": [...], "next"}`
//! - `GET /api/sessions/{id}`: `{"id", "head", "conversation", "runs"}`
//! - `GET /api/sessions/{id}/events`: server-sent `run` events (see `live`)
//! - `DELETE /api/sessions/{id}` (with `--allow-delete`)

mod live;

use std::net::SocketAddr;

use axum::Router;
use axum::extract::{Path, Query, Request, State};
use axum::http::StatusCode;
use axum::http::header::{self, HeaderMap, HeaderValue};
use axum::middleware::{self, Next};
use axum::response::sse::{KeepAlive, Sse};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use minimalagent::Sessions;
use minimalagent::session::SessionId;
use serde::Deserialize;
use serde_json::json;
use tokio::sync::watch;

use crate::cli::UiArgs;
use crate::failure::Failure;
use crate::store::OpenStore;
use crate::summary;

const INDEX_HTML: &str = include_str!("../../assets/index.html");
const APP_JS: &str = include_str!("../../assets/app.js");
const APP_CSS: &str = include_str!("../../assets/app.css");

/// Sessions per page of the list.
const LIST_PAGE: usize = 50;
/// Conversation entries read per store request.
const CONVERSATION_PAGE: usize = 200;

/// The page may load its own script, style and data, and nothing else; no inline script or
/// style, no frames, no forms, no plugins.
const CONTENT_SECURITY_POLICY: &str = "default-src 'none'; script-src 'self'; \
     style-src 'self'; img-src 'self'; connect-src 'self'; base-uri 'none'; form-action 'none'; \
     frame-ancestors 'none'";

/// The header a deletion request must carry: a custom header, so that another site's page
/// cannot send it without a CORS preflight, which this server never grants.
const DELETE_HEADER: &str = "x-minimalagent-delete";

#[derive(Clone)]
struct AppState {
    sessions: Sessions,
    label: String,
    url: String,
    allow_delete: bool,
    /// The Host header values accepted, when on loopback (`None`: any).
    hosts: Option<Vec<String>>,
    shutdown: watch::Receiver<bool>,
}

/// Serves the viewer until Ctrl-C.
pub(crate) async fn serve(store: OpenStore, args: &UiArgs) -> Result<(), Failure> {
    let address = SocketAddr::new(args.bind, args.port);
    let listener = tokio::net::TcpListener::bind(address)
        .await
        .map_err(|error| {
            Failure::usage(format!(
                "cannot listen on {address}: {error} (pass another --port, or --port 0 for any)"
            ))
        })?;
    let local = listener
        .local_addr()
        .map_err(|error| Failure::failed(format!("cannot read the listening address: {error}")))?;
    let loopback = args.bind.is_loopback();
    let hosts = loopback.then(|| {
        let port = local.port();
        vec![
            format!("127.0.0.1:{port}"),
            format!("localhost:{port}"),
            format!("[::1]:{port}"),
            local.to_string(),
        ]
    });
    let (stop, shutdown) = watch::channel(false);
    let state = AppState {
        sessions: store.sessions,
        label: store.label,
        url: store.url,
        allow_delete: args.allow_delete,
        hosts,
        shutdown,
    };
    let mode = if args.allow_delete {
        "deleting sessions allowed"
    } else {
        "read-only"
    };
    let mut out = anstream::stdout();
    // The first line is for people and for tests: the address, with the port chosen.
    let _ = std::io::Write::write_all(
        &mut out,
        format!(
            "MinimalAgent trace viewer: http://{local}/ ({}, {mode}). Ctrl-C stops it.\n",
            state.label
        )
        .as_bytes(),
    );
    let _ = std::io::Write::flush(&mut out);
    if !loopback {
        Failure::usage(format!(
            "listening on {local}, beyond this machine: the viewer has no authentication, and \
             anyone who can reach it can read every session"
        ))
        .warn();
    }
    let app = router(state);
    axum::serve(listener, app)
        .with_graceful_shutdown(async move {
            let _ = tokio::signal::ctrl_c().await;
            let _ = stop.send(true);
        })
        .await
        .map_err(|error| Failure::failed(format!("the viewer stopped: {error}")))
}

fn router(state: AppState) -> Router {
    Router::new()
        .route("/", get(index))
        .route("/assets/app.js", get(app_js))
        .route("/assets/app.css", get(app_css))
        .route("/api/config", get(config))
        .route("/api/sessions", get(list))
        .route("/api/sessions/{id}", get(session).delete(delete))
        .route("/api/sessions/{id}/events", get(events))
        .fallback(not_found)
        .layer(middleware::from_fn_with_state(state.clone(), guard))
        .with_state(state)
}

/// Checks the Host header (on loopback) and sets the security headers of every response.
async fn guard(State(state): State<AppState>, request: Request, next: Next) -> Response {
    if let Some(hosts) = &state.hosts {
        let host = request
            .headers()
            .get(header::HOST)
            .and_then(|host| host.to_str().ok())
            .unwrap_or_default();
        if !hosts
            .iter()
            .any(|allowed| allowed.eq_ignore_ascii_case(host))
        {
            return error_response(
                StatusCode::MISDIRECTED_REQUEST,
                "this viewer answers only requests to 127.0.0.1, localhost or [::1]",
            );
        }
    }
    let mut response = next.run(request).await;
    let headers = response.headers_mut();
    let set = |headers: &mut HeaderMap, name: &'static str, value: &'static str| {
        headers.insert(name, HeaderValue::from_static(value));
    };
    set(headers, "content-security-policy", CONTENT_SECURITY_POLICY);
    set(headers, "x-content-type-options", "nosniff");
    set(headers, "x-frame-options", "DENY");
    set(headers, "referrer-policy", "no-referrer");
    set(headers, "cross-origin-opener-policy", "same-origin");
    set(headers, "cross-origin-resource-policy", "same-origin");
    if !headers.contains_key(header::CACHE_CONTROL) {
        set(headers, "cache-control", "no-store");
    }
    response
}

fn asset(content_type: &'static str, body: &'static str) -> Response {
    ([(header::CONTENT_TYPE, content_type)], body).into_response()
}

async fn index() -> Response {
    asset("text/html; charset=utf-8", INDEX_HTML)
}

async fn app_js() -> Response {
    asset("text/javascript; charset=utf-8", APP_JS)
}

async fn app_css() -> Response {
    asset("text/css; charset=utf-8", APP_CSS)
}

async fn not_found() -> Response {
    error_response(StatusCode::NOT_FOUND, "not found")
}

async fn config(State(state): State<AppState>) -> Response {
    axum::Json(json!({
        "store": state.url,
        "allow_delete": state.allow_delete,
        "version": env!("CARGO_PKG_VERSION"),
    }))
    .into_response()
}

fn store_error(state: &AppState, error: &minimalagent::Error) -> Response {
    let status = match error.kind() {
        minimalagent::ErrorKind::InvalidSessionId => StatusCode::BAD_REQUEST,
        _ => StatusCode::BAD_GATEWAY,
    };
    error_response(status, &format!("{}: {error}", state.label))
}

fn error_response(status: StatusCode, message: &str) -> Response {
    (status, axum::Json(json!({ "error": message }))).into_response()
}

#[derive(Debug, Deserialize)]
struct ListQuery {
    after: Option<String>,
}

async fn list(State(state): State<AppState>, Query(query): Query<ListQuery>) -> Response {
    match summary::page(&state.sessions, query.after.as_deref(), LIST_PAGE, true).await {
        Ok((sessions, next)) => {
            axum::Json(json!({ "sessions": sessions, "next": next })).into_response()
        }
        Err(error) => store_error(&state, &error),
    }
}

/// The session id, or the response refusing it.
fn session_id(id: &str) -> Result<SessionId, Box<Response>> {
    SessionId::new(id)
        .map_err(|error| Box::new(error_response(StatusCode::BAD_REQUEST, &error.to_string())))
}

async fn session(State(state): State<AppState>, Path(id): Path<String>) -> Response {
    let session = match session_id(&id) {
        Ok(session) => session,
        Err(response) => return *response,
    };
    let head = match state.sessions.store().head(&session).await {
        Ok(head) => head,
        Err(error) => return store_error(&state, &error.into()),
    };
    if !head.exists() {
        return error_response(
            StatusCode::NOT_FOUND,
            &format!("session `{id}` not found (it may have expired or been deleted)"),
        );
    }
    let mut conversation = Vec::new();
    let mut from = None;
    loop {
        match state
            .sessions
            .conversation(&id, from, CONVERSATION_PAGE)
            .await
        {
            Ok(page) => {
                let done = page.next.is_none() || page.entries.is_empty();
                conversation.extend(page.entries);
                match page.next {
                    Some(next) if !done => from = Some(next),
                    _ => break,
                }
            }
            Err(error) => return store_error(&state, &error),
        }
    }
    let runs = match state.sessions.reasoning_history(&id).await {
        Ok(runs) => runs,
        Err(error) => return store_error(&state, &error),
    };
    axum::Json(json!({
        "id": id,
        "head": head,
        "conversation": conversation,
        "runs": runs,
    }))
    .into_response()
}

async fn events(State(state): State<AppState>, Path(id): Path<String>) -> Response {
    if let Err(response) = session_id(&id) {
        return *response;
    }
    let mut shutdown = state.shutdown.clone();
    let stop = async move {
        let _ = shutdown.wait_for(|stopped| *stopped).await;
    };
    match live::feed(&state.sessions, &id, stop) {
        Ok(feed) => Sse::new(feed)
            .keep_alive(KeepAlive::default())
            .into_response(),
        Err(error) => store_error(&state, &error),
    }
}

async fn delete(
    State(state): State<AppState>,
    headers: HeaderMap,
    Path(id): Path<String>,
) -> Response {
    if !state.allow_delete {
        return error_response(
            StatusCode::FORBIDDEN,
            "deleting sessions is off: start the viewer with --allow-delete",
        );
    }
    if headers.get(DELETE_HEADER).and_then(|v| v.to_str().ok()) != Some(id.as_str()) {
        return error_response(
            StatusCode::FORBIDDEN,
            "a deletion must come from the viewer's page (confirmation header missing)",
        );
    }
    if let Some(origin) = headers.get(header::ORIGIN).and_then(|v| v.to_str().ok()) {
        let host = headers
            .get(header::HOST)
            .and_then(|v| v.to_str().ok())
            .unwrap_or_default();
        if origin != format!("http://{host}") {
            return error_response(StatusCode::FORBIDDEN, "cross-origin deletion refused");
        }
    }
    if let Err(response) = session_id(&id) {
        return *response;
    }
    match state.sessions.delete(&id).await {
        Ok(()) => axum::Json(json!({ "deleted": id })).into_response(),
        Err(error) => store_error(&state, &error),
    }
}
