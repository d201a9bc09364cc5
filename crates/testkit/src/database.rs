//! Reading the services' databases directly, for what the API does not show (stock on hand,
//! reservations, rows behind an order).

use anyhow::Context;
use sea_orm::{ConnectionTrait, Database, DatabaseConnection, Statement};

use crate::TestSystem;

impl TestSystem {
    /// Opens the product database.
    pub async fn product_db(&self) -> DatabaseConnection {
        Database::connect(&self.product_db_url)
            .await
            .expect("product database")
    }

    /// Opens the order database.
    pub async fn order_db(&self) -> DatabaseConnection {
        Database::connect(&self.order_db_url)
            .await
            .expect("order database")
    }

    /// The stock column of a product, read from the database (not the cache).
    pub async fn stock_in_db(&self, product_id: &str) -> i64 {
        let db = self.product_db().await;
        let id = uuid::Uuid::parse_str(product_id).expect("product id");
        scalar_i64(
            &db,
            "SELECT stock FROM products WHERE id = ?",
            vec![id.into()],
        )
        .await
    }

    /// Sum of the reservations of a product.
    pub async fn reserved_in_db(&self, product_id: &str) -> i64 {
        let db = self.product_db().await;
        let id = uuid::Uuid::parse_str(product_id).expect("product id");
        scalar_i64(
            &db,
            "SELECT CAST(COALESCE(SUM(quantity), 0) AS SIGNED) FROM stock_reservations WHERE product_id = ?",
            vec![id.into()],
        )
        .await
    }
}

/// Runs a query returning one integer.
pub async fn scalar_i64(db: &DatabaseConnection, sql: &str, values: Vec<sea_orm::Value>) -> i64 {
    let row = db
        .query_one_raw(Statement::from_sql_and_values(
            db.get_database_backend(),
            sql,
            values,
        ))
        .await
        .with_context(|| format!("query failed: {sql}"))
        .expect("query")
        .expect("one row");
    row.try_get_by_index::<i64>(0).expect("an integer")
}
