//! `/api/v1/x_ads/accounts/{account_id}/media`: the media library (PRODUCT.md §5).
//!
//! `POST` takes `multipart/form-data` with `file` (required), `name`, `title`, `description`.
//! The file part is streamed to a spool file as it arrives — never buffered whole — and refused
//! the moment its bytes contradict its declared type or pass X's limit for its format. Only a
//! completely received, validated file reaches [`crate::media::create`]. axum's default 2 MB
//! body limit is lifted for this route alone, to the largest file X takes plus form overhead.

use axum::Router;
use axum::extract::multipart::{Field, MultipartRejection};
use axum::extract::rejection::QueryRejection;
use axum::extract::{DefaultBodyLimit, Multipart, Query, State};
use axum::http::{HeaderMap, HeaderValue, Method, Uri, header};
use axum::response::{IntoResponse, Response};
use axum::routing::{delete, get};
use serde::Deserialize;

use super::auth::AuthTenant;
use super::error::ApiError;
use super::ids::{self, PathIds};
use super::manage::{answer, idempotent, json_response, read_scope, scope};
use crate::app::AppState;
use crate::media::sniff::VIDEO_LIMIT;
use crate::media::spool::Spool;
use crate::media::{self, NewMedia};

/// The request body limit of the upload route: the largest file X takes, plus room for the
/// multipart framing and the text fields.
pub(crate) const BODY_LIMIT: usize = VIDEO_LIMIT as usize + 1024 * 1024;
/// Most bytes read and discarded after a refusal so the client can read our answer; past this
/// the connection is closed instead.
const DRAIN_LIMIT: usize = 8 * 1024 * 1024;
/// Longest text field accepted (X's longest, `description`, is 200 characters).
const TEXT_LIMIT: usize = 4096;

pub(super) fn routes() -> Router<AppState> {
    Router::new()
        .route(
            "/api/v1/x_ads/accounts/{account_id}/media",
            get(list)
                .post(upload)
                .layer(DefaultBodyLimit::max(BODY_LIMIT)),
        )
        .route(
            "/api/v1/x_ads/accounts/{account_id}/media/{id}",
            delete(remove),
        )
}

/// `DELETE …/media/{id}` (`id` = the media key): under the request's `Idempotency-Key` like
/// every delete. A segment that cannot be a media key answers 404 like an unknown one.
async fn remove(
    State(state): State<AppState>,
    AuthTenant(tenant): AuthTenant,
    path: PathIds,
    method: Method,
    uri: Uri,
    headers: HeaderMap,
) -> Result<Response, ApiError> {
    let scope = scope(state, tenant, path.account()?.into_string(), &headers)?;
    let Some(key) = ids::media_key(path.raw("id")).map(str::to_owned) else {
        scope.check_account().await?;
        return Err(ApiError::not_found("media"));
    };
    idempotent(&scope, &method, uri.path(), b"", || {
        media::delete(&scope, &key)
    })
    .await
}

/// `GET …/media`' query.
#[derive(Debug, Deserialize)]
pub(super) struct ListQuery {
    pub(super) refresh: Option<bool>,
    pub(super) cursor: Option<String>,
    pub(super) count: Option<u32>,
}

async fn list(
    State(state): State<AppState>,
    AuthTenant(tenant): AuthTenant,
    path: PathIds,
    q: Result<Query<ListQuery>, QueryRejection>,
) -> Result<Response, ApiError> {
    let Query(q) = q?;
    let scope = read_scope(state, tenant, &path)?;
    let page = media::page(
        &scope,
        q.refresh.unwrap_or(false),
        q.cursor.as_deref(),
        q.count,
    )
    .await?;
    let (status, body) = answer(page);
    Ok(json_response(status, body, false))
}

async fn upload(
    State(state): State<AppState>,
    AuthTenant(tenant): AuthTenant,
    path: PathIds,
    method: Method,
    uri: Uri,
    headers: HeaderMap,
    multipart: Result<Multipart, MultipartRejection>,
) -> Response {
    let account_id = match path.account() {
        Ok(a) => a.into_string(),
        Err(e) => return e.into_response(),
    };
    let scope = match scope(state, tenant, account_id, &headers) {
        Ok(s) => s,
        Err(e) => return e.into_response(),
    };
    // Unknown accounts are refused before a byte of the file is read.
    if let Err(e) = scope.check_account().await {
        return ApiError::from(e).into_response();
    }
    let new = match receive_form(multipart).await {
        Ok(new) => new,
        Err(refused) => return refused.into_response(),
    };
    let fingerprint = new.fingerprint();
    idempotent(&scope, &method, uri.path(), fingerprint.as_bytes(), || {
        media::create(&scope, &new)
    })
    .await
    .into_response()
}

/// An upload refused before it reached X: the error, and whether the rest of the request was
/// read. When it was not (the client may still be sending), the answer closes the connection.
#[derive(Debug)]
pub(crate) struct Refused {
    /// What was wrong.
    pub error: ApiError,
    /// False when the body was left unread: answer with `Connection: close`.
    pub drained: bool,
}

impl Refused {
    /// Marks `resp`, the answer to this refusal, to close the connection when the body was
    /// left unread.
    pub(crate) fn closing(drained: bool, mut resp: Response) -> Response {
        if !drained {
            resp.headers_mut()
                .insert(header::CONNECTION, HeaderValue::from_static("close"));
        }
        resp
    }
}

impl IntoResponse for Refused {
    fn into_response(self) -> Response {
        Refused::closing(self.drained, self.error.into_response())
    }
}

/// Receives an upload form (the API's and the Media page's): the file is spooled as it
/// arrives and refused the moment it breaks X's rules, the text fields are checked, and a
/// refusal drains what is left of the body within [`DRAIN_LIMIT`]. Only a complete, valid form
/// comes back, ready for [`crate::media::create`]. The route that extracts `multipart` must
/// carry `DefaultBodyLimit::max(`[`BODY_LIMIT`]`)`.
pub(crate) async fn receive_form(
    multipart: Result<Multipart, MultipartRejection>,
) -> Result<NewMedia, Refused> {
    let mut multipart = multipart.map_err(|r| Refused {
        error: ApiError::bad_request(format!(
            "a multipart/form-data body is required: {}",
            r.body_text()
        )),
        drained: true,
    })?;
    let mut budget = DRAIN_LIMIT;
    let new = match receive(&mut multipart, &mut budget).await {
        Ok(m) => m,
        Err((error, may_drain)) => {
            let drained = may_drain && drain(&mut multipart, &mut budget).await;
            return Err(Refused { error, drained });
        }
    };
    media::check_fields(
        new.file.format,
        new.name.as_deref(),
        new.title.as_deref(),
        new.description.as_deref(),
    )
    .map_err(|i| Refused {
        error: ApiError::from(i),
        drained: true,
    })?;
    Ok(new)
}

/// Reads a text field of at most [`TEXT_LIMIT`] bytes; empty means absent.
async fn text(field: &mut Field<'_>, name: &str) -> Result<Option<String>, ApiError> {
    let mut buf = Vec::new();
    while let Some(chunk) = field.chunk().await? {
        if buf.len() + chunk.len() > TEXT_LIMIT {
            return Err(ApiError::invalid(name, "too long"));
        }
        buf.extend_from_slice(&chunk);
    }
    let s = String::from_utf8(buf).map_err(|_| ApiError::invalid(name, "not UTF-8 text"))?;
    let s = s.trim();
    Ok((!s.is_empty()).then(|| s.to_owned()))
}

/// Receives the form, spooling the file. A refusal mid-field first discards the rest of that
/// field from `budget`; the flag says whether the request may be drained further.
async fn receive(mp: &mut Multipart, budget: &mut usize) -> Result<NewMedia, (ApiError, bool)> {
    let dir = std::env::temp_dir();
    let mut file = None;
    let (mut name, mut title, mut description) = (None, None, None);
    loop {
        let mut field = match mp.next_field().await {
            Ok(Some(f)) => f,
            Ok(None) => break,
            Err(e) => return Err((e.into(), false)),
        };
        let field_name = field.name().unwrap_or("").to_owned();
        match field_name.as_str() {
            "file" => {
                if file.is_some() {
                    let ok = drain_field(&mut field, budget).await;
                    return Err((ApiError::bad_request("only one `file` part is allowed"), ok));
                }
                let file_name = field.file_name().map(str::to_owned);
                let mut spool = Spool::create(&dir, field.content_type(), file_name.as_deref())
                    .await
                    .map_err(|e| (e.into(), false))?;
                loop {
                    match field.chunk().await {
                        Ok(Some(chunk)) => {
                            if let Err(e) = spool.push(&chunk).await {
                                let ok = drain_field(&mut field, budget).await;
                                return Err((e.into(), ok));
                            }
                        }
                        Ok(None) => break,
                        Err(e) => return Err((e.into(), false)),
                    }
                }
                let spooled = spool.finish().await.map_err(|e| (e.into(), true))?;
                file = Some((
                    spooled,
                    file_name.as_deref().and_then(media::clean_file_name),
                ));
            }
            "name" | "title" | "description" => {
                let value = match text(&mut field, &field_name).await {
                    Ok(v) => v,
                    Err(e) => {
                        let ok = drain_field(&mut field, budget).await;
                        return Err((e, ok));
                    }
                };
                match field_name.as_str() {
                    "name" => name = value,
                    "title" => title = value,
                    _ => description = value,
                }
            }
            other => {
                let err = ApiError::bad_request(format!(
                    "unknown form field `{other}`: expected file, name, title, description"
                ));
                let ok = drain_field(&mut field, budget).await;
                return Err((err, ok));
            }
        }
    }
    let (file, file_name) = file.ok_or_else(|| {
        (
            ApiError::invalid("file", "the form field `file` is required"),
            true,
        )
    })?;
    Ok(NewMedia {
        file,
        file_name,
        name,
        title,
        description,
    })
}

/// Reads and discards the rest of one field from `budget`; false when the budget ran out or
/// the body broke.
async fn drain_field(field: &mut Field<'_>, budget: &mut usize) -> bool {
    loop {
        match field.chunk().await {
            Ok(Some(c)) if c.len() < *budget => *budget -= c.len(),
            Ok(Some(_)) | Err(_) => return false,
            Ok(None) => return true,
        }
    }
}

/// Reads and discards the rest of the request from `budget`, so a client still sending reads
/// our refusal instead of a reset connection. False when it gave up (the connection is then
/// closed after the answer).
async fn drain(mp: &mut Multipart, budget: &mut usize) -> bool {
    loop {
        match mp.next_field().await {
            Ok(Some(mut f)) => {
                if !drain_field(&mut f, budget).await {
                    return false;
                }
            }
            Ok(None) => return true,
            Err(_) => return false,
        }
    }
}
