//! The import job: a codex thread (`thread/read` with turns) into a conversation, one turn per
//! transaction, resumable from the last stored turn, and `synced` only after every expected
//! item id was found in the store.

use super::error::{PersistResult, PersistenceError};
use super::jobs::{JobRecord, JobState, Jobs};
use super::model::{NewConversation, Record, TurnStatus};
use codex_runtime_protocol::{ThreadReadParams, Turn, TurnStatus as ProtocolTurnStatus};
use std::collections::HashSet;

/// Reads the thread with its turns.
async fn read_thread(jobs: &Jobs, thread_id: &str) -> PersistResult<Vec<Turn>> {
    let client = jobs.client.as_ref().ok_or(PersistenceError::Invalid {
        what: "jobs",
        message: "an import reads the thread through codex: build Jobs with `with_client`".into(),
    })?;
    let params = ThreadReadParams {
        thread_id: thread_id.to_string(),
        include_turns: Some(true),
    };
    Ok(client.runtime().request(&params).await?.thread.turns)
}

/// The records that store one turn.
pub(crate) fn turn_records(turn: &Turn) -> PersistResult<Vec<Record>> {
    let mut records = Vec::with_capacity(turn.items.len() + 2);
    records.push(Record::TurnStarted {
        turn_id: turn.id.clone(),
        prompt: None,
    });
    for item in &turn.items {
        records.push(Record::ItemCompleted {
            turn_id: turn.id.clone(),
            item: serde_json::to_value(item)?,
        });
    }
    if turn.status != ProtocolTurnStatus::InProgress {
        records.push(Record::TurnCompleted {
            turn_id: turn.id.clone(),
            status: TurnStatus::from_protocol(&turn.status),
            error: turn.error.as_ref().map(serde_json::to_value).transpose()?,
            usage: None,
        });
    }
    Ok(records)
}

/// Saves the job; a job cancelled meanwhile stops here.
async fn checkpoint(jobs: &Jobs, job: &JobRecord) -> PersistResult<()> {
    if jobs.store.update_job(job).await? {
        Ok(())
    } else {
        Err(PersistenceError::Cancelled {
            job_id: job.job_id.clone(),
        })
    }
}

pub(crate) async fn run(
    jobs: &Jobs,
    job: &mut JobRecord,
    thread_id: &str,
    conversation_id: &str,
) -> PersistResult<()> {
    let store = &jobs.store;
    let scope = job.scope.clone();
    let turns = read_thread(jobs, thread_id).await?;
    if store.conversation(&scope, conversation_id).await?.is_none() {
        let new = NewConversation::new(conversation_id).with_thread(thread_id);
        match store.create_conversation(&scope, new).await {
            Ok(_) | Err(PersistenceError::ConversationExists { .. }) => {}
            Err(e) => return Err(e),
        }
    }
    job.progress.total = Some(turns.len() as i64);
    if job.state == JobState::Running {
        let start = job.progress.done.max(0) as usize;
        for (i, turn) in turns.iter().enumerate().skip(start) {
            store
                .append(&scope, conversation_id, turn_records(turn)?)
                .await?;
            job.progress.done = i as i64 + 1;
            checkpoint(jobs, job).await?;
        }
        job.state = JobState::Verifying;
        checkpoint(jobs, job).await?;
    }

    // Verify: every item id of every turn is stored, under its turn.
    let mut stored = HashSet::new();
    let mut after = 0;
    loop {
        let page = store
            .read_items(&scope, conversation_id, after, super::model::MAX_PAGE)
            .await?;
        for item in page.items {
            stored.insert((item.turn_id, item.item_id));
        }
        match page.next_after {
            Some(a) => after = a,
            None => break,
        }
    }
    let stored_turns: HashSet<String> = store
        .read_turns(&scope, conversation_id)
        .await?
        .into_iter()
        .map(|t| t.turn_id)
        .collect();
    let mut verified = 0;
    for turn in &turns {
        if !stored_turns.contains(&turn.id) {
            return Err(PersistenceError::VerificationFailed {
                thread_id: thread_id.to_string(),
                message: format!("turn `{}` is not stored", turn.id),
            });
        }
        for item in &turn.items {
            let value = serde_json::to_value(item)?;
            let id = super::model::item_id(&value)
                .unwrap_or_default()
                .to_string();
            if !stored.contains(&(turn.id.clone(), id.clone())) {
                return Err(PersistenceError::VerificationFailed {
                    thread_id: thread_id.to_string(),
                    message: format!("item `{id}` of turn `{}` is not stored", turn.id),
                });
            }
            verified += 1;
        }
    }
    job.progress.verified_items = verified;
    job.state = JobState::Synced;
    Ok(())
}
