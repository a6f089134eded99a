//! The UI's one remaining way to the dashboard API: the media upload's multipart body, streamed
//! on to `POST …/media` dispatched in process to the same `/api/v1` handler, as the logged-in
//! tenant (the upload route streams the file to a spool file as it arrives; calling it directly
//! needs that streaming split out of the handler first). Every other page calls the domain.

use axum::body::Body;
use axum::http::Request;
use axum::response::Response;
use tower::ServiceExt;

use crate::app::AppState;
use crate::store::tenants::Tenant;
use crate::web::auth::InProcessTenant;

/// Sends `req` to the service's router as `tenant`; returns the raw response.
pub async fn raw(state: &AppState, tenant: &Tenant, mut req: Request<Body>) -> Response {
    req.extensions_mut().insert(InProcessTenant(tenant.clone()));
    match crate::web::router(state.clone()).oneshot(req).await {
        Ok(r) => r,
        Err(never) => match never {},
    }
}
