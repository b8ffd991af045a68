//! The hour's public mail budget as this warm instance last found it.
//!
//! Every form post that would mail names the budget's counter in its counting transaction, so in a
//! flood (the case the budget is for) concurrent posts meet on that one item and DynamoDB cancels
//! all but one of them (`TransactionConflict`, tried again, a 503 after six tries). Once a post
//! finds that not even one more mail fits, nothing more can be sent until the hour ends; this
//! instance's later posts and public mails then leave the counter alone and hold their mail back,
//! the same answer without the call or the contention.

use std::sync::Mutex;

use crate::Time;

#[derive(Debug, Default)]
pub struct SpentBudget {
    until: Mutex<Option<Time>>,
}

impl SpentBudget {
    /// Whether the budget of the hour `now` falls in was found spent.
    pub fn is_spent(&self, now: Time) -> bool {
        self.until.lock().unwrap_or_else(|e| e.into_inner()).is_some_and(|until| now < until)
    }

    /// The budget was found spent, until `hour_end`.
    pub fn spent_until(&self, hour_end: Time) {
        *self.until.lock().unwrap_or_else(|e| e.into_inner()) = Some(hour_end);
    }
}

#[cfg(test)]
mod tests {
    use chrono::Duration;

    use super::SpentBudget;
    use crate::memory::fixtures::now;

    #[test]
    fn a_budget_found_spent_stays_spent_until_its_hour_ends() {
        let budget = SpentBudget::default();
        assert!(!budget.is_spent(now()));
        let hour_end = now() + Duration::minutes(10);
        budget.spent_until(hour_end);
        assert!(budget.is_spent(now()) && budget.is_spent(hour_end - Duration::milliseconds(1)));
        assert!(!budget.is_spent(hour_end), "the next hour has a budget of its own");
    }
}
