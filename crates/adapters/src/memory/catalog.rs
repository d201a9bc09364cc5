//! The product catalogue read in-process, straight from the product use cases: the standalone
//! composition prices orders without an HTTP hop.

use std::sync::Arc;

use async_trait::async_trait;

use domain::ProductId;
use ports::Cache;
use ports::inventory::{ProductService, ProductStore};
use ports::ordering::{CatalogError, CatalogProduct, ProductCatalog};

/// A [`ProductCatalog`] over the product service's use cases in the same process.
#[derive(Debug)]
pub struct LocalProductCatalog<S, K> {
    products: Arc<ProductService<S, K>>,
}

impl<S, K> LocalProductCatalog<S, K> {
    /// Reads from `products`.
    pub fn new(products: Arc<ProductService<S, K>>) -> Self {
        Self { products }
    }
}

#[async_trait]
impl<S: ProductStore, K: Cache> ProductCatalog for LocalProductCatalog<S, K> {
    async fn find_many(&self, ids: &[ProductId]) -> Result<Vec<CatalogProduct>, CatalogError> {
        let products = self
            .products
            .find_products(ids)
            .await
            .map_err(|e| CatalogError::Unavailable(e.into()))?;
        Ok(products
            .into_iter()
            .map(|p| CatalogProduct {
                id: p.id(),
                name: p.name().as_str().to_owned(),
                price: p.price(),
            })
            .collect())
    }
}
