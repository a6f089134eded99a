//! Following X's cursors to the end.

use std::collections::HashSet;
use std::future::Future;

use crate::envelope::XResponse;
use crate::error::XError;
use crate::params::ListParams;

/// Calls `fetch` with `params`, then again with each `next_cursor`, until X returns none, and
/// collects every page's items. A cursor X repeats is an error rather than an endless loop.
pub async fn paginate<T, F, Fut>(mut params: ListParams, mut fetch: F) -> Result<Vec<T>, XError>
where
    F: FnMut(ListParams) -> Fut,
    Fut: Future<Output = Result<XResponse<Vec<T>>, XError>>,
{
    let mut items = Vec::new();
    let mut seen = HashSet::new();
    loop {
        let page = fetch(params.clone()).await?;
        items.extend(page.data);
        match page.next_cursor {
            None => return Ok(items),
            Some(cursor) => {
                if !seen.insert(cursor.clone()) {
                    return Err(XError::Decode {
                        operation: "paginate",
                        status: 200,
                        message: format!("X repeated cursor {cursor:?}"),
                    });
                }
                params.cursor = Some(cursor);
            }
        }
    }
}
