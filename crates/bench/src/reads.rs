//! Read loads: a closed loop of `GET`s cycling over a list of URLs.

use std::sync::Arc;
use std::time::Duration;

use crate::api::status_of;
use crate::load::closed_loop;
use crate::stats::Stats;

/// `GET` from `concurrency` clients for `duration`, request `i` reading `urls[i % len]`.
pub async fn get_loop(
    http: &reqwest::Client,
    urls: Vec<String>,
    concurrency: usize,
    duration: Duration,
) -> Stats {
    if urls.is_empty() {
        return Stats::default();
    }
    let urls = Arc::new(urls);
    let http = http.clone();
    closed_loop(concurrency, duration, move |i| {
        let request = http.get(&urls[(i as usize) % urls.len()]);
        status_of(request)
    })
    .await
}
