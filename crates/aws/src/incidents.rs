//! Reporting channels, incidents and processors (`zgoda_domain::incidents`, `processors`), on
//! the one table. A small business has a handful of channels and processors and a few incidents a
//! year, so each kind is one partition.
//!
//! | pk           | sk                | what                                                    |
//! |--------------|-------------------|---------------------------------------------------------|
//! | `CHANNELS`   | `CHANNEL#<id>`    | a reporting channel and its link generation             |
//! | `INCIDENTS`  | `INCIDENT#<id>`   | an incident with its report, exchanges and triage; TTL `kept_until` |
//! | `PROCESSORS` | `PROCESSOR#<id>`  | a processor in the register                             |
//! | `PROCESSORS` | `SECRET#<id>`     | its webhook key (and the one a rotation replaced, while it verifies); never listed |

use zgoda_domain::ids::{ChannelId, IncidentId, ProcessorId};
use zgoda_domain::incidents::{Incident, ReportingChannel};
use zgoda_domain::processors::{Processor, WebhookSecrets};
use zgoda_domain::store::{IncidentStore, ProcessorStore, StoreError};

use crate::dynamo::{DynamoStore, corrupt, keyed, written};
use crate::item::{from_item, n, to_item};
use crate::table::TTL_ATTRIBUTE;

const CHANNELS: &str = "CHANNELS";
const INCIDENTS: &str = "INCIDENTS";
const PROCESSORS: &str = "PROCESSORS";

fn channel_sk(id: &ChannelId) -> String {
    format!("CHANNEL#{id}")
}

fn incident_sk(id: &IncidentId) -> String {
    format!("INCIDENT#{id}")
}

impl IncidentStore for DynamoStore {
    async fn save_channel(&self, channel: &ReportingChannel, expected: Option<u32>) -> Result<bool, StoreError> {
        let put = self.client().put_item().table_name(self.table()).set_item(Some(keyed(
            CHANNELS.into(),
            channel_sk(&channel.channel_id),
            to_item(channel),
        )));
        let put = match expected {
            None => put.condition_expression("attribute_not_exists(pk)"),
            Some(generation) => put
                .condition_expression("#generation = :seen")
                .expression_attribute_names("#generation", "generation")
                .expression_attribute_values(":seen", n(generation)),
        };
        written(put.send().await)
    }

    async fn load_channel(&self, id: &ChannelId) -> Result<Option<ReportingChannel>, StoreError> {
        let item = self.get(CHANNELS, &channel_sk(id)).await?;
        item.map(|i| from_item(&i).map_err(|e| corrupt("channel", e))).transpose()
    }

    async fn list_channels(&self) -> Result<Vec<ReportingChannel>, StoreError> {
        self.partition(CHANNELS).await?.iter().map(|i| from_item(i).map_err(|e| corrupt("channel", e))).collect()
    }

    async fn save_incident(&self, incident: &Incident) -> Result<(), StoreError> {
        let put = self.client().put_item().table_name(self.table()).set_item(Some(incident_item(incident)));
        match written(put.condition_expression("attribute_not_exists(pk)").send().await)? {
            true => Ok(()),
            false => Err(corrupt("incident", "its id was taken")),
        }
    }

    async fn load_incident(&self, id: &IncidentId) -> Result<Option<Incident>, StoreError> {
        let item = self.get(INCIDENTS, &incident_sk(id)).await?;
        item.map(|i| from_item(&i).map_err(|e| corrupt("incident", e))).transpose()
    }

    async fn list_incidents(&self) -> Result<Vec<Incident>, StoreError> {
        self.partition(INCIDENTS).await?.iter().map(|i| from_item(i).map_err(|e| corrupt("incident", e))).collect()
    }

    async fn update_incident(&self, incident: &Incident) -> Result<bool, StoreError> {
        let put = self
            .client()
            .put_item()
            .table_name(self.table())
            .set_item(Some(incident_item(incident)))
            .condition_expression("#revision = :seen")
            .expression_attribute_names("#revision", "revision")
            .expression_attribute_values(":seen", n(incident.revision.saturating_sub(1)));
        written(put.send().await)
    }
}

fn incident_item(incident: &Incident) -> crate::item::Item {
    let mut item = keyed(INCIDENTS.into(), incident_sk(&incident.incident_id), to_item(incident));
    item.insert(TTL_ATTRIBUTE.to_owned(), n(incident.kept_until.timestamp()));
    item
}

impl ProcessorStore for DynamoStore {
    async fn save_processor(&self, processor: &Processor) -> Result<bool, StoreError> {
        let item = keyed(PROCESSORS.into(), format!("PROCESSOR#{}", processor.processor_id), to_item(processor));
        let put = self.client().put_item().table_name(self.table()).set_item(Some(item));
        let put = match processor.revision {
            1 => put.condition_expression("attribute_not_exists(pk)"),
            r => put
                .condition_expression("#revision = :seen")
                .expression_attribute_names("#revision", "revision")
                .expression_attribute_values(":seen", n(r - 1)),
        };
        written(put.send().await)
    }

    async fn load_processor(&self, id: &ProcessorId) -> Result<Option<Processor>, StoreError> {
        let item = self.get(PROCESSORS, &format!("PROCESSOR#{id}")).await?;
        item.map(|i| from_item(&i).map_err(|e| corrupt("processor", e))).transpose()
    }

    async fn list_processors(&self) -> Result<Vec<Processor>, StoreError> {
        let items = self.partition(PROCESSORS).await?;
        let processors =
            items.iter().filter(|i| crate::item::get_s(i, crate::table::SORT_KEY).is_some_and(|sk| sk.starts_with("PROCESSOR#")));
        processors.map(|i| from_item(i).map_err(|e| corrupt("processor", e))).collect()
    }

    async fn save_webhook_secrets(&self, id: &ProcessorId, secrets: &WebhookSecrets) -> Result<(), StoreError> {
        let item = keyed(PROCESSORS.into(), format!("SECRET#{id}"), to_item(secrets));
        self.client().put_item().table_name(self.table()).set_item(Some(item)).send().await.map_err(crate::dynamo::unavailable)?;
        Ok(())
    }

    async fn load_webhook_secrets(&self, id: &ProcessorId) -> Result<Option<WebhookSecrets>, StoreError> {
        let item = self.get(PROCESSORS, &format!("SECRET#{id}")).await?;
        item.map(|i| from_item(&i).map_err(|e| corrupt("webhook secret", e))).transpose()
    }
}
