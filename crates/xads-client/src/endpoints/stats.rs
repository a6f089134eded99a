//! Synchronous stats and active entities.

use http::Method;

use super::API_VERSION;
use crate::config::XAds;
use crate::envelope::XResponse;
use crate::error::XError;
use crate::gate::EndpointFamily;
use crate::models::{ActiveEntitiesQuery, ActiveEntity, StatsQuery, StatsResponse};
use crate::params::ToParams;
use crate::request::Call;

impl XAds {
    /// `GET /12/stats/accounts/:id`. X's rules (≤ 20 ids, whole hours, ≤ 7 days, one placement)
    /// are checked first; a breach returns [`XError::Invalid`] without calling X.
    pub async fn stats(
        &self,
        account_id: &str,
        query: &StatsQuery,
    ) -> Result<XResponse<StatsResponse>, XError> {
        const OP: &str = "stats";
        query.validate().map_err(XError::invalid(OP))?;
        let call = Call::ads(
            OP,
            Method::GET,
            &[API_VERSION, "stats", "accounts", account_id],
        )
        .account(account_id)
        .family(EndpointFamily::Analytics)
        .query(query.to_params());
        self.whole(call).await
    }

    /// `GET /12/stats/accounts/:id/active_entities` (no cursor).
    pub async fn active_entities(
        &self,
        account_id: &str,
        query: &ActiveEntitiesQuery,
    ) -> Result<XResponse<Vec<ActiveEntity>>, XError> {
        const OP: &str = "active_entities";
        query.validate().map_err(XError::invalid(OP))?;
        let call = Call::ads(
            OP,
            Method::GET,
            &[
                API_VERSION,
                "stats",
                "accounts",
                account_id,
                "active_entities",
            ],
        )
        .account(account_id)
        .family(EndpointFamily::Analytics)
        .query(query.to_params());
        self.envelope(call).await
    }
}
