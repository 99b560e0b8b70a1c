//! The PostgreSQL the suite starts is real and usable the way the database
//! engine will use it: a superuser over TCP on loopback that can make a login
//! role, which can then log in with its password.

#![allow(clippy::unwrap_used, clippy::expect_used)] // helpers panic to fail the test

use tokio_postgres::NoTls;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_test_cluster_makes_and_drops_login_roles() {
    let url = vault_tests::postgres_url();
    assert!(url.contains("@127.0.0.1:"), "loopback only: {url}");
    let (admin, connection) = tokio_postgres::connect(&url, NoTls).await.unwrap();
    tokio::spawn(connection);
    let role = format!("harness_{}", std::process::id());
    admin
        .batch_execute(&format!(
            "CREATE ROLE {role} LOGIN PASSWORD 'pw-{role}' VALID UNTIL 'infinity'"
        ))
        .await
        .unwrap();
    let server = url.split('@').nth(1).unwrap();
    let as_role = format!("postgres://{role}:pw-{role}@{server}");
    let (user, connection) = tokio_postgres::connect(&as_role, NoTls).await.unwrap();
    tokio::spawn(connection);
    let me: String = user
        .query_one("SELECT current_user::text", &[])
        .await
        .unwrap()
        .get(0);
    assert_eq!(me, role);
    drop(user);
    admin
        .batch_execute(&format!("DROP ROLE {role}"))
        .await
        .unwrap();
    let left = admin
        .query("SELECT 1 FROM pg_roles WHERE rolname = $1", &[&role])
        .await
        .unwrap();
    assert!(left.is_empty());
}
