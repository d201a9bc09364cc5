//! Reading the product service's cache behind the API, in either composition.

use crate::{Backend, TestSystem};

impl TestSystem {
    /// The product service's cache entry of a product (Redis or memory), raw.
    pub async fn cached_product(&self, product_id: &str) -> Option<String> {
        let key = format!("product:{product_id}");
        match &self.backend {
            Backend::Distributed {
                infra,
                product_cache_prefix,
                ..
            } => {
                let client = deadpool_redis::redis::Client::open(infra.redis_url.as_str())
                    .expect("redis client");
                let mut conn = client
                    .get_multiplexed_async_connection()
                    .await
                    .expect("redis connection");
                deadpool_redis::redis::cmd("GET")
                    .arg(format!("{product_cache_prefix}{key}"))
                    .query_async(&mut conn)
                    .await
                    .expect("redis GET")
            }
            Backend::Standalone { product_cache, .. } => {
                use ports::Cache;
                product_cache.get_many(&[key]).await.pop().flatten()
            }
        }
    }
}
