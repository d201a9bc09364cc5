//! The use cases' errors mapped to API errors (problem responses).

use actix_web::http::StatusCode;

use adapters::http::{ApiError, FieldError, precondition_failed};
use domain::OrderLine;
use ports::ordering::{CatalogError, ChangeOrderError, PlaceOrderError, ReadOrdersError};

pub(super) fn place_error(e: PlaceOrderError, request: &[OrderLine]) -> ApiError {
    match e {
        PlaceOrderError::UnknownProducts(ids) => {
            let errors = request
                .iter()
                .enumerate()
                .filter(|(_, l)| ids.contains(&l.product_id))
                .map(|(i, l)| {
                    FieldError::new(
                        format!("items[{i}].product_id"),
                        format!("product {} does not exist", l.product_id),
                    )
                })
                .collect::<Vec<_>>();
            let mut err = ApiError::new(
                StatusCode::UNPROCESSABLE_ENTITY,
                "unknown_products",
                "Unknown products",
            )
            .detail(format!(
                "{} of the ordered products do not exist",
                ids.len()
            ))
            .with(
                "product_ids",
                ids.iter().map(ToString::to_string).collect::<Vec<_>>(),
            );
            if !errors.is_empty() {
                err = err.errors(errors);
            }
            err
        }
        PlaceOrderError::Catalog(e) => {
            let (detail, retry_after) = match e {
                CatalogError::Suspended => (
                    "calls to the product service are suspended after repeated failures; retry shortly",
                    5,
                ),
                CatalogError::Unavailable(_) => (
                    "prices could not be read from the product service; retry shortly",
                    1,
                ),
            };
            ApiError::new(
                StatusCode::SERVICE_UNAVAILABLE,
                "product_service_unavailable",
                "Product service unavailable",
            )
            .detail(detail)
            .retry_after(retry_after)
            .caused_by(e.into())
        }
        PlaceOrderError::Invalid(e) => ApiError::validation(vec![FieldError::new("items", e)]),
        PlaceOrderError::CurrencyMismatch { .. } => ApiError::internal(anyhow::Error::new(e)),
        PlaceOrderError::NotYourCustomerId(refused) => ApiError::new(
            StatusCode::FORBIDDEN,
            "customer_mismatch",
            "Not your customer id",
        )
        .detail(format!(
            "{refused}: leave `customer_id` out, or name yourself"
        )),
        PlaceOrderError::Forbidden(refused) => ApiError::forbidden(refused.to_string()),
        PlaceOrderError::Store(e) => e.into(),
    }
}

pub(super) fn read_error(e: ReadOrdersError) -> ApiError {
    match e {
        ReadOrdersError::Forbidden(refused) => ApiError::forbidden(refused.to_string()),
        ReadOrdersError::Store(e) => e.into(),
    }
}

pub(super) fn change_error(e: ChangeOrderError) -> ApiError {
    match e {
        ChangeOrderError::NotFound(id) => {
            ApiError::not_found("order_not_found", format!("no order {id}"))
        }
        ChangeOrderError::Stale { current_version } => precondition_failed(current_version),
        ChangeOrderError::NotAllowed {
            action,
            status,
            allowed_actions,
        } => ApiError::new(
            StatusCode::CONFLICT,
            "invalid_transition",
            "Not allowed now",
        )
        .detail(format!(
            "an order that is {status} cannot {action}; still allowed: {}",
            if allowed_actions.is_empty() {
                "nothing (final status)".to_owned()
            } else {
                allowed_actions.join(", ")
            }
        ))
        .with("current_status", status.as_str())
        .with("allowed_actions", allowed_actions),
        ChangeOrderError::Forbidden(refused) => ApiError::forbidden(refused.to_string()),
        ChangeOrderError::Store(e) => e.into(),
    }
}
