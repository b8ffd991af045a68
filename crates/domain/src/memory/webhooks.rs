//! Webhook endpoints, cursors with their leases, delivery logs and the change feed, in memory.

use crate::Time;
use crate::changes::{Change, ChangeKind};
use crate::ids::SubjectId;
use crate::processors::WebhookSecrets;
use crate::store::{StoreError, WebhookStore};
use crate::webhooks::{Cursor, DeliveryLog, Endpoint, EndpointId, Held, Told};

use super::{Data, MemoryStore};

/// One endpoint's cursor and who holds it until when.
#[derive(Debug, Clone, Default)]
pub(super) struct HeldCursor {
    cursor: Cursor,
    lease_until: Option<Time>,
}

impl Data {
    pub(super) fn add_changes(&mut self, changes: Vec<Change>) {
        for c in changes {
            self.changes.insert(c.change_id.clone(), c);
        }
    }
}

impl MemoryStore {
    /// Every change the feed holds, oldest first (for tests that check what was written).
    pub fn all_changes(&self) -> Vec<Change> {
        self.with(|d| d.changes.values().cloned().collect())
    }
}

impl WebhookStore for MemoryStore {
    async fn save_endpoint(&self, endpoint: &Endpoint) -> Result<(), StoreError> {
        self.with(|d| d.endpoints.insert(endpoint.endpoint_id.clone(), endpoint.clone()));
        Ok(())
    }

    async fn load_endpoint(&self, id: &EndpointId) -> Result<Option<Endpoint>, StoreError> {
        Ok(self.with(|d| d.endpoints.get(id).cloned()))
    }

    async fn list_endpoints(&self) -> Result<Vec<Endpoint>, StoreError> {
        Ok(self.with(|d| d.endpoints.values().cloned().collect()))
    }

    async fn save_endpoint_secrets(&self, id: &EndpointId, secrets: &WebhookSecrets) -> Result<(), StoreError> {
        self.with(|d| d.endpoint_secrets.insert(id.clone(), secrets.clone()));
        Ok(())
    }

    async fn load_endpoint_secrets(&self, id: &EndpointId) -> Result<Option<WebhookSecrets>, StoreError> {
        Ok(self.with(|d| d.endpoint_secrets.get(id).cloned()))
    }

    async fn start_cursor(&self, id: &EndpointId, cursor: &Cursor) -> Result<(), StoreError> {
        self.with(|d| d.cursors.insert(id.clone(), HeldCursor { cursor: cursor.clone(), lease_until: None }));
        Ok(())
    }

    async fn load_cursor(&self, id: &EndpointId) -> Result<Option<Cursor>, StoreError> {
        Ok(self.with(|d| d.cursors.get(id).map(|h| h.cursor.clone())))
    }

    async fn claim_cursor(&self, id: &EndpointId, now: Time, lease_until: Time) -> Result<Option<Held>, StoreError> {
        Ok(self.with(|d| {
            let held = d.cursors.get_mut(id)?;
            if held.lease_until.is_some_and(|t| t > now) {
                return None;
            }
            held.lease_until = Some(lease_until);
            Some(Held { cursor: held.cursor.clone(), lease_until })
        }))
    }

    async fn keep_cursor(&self, id: &EndpointId, held_until: Time, cursor: &Cursor) -> Result<bool, StoreError> {
        Ok(self.with(|d| match d.cursors.get_mut(id) {
            Some(h) if h.lease_until == Some(held_until) => {
                h.cursor = cursor.clone();
                true
            }
            _ => false,
        }))
    }

    async fn release_cursor(&self, id: &EndpointId, held_until: Time, cursor: &Cursor) -> Result<(), StoreError> {
        self.with(|d| {
            if let Some(h) = d.cursors.get_mut(id).filter(|h| h.lease_until == Some(held_until)) {
                *h = HeldCursor { cursor: cursor.clone(), lease_until: None };
            }
        });
        Ok(())
    }

    async fn record_delivery(&self, id: &EndpointId, log: &DeliveryLog) -> Result<(), StoreError> {
        self.with(|d| d.deliveries.insert((id.clone(), log.change_id.clone()), log.clone()));
        Ok(())
    }

    async fn list_deliveries(&self, id: &EndpointId, limit: usize) -> Result<Vec<DeliveryLog>, StoreError> {
        Ok(self.with(|d| d.deliveries.iter().rev().filter(|((e, _), _)| e == id).take(limit).map(|(_, l)| l.clone()).collect()))
    }

    async fn list_changes(&self, after: &str, before: &str, limit: usize) -> Result<Vec<Change>, StoreError> {
        Ok(self.with(|d| {
            d.changes
                .range(after.to_owned()..)
                .filter(|(k, _)| k.as_str() > after && k.as_str() < before)
                .take(limit)
                .map(|(_, c)| c.clone())
                .collect()
        }))
    }

    async fn load_change(&self, id: &str) -> Result<Option<Change>, StoreError> {
        Ok(self.with(|d| d.changes.get(id).cloned()))
    }

    async fn record_told(&self, subject: &SubjectId, id: &EndpointId, kind: ChangeKind, at: Time) -> Result<(), StoreError> {
        self.with(|d| {
            let Some(person) = d.people.get_mut(subject).filter(|p| p.head.is_some()) else { return };
            let told = person.told.entry(id.clone()).or_insert_with(|| Told {
                endpoint_id: id.clone(),
                kinds: Default::default(),
                first_at: at,
                last_at: at,
            });
            told.kinds.insert(kind);
            told.last_at = told.last_at.max(at);
        });
        Ok(())
    }

    async fn forget_erased_addresses(&self, before: Time) -> Result<usize, StoreError> {
        Ok(self.with(|d| {
            let mut n = 0;
            for c in d.changes.values_mut().filter(|c| c.erased_address.is_some() && c.at < before) {
                c.erased_address = None;
                n += 1;
            }
            n
        }))
    }
}
