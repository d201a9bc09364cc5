//! Idempotency records in the service's own database.

use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;
use sea_orm::sea_query::Expr;
use sea_orm::{
    ActiveValue::Set, ColumnTrait, DatabaseConnection, EntityTrait, QueryFilter, SqlErr,
};
use uuid::Uuid;

use super::entities::idempotency_keys as keys;
use super::{corrupt, store_err, to_naive};
use ports::StoreError;
use ports::idempotency::{Claim, IdempotencyStore, StoredResponse};
use ports::{Clock, SystemClock};

/// [`IdempotencyStore`] on a sea-orm connection (MySQL or SQLite).
#[derive(Debug, Clone)]
pub struct SqlIdempotencyStore {
    db: DatabaseConnection,
    clock: Arc<dyn Clock>,
}

impl SqlIdempotencyStore {
    /// Records in `db`.
    pub fn new(db: DatabaseConnection) -> Self {
        Self {
            db,
            clock: Arc::new(SystemClock),
        }
    }

    /// Measures leases and expiry with `clock` instead of the system clock.
    pub fn with_clock(mut self, clock: Arc<dyn Clock>) -> Self {
        self.clock = clock;
        self
    }

    fn later(&self, by: Duration) -> chrono::NaiveDateTime {
        to_naive(self.clock.now() + chrono::Duration::from_std(by).unwrap_or(chrono::Duration::MAX))
    }
}

const IN_PROGRESS: &str = "in_progress";
const COMPLETED: &str = "completed";

#[async_trait]
impl IdempotencyStore for SqlIdempotencyStore {
    async fn claim(
        &self,
        key: &str,
        fingerprint: &str,
        lease: Duration,
        retention: Duration,
    ) -> Result<Claim, StoreError> {
        // A few rounds at most: each one either decides or removes an expired record.
        for _ in 0..3 {
            let now = to_naive(self.clock.now());
            let resource_id = Uuid::now_v7();
            let row = keys::ActiveModel {
                idem_key: Set(key.to_owned()),
                fingerprint: Set(fingerprint.to_owned()),
                state: Set(IN_PROGRESS.to_owned()),
                resource_id: Set(resource_id),
                response_status: Set(None),
                response_body: Set(None),
                response_headers: Set(None),
                locked_until: Set(self.later(lease)),
                expires_at: Set(self.later(retention)),
                created_at: Set(now),
            };
            match keys::Entity::insert(row)
                .exec_without_returning(&self.db)
                .await
            {
                Ok(_) => return Ok(Claim::Fresh { resource_id }),
                Err(e) if matches!(e.sql_err(), Some(SqlErr::UniqueConstraintViolation(_))) => {}
                Err(e) => return Err(store_err(e, "failed to claim the idempotency key")),
            }
            let Some(existing) = keys::Entity::find_by_id(key.to_owned())
                .one(&self.db)
                .await
                .map_err(|e| store_err(e, "failed to read the idempotency key"))?
            else {
                continue;
            };
            if existing.expires_at < now {
                keys::Entity::delete_many()
                    .filter(keys::Column::IdemKey.eq(key))
                    .filter(keys::Column::ExpiresAt.eq(existing.expires_at))
                    .exec(&self.db)
                    .await
                    .map_err(|e| store_err(e, "failed to drop an expired idempotency key"))?;
                continue;
            }
            if existing.fingerprint != fingerprint {
                return Ok(Claim::Mismatch);
            }
            if existing.state == COMPLETED {
                let headers: Vec<(String, String)> = existing
                    .response_headers
                    .as_deref()
                    .map(serde_json::from_str)
                    .transpose()
                    .map_err(corrupt)?
                    .unwrap_or_default();
                return Ok(Claim::Replay(StoredResponse {
                    status: existing
                        .response_status
                        .and_then(|s| u16::try_from(s).ok())
                        .ok_or_else(|| corrupt("completed key without a status"))?,
                    headers,
                    body: existing.response_body.unwrap_or_default(),
                }));
            }
            if existing.locked_until > now {
                return Ok(Claim::InProgress);
            }
            // The run that claimed it died: take it over, keeping its resource id.
            let taken = keys::Entity::update_many()
                .col_expr(keys::Column::LockedUntil, Expr::value(self.later(lease)))
                .filter(keys::Column::IdemKey.eq(key))
                .filter(keys::Column::State.eq(IN_PROGRESS))
                .filter(keys::Column::LockedUntil.eq(existing.locked_until))
                .exec(&self.db)
                .await
                .map_err(|e| store_err(e, "failed to take over the idempotency key"))?;
            return Ok(if taken.rows_affected == 1 {
                Claim::Fresh {
                    resource_id: existing.resource_id,
                }
            } else {
                Claim::InProgress
            });
        }
        Ok(Claim::InProgress)
    }

    async fn complete(&self, key: &str, response: &StoredResponse) -> Result<(), StoreError> {
        let headers = serde_json::to_string(&response.headers).map_err(corrupt)?;
        keys::Entity::update_many()
            .col_expr(keys::Column::State, Expr::value(COMPLETED))
            .col_expr(
                keys::Column::ResponseStatus,
                Expr::value(i32::from(response.status)),
            )
            .col_expr(
                keys::Column::ResponseBody,
                Expr::value(response.body.clone()),
            )
            .col_expr(keys::Column::ResponseHeaders, Expr::value(headers))
            .filter(keys::Column::IdemKey.eq(key))
            .exec(&self.db)
            .await
            .map_err(|e| store_err(e, "failed to store the idempotent response"))?;
        Ok(())
    }

    async fn release(&self, key: &str) -> Result<(), StoreError> {
        keys::Entity::delete_many()
            .filter(keys::Column::IdemKey.eq(key))
            .filter(keys::Column::State.eq(IN_PROGRESS))
            .exec(&self.db)
            .await
            .map_err(|e| store_err(e, "failed to release the idempotency key"))?;
        Ok(())
    }

    async fn purge_expired(&self) -> Result<u64, StoreError> {
        let result = keys::Entity::delete_many()
            .filter(keys::Column::ExpiresAt.lt(to_naive(self.clock.now())))
            .exec(&self.db)
            .await
            .map_err(|e| store_err(e, "failed to purge idempotency keys"))?;
        Ok(result.rows_affected)
    }
}
