//! The Ads API endpoints, as methods on [`XAds`](crate::XAds).
//!
//! Every entity endpoint is one line over the generic helpers here, which build the [`Call`] and
//! decode X's envelope; the request path itself lives in `request.rs`.

mod accounts;
mod campaigns;
mod jobs;
mod line_items;
mod media_library;
mod pagination;
mod promoted_tweets;
mod stats;
mod targeting;

pub use jobs::JobResult;
pub use media_library::MEDIA_LIBRARY_MAX_COUNT;
pub use pagination::paginate;

use http::Method;
use serde::de::DeserializeOwned;

use crate::config::XAds;
use crate::envelope::{XResponse, decode_envelope, decode_whole};
use crate::error::XError;
use crate::gate::EndpointFamily;
use crate::params::{ListParams, Params, ToParams};
use crate::request::{Auth, Call, CallOptions};

/// The Ads API version this client speaks.
pub const API_VERSION: &str = "12";

/// X's largest page size for most list endpoints.
pub const MAX_COUNT: u32 = 1000;

/// An account-scoped Ads resource and the operation names used in errors and logs.
pub(crate) struct Resource {
    pub path: &'static str,
    pub read_family: EndpointFamily,
    pub max_count: u32,
    pub list: &'static str,
    pub get: &'static str,
    pub create: &'static str,
    pub update: &'static str,
    pub delete: &'static str,
}

impl XAds {
    /// Sends a call signed with this connection's credentials.
    pub(crate) async fn send(&self, call: Call) -> Result<crate::envelope::RawResponse, XError> {
        self.client
            .execute(Auth::Signer(&self.signer), &self.token_id, call)
            .await
    }

    /// Sends a call and decodes X's standard envelope.
    pub(crate) async fn envelope<T: DeserializeOwned>(
        &self,
        call: Call,
    ) -> Result<XResponse<T>, XError> {
        let op = call.operation;
        decode_envelope(op, self.send(call).await?)
    }

    /// Sends a call and decodes the whole body as `T`.
    pub(crate) async fn whole<T: DeserializeOwned>(
        &self,
        call: Call,
    ) -> Result<XResponse<T>, XError> {
        let op = call.operation;
        decode_whole(op, self.send(call).await?)
    }

    pub(crate) async fn res_list<T: DeserializeOwned>(
        &self,
        r: &Resource,
        account_id: &str,
        params: &ListParams,
    ) -> Result<XResponse<Vec<T>>, XError> {
        if let Some(count) = params.count
            && (count == 0 || count > r.max_count)
        {
            return Err(XError::Invalid {
                operation: r.list,
                message: format!("count must be 1 to {}, got {count}", r.max_count),
            });
        }
        let call = Call::ads(
            r.list,
            Method::GET,
            &[API_VERSION, "accounts", account_id, r.path],
        )
        .account(account_id)
        .family(r.read_family)
        .query(params.to_params());
        self.envelope(call).await
    }

    pub(crate) async fn res_list_all<T: DeserializeOwned>(
        &self,
        r: &Resource,
        account_id: &str,
        params: &ListParams,
    ) -> Result<Vec<T>, XError> {
        paginate(params.clone(), |p| async move {
            self.res_list(r, account_id, &p).await
        })
        .await
    }

    pub(crate) async fn res_get<T: DeserializeOwned>(
        &self,
        r: &Resource,
        account_id: &str,
        id: &str,
        with_deleted: bool,
    ) -> Result<XResponse<T>, XError> {
        let mut query = Params::new();
        if with_deleted {
            query.push("with_deleted", "true");
        }
        let call = Call::ads(
            r.get,
            Method::GET,
            &[API_VERSION, "accounts", account_id, r.path, id],
        )
        .account(account_id)
        .family(r.read_family)
        .query(query);
        self.envelope(call).await
    }

    pub(crate) async fn res_write<T: DeserializeOwned>(
        &self,
        operation: &'static str,
        method: Method,
        segments: &[&str],
        account_id: &str,
        params: Params,
        opts: &CallOptions,
    ) -> Result<XResponse<T>, XError> {
        let call = Call::ads(operation, method, segments)
            .account(account_id)
            .family(EndpointFamily::Write)
            .query(params)
            .options(opts);
        self.envelope(call).await
    }

    pub(crate) async fn res_create<T: DeserializeOwned>(
        &self,
        r: &Resource,
        account_id: &str,
        body: &(dyn ToParams + Sync),
        opts: &CallOptions,
    ) -> Result<XResponse<T>, XError> {
        self.res_write(
            r.create,
            Method::POST,
            &[API_VERSION, "accounts", account_id, r.path],
            account_id,
            body.to_params(),
            opts,
        )
        .await
    }

    pub(crate) async fn res_update<T: DeserializeOwned>(
        &self,
        r: &Resource,
        account_id: &str,
        id: &str,
        body: &(dyn ToParams + Sync),
        opts: &CallOptions,
    ) -> Result<XResponse<T>, XError> {
        let params = body.to_params();
        if params.is_empty() {
            return Err(XError::Invalid {
                operation: r.update,
                message: "nothing to update".into(),
            });
        }
        self.res_write(
            r.update,
            Method::PUT,
            &[API_VERSION, "accounts", account_id, r.path, id],
            account_id,
            params,
            opts,
        )
        .await
    }

    pub(crate) async fn res_delete<T: DeserializeOwned>(
        &self,
        r: &Resource,
        account_id: &str,
        id: &str,
        opts: &CallOptions,
    ) -> Result<XResponse<T>, XError> {
        self.res_write(
            r.delete,
            Method::DELETE,
            &[API_VERSION, "accounts", account_id, r.path, id],
            account_id,
            Params::new(),
            opts,
        )
        .await
    }
}
