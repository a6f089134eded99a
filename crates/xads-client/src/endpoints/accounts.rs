//! Accounts and funding instruments.

use http::Method;

use super::{API_VERSION, MAX_COUNT, Resource};
use crate::config::XAds;
use crate::envelope::XResponse;
use crate::error::XError;
use crate::gate::EndpointFamily;
use crate::models::{Account, FundingInstrument, Tweet};
use crate::params::{ListParams, Params, ToParams};
use crate::request::Call;

const FUNDING_INSTRUMENTS: Resource = Resource {
    path: "funding_instruments",
    read_family: EndpointFamily::CoreRead,
    max_count: MAX_COUNT,
    list: "list_funding_instruments",
    get: "get_funding_instrument",
    create: "create_funding_instrument",
    update: "update_funding_instrument",
    delete: "delete_funding_instrument",
};

impl XAds {
    /// `GET /12/accounts`: the ads accounts the user can reach.
    pub async fn list_accounts(
        &self,
        params: &ListParams,
    ) -> Result<XResponse<Vec<Account>>, XError> {
        let call = Call::ads("list_accounts", Method::GET, &[API_VERSION, "accounts"])
            .family(EndpointFamily::OtherRead)
            .query(params.to_params());
        self.envelope(call).await
    }

    /// All pages of `GET /12/accounts`.
    pub async fn list_all_accounts(&self, params: &ListParams) -> Result<Vec<Account>, XError> {
        super::paginate(
            params.clone(),
            |p| async move { self.list_accounts(&p).await },
        )
        .await
    }

    /// `GET /12/accounts/:id`.
    pub async fn get_account(&self, account_id: &str) -> Result<XResponse<Account>, XError> {
        let call = Call::ads(
            "get_account",
            Method::GET,
            &[API_VERSION, "accounts", account_id],
        )
        .account(account_id)
        .family(EndpointFamily::OtherRead)
        .query(Params::new());
        self.envelope(call).await
    }

    /// `GET /12/accounts/:id/funding_instruments`.
    pub async fn list_funding_instruments(
        &self,
        account_id: &str,
        params: &ListParams,
    ) -> Result<XResponse<Vec<FundingInstrument>>, XError> {
        self.res_list(&FUNDING_INSTRUMENTS, account_id, params)
            .await
    }

    /// All pages of funding instruments.
    pub async fn list_all_funding_instruments(
        &self,
        account_id: &str,
        params: &ListParams,
    ) -> Result<Vec<FundingInstrument>, XError> {
        self.res_list_all(&FUNDING_INSTRUMENTS, account_id, params)
            .await
    }

    /// `GET /12/accounts/:id/funding_instruments/:id`.
    pub async fn get_funding_instrument(
        &self,
        account_id: &str,
        funding_instrument_id: &str,
    ) -> Result<XResponse<FundingInstrument>, XError> {
        self.res_get(
            &FUNDING_INSTRUMENTS,
            account_id,
            funding_instrument_id,
            false,
        )
        .await
    }

    /// `GET /12/accounts/:id/tweets?tweet_type=PUBLISHED&tweet_ids=…`: the account's published
    /// tweets among `tweet_ids` (at most 200 a call), to show a creative by its text.
    pub async fn list_tweets(
        &self,
        account_id: &str,
        tweet_ids: &[String],
    ) -> Result<XResponse<Vec<Tweet>>, XError> {
        let mut query = Params::new();
        query.push("tweet_type", "PUBLISHED");
        query.push("timeline_type", "ALL");
        query.push("trim_user", "true");
        query.push("count", tweet_ids.len().clamp(1, 200).to_string());
        query.push("tweet_ids", tweet_ids.join(","));
        let call = Call::ads(
            "list_tweets",
            Method::GET,
            &[API_VERSION, "accounts", account_id, "tweets"],
        )
        .account(account_id)
        .family(EndpointFamily::OtherRead)
        .query(query);
        self.envelope(call).await
    }
}
