//! X's wire types (JSON as X sends it). Unknown fields are ignored, ids are strings, and fields
//! that older API versions lacked or had are optional, so every fixture X published parses.

mod account;
mod campaign;
mod common;
mod funding_instrument;
mod jobs;
mod line_item;
mod media_library;
mod promoted_tweet;
mod stats;
mod targeting;

pub use account::Account;
pub use campaign::{Campaign, CampaignCreate, CampaignUpdate};
pub use common::EntityStatus;
pub(crate) use common::lenient_id;
pub use funding_instrument::FundingInstrument;
pub use jobs::{
    DEFAULT_CONCURRENT_JOB_LIMIT, JobLimit, JobListQuery, JobResultInfo, JobResultRow, JobStatus,
    JobsResponse, MAX_JOB_IDS, MAX_JOB_SPAN_DAYS, MAX_SEGMENTED_JOB_SPAN_DAYS, Segment, StatsJob,
    StatsJobQuery,
};
pub use line_item::{LineItem, LineItemCreate, LineItemUpdate};
pub use media_library::{MediaLibraryCreate, MediaLibraryEntry};
pub use promoted_tweet::{MAX_TWEET_IDS, PromotedTweet, PromotedTweetsCreate, Tweet};
pub use stats::{
    ActiveEntitiesQuery, ActiveEntity, Granularity, IdData, MetricGroup, Metrics, Placement,
    StatsEntity, StatsEntityType, StatsQuery, StatsResponse,
};
pub use targeting::{TargetingCriterion, TargetingCriterionCreate};
