//! Media library: register an uploaded media key, list (20 default, 50 max), get, update, delete.

use axum::extract::Path;
use axum::response::Response;

use super::{Ctx, ListSpec, account, find, find_live_idx, one_of, page_by, text};
use crate::envelope::{ApiError, collection, single};
use crate::media::UploadState;
use crate::model::{MediaItem, Record};

const LIST: ListSpec = ListSpec {
    default_count: 20,
    max_count: 50,
    drafts: false,
};

/// `GET /12/accounts/:account_id/media_library`.
pub async fn list(ctx: Ctx, Path(account_id): Path<String>) -> Response {
    let echo = ctx.p.echo(&[("account_id", &account_id)]);
    ctx.run(echo.clone(), |s| {
        account(s, &ctx.who, &account_id)?;
        let kind = one_of(&ctx.p, "media_type", &["GIF", "IMAGE", "VIDEO"])?;
        // `q` is a term match over name, title, file name and description.
        let q = ctx.p.get("q").map(str::to_lowercase);
        let items: Vec<&MediaItem> = s
            .media
            .iter()
            .filter(|m| m.account_id == account_id)
            .filter(|m| kind.as_ref().is_none_or(|k| &m.media_type == k))
            .filter(|m| {
                q.as_ref().is_none_or(|q| {
                    [&m.name, &m.title, &m.file_name, &m.description]
                        .iter()
                        .any(|f| {
                            f.as_ref()
                                .is_some_and(|f| f.to_lowercase().contains(q.as_str()))
                        })
                })
            })
            .collect();
        let p = crate::envelope::Params::new(
            ctx.p
                .pairs()
                .iter()
                .filter(|(k, _)| k != "q")
                .cloned()
                .collect(),
        );
        let origin = s.media_origin.as_deref();
        let pg = page_by(items, &p, &LIST, |m| m.to_json_at(origin))?;
        Ok(collection(echo, pg.data, pg.next_cursor, pg.total_count))
    })
}

/// `GET /12/accounts/:account_id/media_library/:media_key`.
pub async fn get(ctx: Ctx, Path((account_id, key)): Path<(String, String)>) -> Response {
    let echo = ctx
        .p
        .echo(&[("account_id", &account_id), ("media_key", &key)]);
    ctx.run(echo.clone(), |s| {
        account(s, &ctx.who, &account_id)?;
        let m = find(&s.media, &account_id, &key, ctx.p.flag("with_deleted")?)?;
        Ok(single(echo, m.to_json_at(s.media_origin.as_deref())))
    })
}

struct Fields {
    name: Option<String>,
    file_name: Option<String>,
    title: Option<String>,
    description: Option<String>,
    poster_media_key: Option<String>,
}

fn fields(p: &crate::envelope::Params) -> Result<Fields, ApiError> {
    Ok(Fields {
        name: text(p, "name", 100)?,
        file_name: text(p, "file_name", 255)?,
        title: text(p, "title", 70)?,
        description: text(p, "description", 200)?,
        poster_media_key: text(p, "poster_media_key", 100)?,
    })
}

fn apply(m: &mut MediaItem, f: Fields) {
    let set = |slot: &mut Option<String>, v: Option<String>| {
        if let Some(v) = v {
            *slot = (!v.is_empty()).then_some(v);
        }
    };
    set(&mut m.name, f.name);
    set(&mut m.file_name, f.file_name);
    set(&mut m.title, f.title);
    set(&mut m.description, f.description);
    set(&mut m.poster_media_key, f.poster_media_key);
}

/// `POST /12/accounts/:account_id/media_library?media_key=…`: the key must be a finished upload
/// of the caller (else 400 `INVALID_MEDIA`). Registering a key already in the library answers it.
pub async fn create(ctx: Ctx, Path(account_id): Path<String>) -> Response {
    let echo = ctx.p.echo(&[("account_id", &account_id)]);
    ctx.run(echo.clone(), |s| {
        account(s, &ctx.who, &account_id)?;
        let key = ctx.p.require("media_key")?.to_string();
        let f = fields(&ctx.p)?;
        let now = s.clock.now();
        if let Some(i) = s
            .media
            .iter()
            .position(|m| m.account_id == account_id && m.media_key == key)
        {
            let m = &mut s.media[i];
            if m.deleted {
                m.deleted = false;
                m.updated_at = now;
            }
            apply(m, f);
            return Ok(single(echo, m.to_json_at(s.media_origin.as_deref())));
        }
        let upload = s
            .uploads
            .iter()
            .find(|u| u.media_key == key && u.user_id == ctx.who.user_id)
            .filter(|u| u.state == UploadState::Succeeded)
            .ok_or_else(|| {
                ApiError::new(
                    axum::http::StatusCode::BAD_REQUEST,
                    "INVALID_MEDIA",
                    format!("Media key {key} is not a processed upload of this user"),
                    Some("media_key"),
                )
            })?;
        let mut m = MediaItem {
            media_key: key,
            account_id: account_id.clone(),
            media_category: upload.media_category.to_ascii_uppercase(),
            media_type: upload.media_type_name().into(),
            name: None,
            file_name: None,
            title: None,
            description: None,
            poster_media_key: None,
            created_at: now,
            updated_at: now,
            deleted: false,
        };
        apply(&mut m, f);
        let json = m.to_json_at(s.media_origin.as_deref());
        s.media.push(m);
        Ok(single(echo, json))
    })
}

/// `PUT /12/accounts/:account_id/media_library/:media_key` (partial).
pub async fn update(ctx: Ctx, Path((account_id, key)): Path<(String, String)>) -> Response {
    let echo = ctx
        .p
        .echo(&[("account_id", &account_id), ("media_key", &key)]);
    ctx.run(echo.clone(), |s| {
        account(s, &ctx.who, &account_id)?;
        let f = fields(&ctx.p)?;
        let idx = find_live_idx(&s.media, &account_id, &key)?;
        let now = s.clock.now();
        let m = &mut s.media[idx];
        apply(m, f);
        m.updated_at = now;
        Ok(single(echo, m.to_json_at(s.media_origin.as_deref())))
    })
}

/// `DELETE /12/accounts/:account_id/media_library/:media_key`.
pub async fn delete(ctx: Ctx, Path((account_id, key)): Path<(String, String)>) -> Response {
    let echo = ctx
        .p
        .echo(&[("account_id", &account_id), ("media_key", &key)]);
    ctx.run(echo.clone(), |s| {
        account(s, &ctx.who, &account_id)?;
        let idx = find_live_idx(&s.media, &account_id, &key)?;
        let now = s.clock.now();
        let m = &mut s.media[idx];
        m.mark_deleted(now);
        Ok(single(echo, m.to_json_at(s.media_origin.as_deref())))
    })
}
