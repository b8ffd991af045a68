//! Reporting channels, incidents and processors in memory, with the table's conditional writes.

use crate::ids::ProcessorId;
use crate::ids::{ChannelId, IncidentId};
use crate::incidents::{Incident, ReportingChannel};
use crate::processors::{Processor, WebhookSecrets};
use crate::store::{IncidentStore, ProcessorStore, StoreError};

use super::MemoryStore;

impl IncidentStore for MemoryStore {
    async fn save_channel(&self, channel: &ReportingChannel, expected: Option<u32>) -> Result<bool, StoreError> {
        Ok(self.with(|d| {
            let stored = d.channels.get(&channel.channel_id).map(|c| c.generation);
            if stored != expected {
                return false;
            }
            d.channels.insert(channel.channel_id.clone(), channel.clone());
            true
        }))
    }

    async fn load_channel(&self, id: &ChannelId) -> Result<Option<ReportingChannel>, StoreError> {
        Ok(self.with(|d| d.channels.get(id).cloned()))
    }

    async fn list_channels(&self) -> Result<Vec<ReportingChannel>, StoreError> {
        Ok(self.with(|d| d.channels.values().cloned().collect()))
    }

    async fn save_incident(&self, incident: &Incident) -> Result<(), StoreError> {
        self.with(|d| d.incidents.insert(incident.incident_id.clone(), incident.clone()));
        Ok(())
    }

    async fn load_incident(&self, id: &IncidentId) -> Result<Option<Incident>, StoreError> {
        Ok(self.with(|d| d.incidents.get(id).cloned()))
    }

    async fn list_incidents(&self) -> Result<Vec<Incident>, StoreError> {
        Ok(self.with(|d| d.incidents.values().cloned().collect()))
    }

    async fn update_incident(&self, incident: &Incident) -> Result<bool, StoreError> {
        Ok(self.with(|d| match d.incidents.get_mut(&incident.incident_id) {
            Some(stored) if stored.revision + 1 == incident.revision => {
                *stored = incident.clone();
                true
            }
            _ => false,
        }))
    }
}

impl ProcessorStore for MemoryStore {
    async fn save_processor(&self, processor: &Processor) -> Result<bool, StoreError> {
        Ok(self.with(|d| {
            let stored = d.processors.get(&processor.processor_id).map_or(0, |p| p.revision);
            if stored + 1 != processor.revision {
                return false;
            }
            d.processors.insert(processor.processor_id.clone(), processor.clone());
            true
        }))
    }

    async fn load_processor(&self, id: &ProcessorId) -> Result<Option<Processor>, StoreError> {
        Ok(self.with(|d| d.processors.get(id).cloned()))
    }

    async fn list_processors(&self) -> Result<Vec<Processor>, StoreError> {
        Ok(self.with(|d| d.processors.values().cloned().collect()))
    }

    async fn save_webhook_secrets(&self, id: &ProcessorId, secrets: &WebhookSecrets) -> Result<(), StoreError> {
        self.with(|d| d.webhook_secrets.insert(id.clone(), secrets.clone()));
        Ok(())
    }

    async fn load_webhook_secrets(&self, id: &ProcessorId) -> Result<Option<WebhookSecrets>, StoreError> {
        Ok(self.with(|d| d.webhook_secrets.get(id).cloned()))
    }
}
