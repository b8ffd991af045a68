//! Issue "Hostile input, faults and load": the SDK stops retrying once failed retries have drained
//! its retry budget (a token bucket). Locally one process hosts every environment, so each set of
//! `Clients::local` must have a budget of its own: an outage met by one environment must not leave
//! another unable to retry its first lost answer (which is how a CI run once failed).

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};

use tokio::io::AsyncReadExt;
use tokio::net::TcpListener;
use zgoda_aws::{Clients, DynamoStore, LocalEndpoints};
use zgoda_domain::store::{GuardKey, Guards, StoreError};

/// A "service" that takes every request and hangs up without answering; it counts the attempts.
async fn hang_up_server() -> (String, Arc<AtomicUsize>) {
    let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind");
    let url = format!("http://{}", listener.local_addr().expect("addr"));
    let attempts = Arc::new(AtomicUsize::new(0));
    let counted = attempts.clone();
    tokio::spawn(async move {
        while let Ok((mut socket, _)) = listener.accept().await {
            let counted = counted.clone();
            tokio::spawn(async move {
                let mut buf = vec![0u8; 64 * 1024];
                // One request per connection: read it, count it, hang up.
                if matches!(socket.read(&mut buf).await, Ok(n) if n > 0) {
                    counted.fetch_add(1, Ordering::SeqCst);
                }
            });
        }
    });
    (url, attempts)
}

async fn one_call(store: &DynamoStore) -> Result<bool, StoreError> {
    let now = chrono::Utc::now();
    store.first_use(&GuardKey::LinkUsed("budget".into()), now + chrono::Duration::days(1), now).await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn an_environment_that_drained_its_retry_budget_does_not_drain_anothers() {
    let (url, attempts) = hang_up_server().await;

    // One environment meets an outage long enough to drain its own retry budget.
    let stormy = DynamoStore::new(Clients::local(&LocalEndpoints::single(&url), "eu-central-1").await.dynamodb, "zgoda");
    let calls = 80;
    let outcomes = futures_util::future::join_all((0..calls).map(|_| one_call(&stormy))).await;
    assert!(outcomes.iter().all(|o| matches!(o, Err(StoreError::Unavailable(_)))), "every call fails while the service hangs up");
    let before = attempts.load(Ordering::SeqCst);
    assert!(before < calls * 3, "the budget ran out, so some calls were not retried: {before} attempts for {calls} calls");
    assert!(matches!(one_call(&stormy).await, Err(StoreError::Unavailable(_))));
    assert_eq!(attempts.load(Ordering::SeqCst) - before, 1, "a drained budget: no retry");

    // Another environment in the same process still retries its first failure in full.
    let calm = DynamoStore::new(Clients::local(&LocalEndpoints::single(&url), "eu-central-1").await.dynamodb, "zgoda");
    let before = attempts.load(Ordering::SeqCst);
    assert!(matches!(one_call(&calm).await, Err(StoreError::Unavailable(_))));
    assert_eq!(attempts.load(Ordering::SeqCst) - before, 3, "its own budget: three attempts");
}
