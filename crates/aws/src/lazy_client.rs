//! An SDK client built the first time a call needs it.

use std::fmt;
use std::ops::Deref;
use std::sync::{Arc, LazyLock};

type Build<C> = Box<dyn FnOnce() -> C + Send>;

/// A service's client, built on first use and shared by every clone. Building one costs 0.15–0.35
/// ms of a cold start (its runtime plugins; the first one built also makes the process's TLS
/// configuration; measured with marks in the function binaries), and most
/// functions never call some of the four services, or not on the event that starts them. Derefs
/// to the client, so a call reads `self.client.get_item()`.
pub struct LazyClient<C>(Arc<LazyLock<C, Build<C>>>);

impl<C> LazyClient<C> {
    /// A client `build` makes when it is first used.
    pub fn new(build: impl FnOnce() -> C + Send + 'static) -> Self {
        Self(Arc::new(LazyLock::new(Box::new(build))))
    }

    /// Builds the client now, if it is not built yet (at a moment spent waiting anyway).
    pub fn build(&self) {
        LazyLock::force(&self.0);
    }
}

/// A client already built (the tests' and the local stack's).
impl<C: Send + 'static> From<C> for LazyClient<C> {
    fn from(client: C) -> Self {
        Self::new(move || client)
    }
}

impl<C> Deref for LazyClient<C> {
    type Target = C;
    fn deref(&self) -> &C {
        &self.0
    }
}

impl<C> Clone for LazyClient<C> {
    fn clone(&self) -> Self {
        Self(Arc::clone(&self.0))
    }
}

impl<C> fmt::Debug for LazyClient<C> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("LazyClient").finish_non_exhaustive()
    }
}

#[cfg(test)]
mod tests {
    use std::sync::atomic::{AtomicUsize, Ordering};

    use super::LazyClient;

    #[test]
    fn a_client_is_built_once_on_first_use_and_shared_by_clones() {
        static BUILT: AtomicUsize = AtomicUsize::new(0);
        let client = LazyClient::new(|| {
            BUILT.fetch_add(1, Ordering::SeqCst);
            String::from("client")
        });
        let copy = client.clone();
        assert_eq!(BUILT.load(Ordering::SeqCst), 0, "nothing built before a call");
        assert_eq!(copy.len(), 6);
        assert_eq!(client.as_str(), "client");
        assert_eq!(BUILT.load(Ordering::SeqCst), 1);
    }
}
