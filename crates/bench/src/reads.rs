//! Read loads: a closed loop of `GET`s cycling over a list of URLs.

use std::sync::Arc;
use std::time::Duration;

use reqwest::header::{AUTHORIZATION, HeaderValue};

use crate::api::status_of;
use crate::load::closed_loop;
use crate::stats::Stats;

/// One `GET` of a read load: its URL and the `Authorization` its caller sends (`None` for the
/// public reads).
#[derive(Debug, Clone)]
pub struct Get {
    /// The URL.
    pub url: String,
    /// `Bearer ...`, or nothing.
    pub auth: Option<HeaderValue>,
}

impl Get {
    /// A `GET` without credentials.
    pub fn public(url: String) -> Self {
        Self { url, auth: None }
    }

    /// A `GET` with `auth`.
    pub fn with(url: String, auth: HeaderValue) -> Self {
        Self {
            url,
            auth: Some(auth),
        }
    }
}

/// `GET` from `concurrency` clients for `duration`, request `i` sending `gets[i % len]`.
pub async fn get_loop(
    http: &reqwest::Client,
    gets: Vec<Get>,
    concurrency: usize,
    duration: Duration,
) -> Stats {
    if gets.is_empty() {
        return Stats::default();
    }
    let gets = Arc::new(gets);
    let http = http.clone();
    closed_loop(concurrency, duration, move |i| {
        let get = &gets[(i as usize) % gets.len()];
        let request = http.get(&get.url);
        let request = match &get.auth {
            Some(auth) => request.header(AUTHORIZATION, auth.clone()),
            None => request,
        };
        status_of(request)
    })
    .await
}
