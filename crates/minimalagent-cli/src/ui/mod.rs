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
//! Held tool calls (runs paused for a person's approval) are shown read-only unless the viewer
//! starts with `--allow-approvals`, which it accepts on loopback only. Then the page may answer
//! them through `POST /api/sessions/{id}/decisions`, which needs the token made at start (sent
//! to the page inside its HTML, back in the `X-Approval-Token` header), a JSON body, and no
//! foreign `Origin`: another site's page can neither read the token nor send the header without
//! a CORS preflight, which this server never grants. Deciding records the decision
//! (`Sessions::decide`); it runs nothing.
//!
//! The JSON API the page uses (documented in docs/viewer.md and docs/cli.md):
//! - `GET /api/config`: `{"store", "allow_delete", "allow_approvals", "version"}`
//! - `GET /api/sessions?after=TOKEN`: `{"sessions": [...], "next"}`
//! - `GET /api/sessions/{id}`: `{"id", "head", "conversation", "runs", "fork"}` (`fork`:
//!   `{"origin", "children"}`, where the session was forked from and its forks)
//! - `GET /api/sessions/{id}/events`: server-sent `run` events (see `live`)
//! - `DELETE /api/sessions/{id}` (with `--allow-delete`)
//! - `POST /api/sessions/{id}/decisions` (with `--allow-approvals`): `{"decisions": {ID:
//!   DECISION}}` → `{"run", "run_id", "recorded", "pending", "ready_to_continue"}`

mod live;

use std::net::SocketAddr;
use std::sync::Arc;

use axum::Router;
use axum::body::Bytes;
use axum::extract::{Path, Query, Request, State};
use axum::http::StatusCode;
use axum::http::header::{self, HeaderMap, HeaderValue};
use axum::middleware::{self, Next};
use axum::response::sse::{KeepAlive, Sse};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use minimalagent::session::SessionId;
use minimalagent::{
    Decisions, InterruptDecision, ResumeRefusal, Sessions, fork_children, fork_origin,
};
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

/// The header a decision request must carry the approval token in: a custom header too (a
/// preflight for any other site), and a secret one, which only the viewer's own page has.
const APPROVAL_HEADER: &str = "x-approval-token";

/// The `<meta>` element that gives the page the approval token. The page reads it from its
/// DOM: the Content-Security-Policy allows no inline script to carry it.
const TOKEN_META: &str = "minimalagent-approval-token";

#[derive(Clone)]
struct AppState {
    sessions: Sessions,
    label: String,
    url: String,
    allow_delete: bool,
    /// The token a decision request must carry, made at start; `None`: answering is off.
    approval_token: Option<Arc<str>>,
    /// The Host header values accepted, when on loopback (`None`: any).
    hosts: Option<Vec<String>>,
    shutdown: watch::Receiver<bool>,
}

/// Serves the viewer until Ctrl-C.
pub(crate) async fn serve(store: OpenStore, args: &UiArgs) -> Result<(), Failure> {
    // Answering held calls is for the person at this machine: beyond loopback, the Host check
    // that keeps other sites' pages out (DNS rebinding) is off, and the token would cross the
    // network in clear text.
    if args.allow_approvals && !args.bind.is_loopback() {
        return Err(Failure::usage(format!(
            "--allow-approvals needs a loopback address: the viewer answers held tool calls \
             only for the person at this machine, and {} is not loopback (use --bind 127.0.0.1 \
             or ::1, or leave out --allow-approvals to show approvals read-only)",
            args.bind
        )));
    }
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
        approval_token: args.allow_approvals.then(approval_token),
        hosts,
        shutdown,
    };
    let allowed: Vec<&str> = [
        (args.allow_delete, "deleting sessions allowed"),
        (args.allow_approvals, "answering approvals allowed"),
    ]
    .into_iter()
    .filter_map(|(on, what)| on.then_some(what))
    .collect();
    let mode = if allowed.is_empty() {
        "read-only".to_owned()
    } else {
        allowed.join(", ")
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

/// A token for this start of the viewer: 244 bits from the operating system's random source
/// (two version-4 UUIDs), so that it cannot be guessed, and a new one each start.
fn approval_token() -> Arc<str> {
    let token = format!(
        "{}{}",
        uuid::Uuid::new_v4().simple(),
        uuid::Uuid::new_v4().simple()
    );
    Arc::from(token)
}

fn router(state: AppState) -> Router {
    let mut router = Router::new();
    // Without --allow-approvals the endpoint does not exist (404), rather than refusing.
    if state.approval_token.is_some() {
        router = router.route("/api/sessions/{id}/decisions", post(decide));
    }
    router
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

async fn index(State(state): State<AppState>) -> Response {
    match &state.approval_token {
        None => asset("text/html; charset=utf-8", INDEX_HTML),
        // The token is hex: nothing in it needs escaping in an attribute.
        Some(token) => {
            let meta = format!("<meta name=\"{TOKEN_META}\" content=\"{token}\">\n</head>");
            let page = INDEX_HTML.replacen("</head>", &meta, 1);
            ([(header::CONTENT_TYPE, "text/html; charset=utf-8")], page).into_response()
        }
    }
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
        "allow_approvals": state.approval_token.is_some(),
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
    // Read from the state with the library's readers, so that the page needs to know nothing
    // of the keys forks are kept under.
    let fork = json!({
        "origin": fork_origin(&head.state),
        "children": fork_children(&head.state),
    });
    axum::Json(json!({
        "id": id,
        "head": head,
        "conversation": conversation,
        "runs": runs,
        "fork": fork,
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

/// The body of a decision request.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct DecisionRequest {
    /// Decisions by interrupt id, as `Agent::respond` takes them.
    decisions: Decisions,
}

/// Whether two byte strings are equal, taking as long whatever the first difference (the
/// token must not leak through timing).
fn same_secret(given: &[u8], expected: &[u8]) -> bool {
    given.len() == expected.len()
        && given
            .iter()
            .zip(expected)
            .fold(0_u8, |differs, (a, b)| differs | (a ^ b))
            == 0
}

/// Why a decision request is refused before its body is read, if it is: it must come from
/// the viewer's own page.
fn refuse_foreign(state: &AppState, headers: &HeaderMap) -> Option<Response> {
    let text = |name: header::HeaderName| headers.get(name).and_then(|v| v.to_str().ok());
    // Browsers send Origin with every POST; a page elsewhere cannot make it ours.
    if let Some(origin) = headers.get(header::ORIGIN) {
        let host = text(header::HOST).unwrap_or_default();
        if origin.to_str().ok() != Some(format!("http://{host}").as_str()) {
            return Some(error_response(
                StatusCode::FORBIDDEN,
                "cross-origin decision refused: only the viewer's own page may answer",
            ));
        }
    }
    if let Some(site) = headers.get("sec-fetch-site")
        && site.as_bytes() != b"same-origin"
    {
        return Some(error_response(
            StatusCode::FORBIDDEN,
            "cross-site decision refused: only the viewer's own page may answer",
        ));
    }
    let expected = state.approval_token.as_deref().unwrap_or_default();
    let given = headers
        .get(APPROVAL_HEADER)
        .map(HeaderValue::as_bytes)
        .unwrap_or_default();
    if expected.is_empty() || !same_secret(given, expected.as_bytes()) {
        return Some(error_response(
            StatusCode::FORBIDDEN,
            "missing or wrong approval token: answer from the page this viewer serves (the \
             token changes each time the viewer starts; reload the page)",
        ));
    }
    let json = text(header::CONTENT_TYPE)
        .and_then(|value| value.split(';').next())
        .is_some_and(|media| media.trim().eq_ignore_ascii_case("application/json"));
    if !json {
        return Some(error_response(
            StatusCode::UNSUPPORTED_MEDIA_TYPE,
            "a decision must be sent as application/json",
        ));
    }
    None
}

/// `POST /api/sessions/{id}/decisions`: records decisions on held calls (only with
/// `--allow-approvals`, from the viewer's own page).
async fn decide(
    State(state): State<AppState>,
    headers: HeaderMap,
    Path(id): Path<String>,
    body: Bytes,
) -> Response {
    if let Some(refused) = refuse_foreign(&state, &headers) {
        return refused;
    }
    let session = match session_id(&id) {
        Ok(session) => session,
        Err(response) => return *response,
    };
    let request: DecisionRequest = match serde_json::from_slice(&body) {
        Ok(request) => request,
        Err(error) => {
            return error_response(
                StatusCode::BAD_REQUEST,
                &format!(
                    "the body must be {{\"decisions\": {{INTERRUPT_ID: {{\"decision\": \
                     \"approve\"}}, …}}}}: {error}"
                ),
            );
        }
    };
    let decisions = request.decisions;
    if decisions.is_empty() {
        return error_response(StatusCode::BAD_REQUEST, "no decision was given");
    }
    // `expired` is the store's word for a call nobody decided in time, not a person's answer.
    if decisions
        .iter()
        .any(|(_, decision)| matches!(decision, InterruptDecision::Expired))
    {
        return error_response(
            StatusCode::BAD_REQUEST,
            "`expired` is not a decision a person makes: approve, deny or answer",
        );
    }
    match state.sessions.store().head(&session).await {
        Ok(head) if head.exists() => {}
        Ok(_) => {
            return error_response(
                StatusCode::NOT_FOUND,
                &format!("session `{id}` not found (it may have expired or been deleted)"),
            );
        }
        Err(error) => return store_error(&state, &error.into()),
    }
    let after = match state.sessions.decide(&id, &decisions).await {
        Ok(after) => after,
        Err(error) => {
            let status = match error.resume_refusal() {
                Some(ResumeRefusal::ClaimFailed { .. }) => StatusCode::SERVICE_UNAVAILABLE,
                Some(ResumeRefusal::NoDecisions) => StatusCode::BAD_REQUEST,
                Some(_) => StatusCode::CONFLICT,
                None => return store_error(&state, &error),
            };
            return error_response(status, &error.to_string());
        }
    };
    // What was recorded: as asked, or `expired` for a call whose time had run out (read back
    // from the trace; when that read fails, the decisions are recorded all the same).
    let mut recorded = serde_json::Map::new();
    for (held, asked) in decisions.iter() {
        recorded.insert(held.clone(), json!(asked));
    }
    let ids: Vec<String> = recorded.keys().cloned().collect();
    if let Ok(found) = crate::approvals::recorded(&state.sessions, &id, after.run_id, &ids).await {
        for (interrupt, decision) in found {
            recorded.insert(interrupt.id, json!(decision));
        }
    }
    // An audit line on the viewer's terminal: who runs the viewer sees what the page decided.
    for (held, decision) in &recorded {
        anstream::eprintln!(
            "Recorded from the page: session `{}` run {}: {} → {}",
            crate::text::one_line(&id),
            after.run,
            crate::text::one_line(held),
            decision
                .get("decision")
                .and_then(serde_json::Value::as_str)
                .unwrap_or("?")
        );
    }
    axum::Json(json!({
        "run": after.run,
        "run_id": after.run_id,
        "recorded": recorded,
        "pending": after.interrupts,
        "ready_to_continue": after.interrupts.is_empty(),
    }))
    .into_response()
}
