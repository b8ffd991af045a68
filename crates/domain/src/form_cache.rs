//! Form definitions held per warm instance, so that most form posts make no read for their form
//! (issue 26: a form post in four AWS calls). A form edited through the API is served within
//! [`crate::Settings::form_max_age`]; a post naming a notice version the held form does not know
//! has the form read again at once ([`crate::Zgoda::form_naming`]), so a new notice is accepted
//! from its first post. A form that does not exist is not held: one created a moment later is
//! found at once.

use std::collections::HashMap;
use std::sync::{Arc, RwLock};

use chrono::Duration;

use crate::Time;
use crate::ids::FormId;
use crate::store::StoredForm;

#[derive(Debug, Default)]
pub struct FormCache {
    held: RwLock<HashMap<FormId, (Arc<StoredForm>, Time)>>,
}

impl FormCache {
    /// The form as read less than `max_age` before `now`.
    pub fn fresh(&self, id: &FormId, now: Time, max_age: Duration) -> Option<Arc<StoredForm>> {
        let held = self.held.read().unwrap_or_else(|e| e.into_inner());
        held.get(id).filter(|(_, read_at)| now - *read_at < max_age).map(|(form, _)| Arc::clone(form))
    }

    pub fn remember(&self, form: Arc<StoredForm>, now: Time) {
        self.held.write().unwrap_or_else(|e| e.into_inner()).insert(form.form.id.clone(), (form, now));
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::memory::fixtures::demo_input;

    #[test]
    fn a_held_form_is_served_until_it_is_max_age_old() {
        let now = chrono::Utc::now();
        let id = FormId::parse("demo").unwrap();
        let input: crate::form::FormInput = serde_json::from_value(demo_input()).unwrap();
        let (form, notice) = input.parse(id.clone(), now).unwrap();
        let cache = FormCache::default();
        assert!(cache.fresh(&id, now, Duration::seconds(60)).is_none(), "nothing held yet");
        cache.remember(Arc::new(StoredForm { form, notices: vec![notice] }), now);
        assert!(cache.fresh(&id, now + Duration::seconds(59), Duration::seconds(60)).is_some());
        assert!(cache.fresh(&id, now + Duration::seconds(60), Duration::seconds(60)).is_none(), "read again once it is max_age old");
    }
}
