//! The admin API under `/_postroom/`: health, reset, the manual clock and
//! Prometheus metrics.
//!
//! It is not an AWS API. Its bodies are plain JSON, except the metrics.

use crate::router::{App, HttpResponse};
use bytes::Bytes;
use http::header::{HeaderValue, CONTENT_TYPE};
use http::{Method, Request, Response, StatusCode};
use http_body_util::Full;
use serde_json::{json, Value};
use std::time::Duration;

pub const PREFIX: &str = "/_postroom/";
/// Store kind and key of the instant of a manual clock, kept so that the
/// clock resumes there after a restart.
pub const CLOCK_KIND: &str = "postroom/clock";
pub const CLOCK_KEY: &str = "manual";

pub async fn handle(app: &App, request: &Request<Bytes>) -> HttpResponse {
    let path = request.uri().path().trim_end_matches('/');
    match (request.method(), path) {
        (&Method::GET, "/_postroom/health") => health(app),
        (&Method::POST, "/_postroom/reset") => match app.engine.reset().await {
            Ok(()) => {
                tracing::info!("removed every resource on request of the admin API");
                reply(StatusCode::OK, json!({"reset": true}))
            }
            Err(error) => {
                tracing::error!(%error, "reset failed");
                reply(StatusCode::INTERNAL_SERVER_ERROR, json!({"message": format!("reset failed: {error}")}))
            }
        },
        (&Method::GET, "/_postroom/clock") => {
            let clock = app.engine.clock();
            reply(StatusCode::OK, json!({"now_ms": clock.now(), "manual": clock.is_manual()}))
        }
        (&Method::POST, "/_postroom/clock") => advance_clock(app, request.body()).await,
        (&Method::GET, postroom_sns::CERTIFICATE_PATH) => match app.sns.certificate().await {
            Ok(pem) => {
                let mut response = Response::new(Full::new(Bytes::from(pem)));
                response.headers_mut().insert(CONTENT_TYPE, HeaderValue::from_static("application/x-pem-file"));
                response
            }
            Err(error) => {
                tracing::error!(%error, "creating the SNS signing certificate failed");
                reply(StatusCode::INTERNAL_SERVER_ERROR, json!({"message": error.to_string()}))
            }
        },
        (&Method::GET, "/_postroom/metrics") => {
            let body = app.metrics.render(&app.engine).await;
            let mut response = Response::new(Full::new(Bytes::from(body)));
            response.headers_mut().insert(CONTENT_TYPE, HeaderValue::from_static("text/plain; version=0.0.4"));
            response
        }
        _ => reply(
            StatusCode::NOT_FOUND,
            json!({"message": format!("{} {} is not an admin endpoint", request.method(), request.uri().path())}),
        ),
    }
}

fn health(app: &App) -> HttpResponse {
    let store = app.engine.store();
    reply(
        StatusCode::OK,
        json!({
            "status": "ok",
            "version": app.version,
            "store": store.kind(),
            "durable": store.is_durable(),
            "clock": if app.engine.clock().is_manual() { "manual" } else { "system" },
            "services": ["sqs", "sns", "events"],
        }),
    )
}

async fn advance_clock(app: &App, body: &Bytes) -> HttpResponse {
    let seconds = serde_json::from_slice::<Value>(body)
        .ok()
        .and_then(|value| value.get("advance_seconds").and_then(Value::as_f64))
        .filter(|seconds| seconds.is_finite() && *seconds >= 0.0);
    let Some(seconds) = seconds else {
        return reply(
            StatusCode::BAD_REQUEST,
            json!({"message": "the body must be a JSON object with a non-negative number advance_seconds"}),
        );
    };
    match app.engine.clock().advance(Duration::from_secs_f64(seconds)) {
        Some(now) => {
            tracing::debug!(seconds, now_ms = now, "advanced the manual clock");
            let stored = app.engine.store().put_resource(CLOCK_KIND, CLOCK_KEY, now.to_string().into_bytes()).await;
            if let Err(error) = stored {
                tracing::warn!(%error, "storing the manual clock failed; a restart may start it earlier");
            }
            reply(StatusCode::OK, json!({"now_ms": now}))
        }
        None => reply(
            StatusCode::CONFLICT,
            json!({"message": "the server runs on the system clock; start it with --clock manual to move time"}),
        ),
    }
}

fn reply(status: StatusCode, body: Value) -> HttpResponse {
    let mut response = Response::new(Full::new(Bytes::from(body.to_string())));
    *response.status_mut() = status;
    response.headers_mut().insert(CONTENT_TYPE, HeaderValue::from_static("application/json"));
    response
}
