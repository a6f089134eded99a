//! The HTTP surface: operations endpoints, the dashboard API (`/api/v1`), the OAuth callback.

mod health;

use axum::Router;

use crate::app::AppState;

/// Every route of the service.
pub fn router(state: AppState) -> Router {
    Router::new().merge(health::routes()).with_state(state)
}
