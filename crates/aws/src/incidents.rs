//! Reporting channels and incidents (`zgoda_domain::incidents`), on the one table. A small
//! business has a handful of channels and a few incidents a year, so each kind is one partition.
//!
//! | pk          | sk                | what                                                    |
//! |-------------|-------------------|---------------------------------------------------------|
//! | `CHANNELS`  | `CHANNEL#<id>`    | a reporting channel and its link generation             |
//! | `INCIDENTS` | `INCIDENT#<id>`   | an incident with its report, exchanges and triage; TTL `kept_until` |

use zgoda_domain::ids::{ChannelId, IncidentId};
use zgoda_domain::incidents::{Incident, ReportingChannel};
use zgoda_domain::store::{IncidentStore, StoreError};

use crate::dynamo::{DynamoStore, corrupt, keyed, written};
use crate::item::{from_item, n, to_item};
use crate::table::TTL_ATTRIBUTE;

const CHANNELS: &str = "CHANNELS";
const INCIDENTS: &str = "INCIDENTS";

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
