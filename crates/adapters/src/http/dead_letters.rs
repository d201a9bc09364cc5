//! Admin endpoints over a service's dead-letter queue: look at what was dead-lettered, and
//! replay it once the cause is fixed (the consumers' inbox makes replays of messages that were
//! applied before harmless).

use std::sync::Arc;

use actix_web::{HttpResponse, get, post, web};
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};

use super::ApiError;
use super::auth::Authenticated;
use domain::Action;
use ports::DeadLetters;

/// The dead-letter queue a service's admin endpoints work on.
#[derive(Clone)]
pub struct DeadLetterQueue(pub Arc<dyn DeadLetters>);

impl std::fmt::Debug for DeadLetterQueue {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("DeadLetterQueue")
    }
}

/// How many dead letters to look at or replay.
#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct DeadLetterQuery {
    /// At most this many (1 to 1000, default 20 to look, 100 to replay).
    pub limit: Option<u32>,
}

/// One dead letter.
#[derive(Debug, Serialize, Deserialize, ToSchema)]
pub struct DeadLetterItem {
    /// Its message id.
    pub message_id: Option<String>,
    /// The routing key it was published with (where a replay sends it).
    pub routing_key: String,
    /// Its body.
    pub body: String,
}

/// The dead-letter queue's content.
#[derive(Debug, Serialize, Deserialize, ToSchema)]
pub struct DeadLetterPage {
    /// Messages waiting.
    pub count: u32,
    /// The oldest of them.
    pub items: Vec<DeadLetterItem>,
}

/// What a replay did.
#[derive(Debug, Serialize, Deserialize, ToSchema)]
pub struct ReplayReport {
    /// Messages sent back to their routing key.
    pub replayed: u32,
}

fn limit(query: &DeadLetterQuery, default: u32) -> u32 {
    query.limit.unwrap_or(default).clamp(1, 1000)
}

fn unavailable(e: anyhow::Error) -> ApiError {
    ApiError::unavailable("the message broker is unavailable", e)
}

/// Lists the oldest dead letters of this service's queue, leaving them in place.
#[utoipa::path(
    get,
    path = "/admin/dead-letters",
    tag = "operations",
    params(DeadLetterQuery),
    responses(
        (status = 200, description = "The dead letters", body = DeadLetterPage),
        (status = 503, description = "The broker is unavailable", body = crate::http::Problem, content_type = "application/problem+json"),
    )
)]
#[get("/admin/dead-letters")]
pub async fn list_dead_letters(
    caller: Authenticated,
    queue: web::Data<DeadLetterQueue>,
    query: web::Query<DeadLetterQuery>,
) -> Result<HttpResponse, ApiError> {
    caller.require(Action::Operate)?;
    let (count, items) = queue.0.peek(limit(&query, 20)).await.map_err(unavailable)?;
    Ok(HttpResponse::Ok().json(DeadLetterPage {
        count,
        items: items
            .into_iter()
            .map(|d| DeadLetterItem {
                message_id: d.message_id,
                routing_key: d.routing_key,
                body: d.body,
            })
            .collect(),
    }))
}

/// Sends dead letters back to their routing key, oldest first. Each one is applied at most
/// once; one that fails again is dead-lettered again.
#[utoipa::path(
    post,
    path = "/admin/dead-letters/replay",
    tag = "operations",
    params(DeadLetterQuery),
    responses(
        (status = 200, description = "How many were replayed", body = ReplayReport),
        (status = 503, description = "The broker is unavailable", body = crate::http::Problem, content_type = "application/problem+json"),
    )
)]
#[post("/admin/dead-letters/replay")]
pub async fn replay_dead_letters(
    caller: Authenticated,
    queue: web::Data<DeadLetterQueue>,
    query: web::Query<DeadLetterQuery>,
) -> Result<HttpResponse, ApiError> {
    caller.require(Action::Operate)?;
    let replayed = queue
        .0
        .replay(limit(&query, 100))
        .await
        .map_err(unavailable)?;
    Ok(HttpResponse::Ok().json(ReplayReport { replayed }))
}
