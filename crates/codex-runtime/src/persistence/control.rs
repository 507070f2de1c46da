//! [`Conversations`]: conversation control over a store and a codex [`Client`]: open (start,
//! resume, fork), list, archive, name, read, pending server requests.

use super::error::{require_id, PersistResult, PersistenceError};
use super::lease::{LeaseAcquire, SessionLeaseGuard, DEFAULT_SESSION_LEASE};
use super::model::{
    now_millis, Conversation, ConversationPage, ItemPage, ListConversations, NewConversation,
    Record, Scope, ServerRequestRecord, TurnRecord, TurnStatus, MAX_PAGE,
};
use super::recorder::Recorder;
use super::store::ConversationStore;
use crate::runtime::{Client, Session, SessionConfig};
use std::sync::Arc;
use std::time::Duration;

/// How [`Conversations::open_conversation`] opens a conversation.
#[derive(Debug, Clone)]
#[non_exhaustive]
pub enum OpenConversation {
    /// A new conversation on a new codex thread.
    Start {
        /// Its id (refused when empty, whitespace or taken).
        conversation_id: String,
        /// The session settings.
        config: SessionConfig,
    },
    /// A stored conversation, on its codex thread. Takes the conversation's ownership lease
    /// first: refused with [`PersistenceError::SessionElsewhere`] while another instance
    /// holds a live one. Once the lease is this instance's (fresh, taken over after it
    /// expired, or already this owner id's: a restart with the same
    /// [`Conversations::with_owner`] id takes its sessions back at once), turns left in
    /// progress are marked [`TurnStatus::Abandoned`]; a real end that arrives for one later
    /// is still recorded. Resuming a conversation this same instance is running a turn on
    /// abandons that turn too: resume it only once.
    Resume {
        /// The conversation.
        conversation_id: String,
        /// The session settings.
        config: SessionConfig,
    },
    /// A new conversation on a fork of another's thread, starting with a copy of its turns
    /// and items.
    Fork {
        /// The conversation to fork.
        from: String,
        /// The new conversation's id.
        conversation_id: String,
        /// The session settings.
        config: SessionConfig,
    },
}

/// An open conversation: its stored row, the live session and a recorder into it.
#[derive(Debug, Clone)]
#[non_exhaustive]
pub struct OpenedConversation {
    /// The conversation as stored.
    pub conversation: Conversation,
    /// The codex session on its thread.
    pub session: Session,
    /// Records the session's turns ([`Recorder::ask`]).
    pub recorder: Recorder,
    /// Turns marked abandoned by a resume.
    pub abandoned_turns: Vec<String>,
    /// The conversation's ownership lease, renewed in the background while any clone of
    /// this value lives and released when the last is dropped.
    pub lease: SessionLeaseGuard,
}

/// A conversation read back: the row, its turns and one page of items in order.
#[derive(Debug, Clone, PartialEq)]
#[non_exhaustive]
pub struct ConversationRead {
    /// The conversation.
    pub conversation: Conversation,
    /// Its turns, in order.
    pub turns: Vec<TurnRecord>,
    /// One page of its items, in order.
    pub items: ItemPage,
}

/// Conversation control: a store plus the codex [`Client`] that runs the sessions.
#[derive(Clone)]
pub struct Conversations {
    store: Arc<dyn ConversationStore>,
    client: Client,
    owner: Arc<str>,
    lease: Duration,
}

impl std::fmt::Debug for Conversations {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Conversations")
            .field("store", &self.store.backend())
            .finish_non_exhaustive()
    }
}

impl Conversations {
    /// Control over `store`, running sessions on `client`.
    pub fn new(store: Arc<dyn ConversationStore>, client: Client) -> Conversations {
        Conversations {
            store,
            client,
            owner: format!("instance-{:016x}", rand::random::<u64>()).into(),
            lease: DEFAULT_SESSION_LEASE,
        }
    }

    /// Names this instance in the ownership leases it takes (default: `instance-` and a
    /// random id). Give a stable id to take back this instance's own sessions at once after a
    /// restart.
    pub fn with_owner(mut self, owner: impl Into<String>) -> PersistResult<Conversations> {
        let owner = owner.into();
        require_id("owner", &owner)?;
        self.owner = owner.into();
        Ok(self)
    }

    /// Sets the length of the ownership leases (default [`DEFAULT_SESSION_LEASE`]); they are
    /// renewed every third of it. Refused below 200 ms.
    pub fn with_lease(mut self, lease: Duration) -> PersistResult<Conversations> {
        if lease < Duration::from_millis(200) {
            return Err(PersistenceError::Invalid {
                what: "lease",
                message: format!("a session lease of {lease:?} is below the minimum of 200ms"),
            });
        }
        self.lease = lease;
        Ok(self)
    }

    /// The instance id this control writes as lease owner.
    pub fn owner(&self) -> &str {
        &self.owner
    }

    /// Takes the conversation's ownership lease, or says who holds it.
    async fn acquire(&self, scope: &Scope, id: &str) -> PersistResult<(SessionLeaseGuard, bool)> {
        let ttl = i64::try_from(self.lease.as_millis()).unwrap_or(i64::MAX);
        match self
            .store
            .acquire_session_lease(scope, id, &self.owner, now_millis(), ttl)
            .await?
        {
            LeaseAcquire::Acquired { lease, renewed } => {
                let guard = SessionLeaseGuard::hold(Arc::clone(&self.store), lease, self.lease);
                Ok((guard, renewed))
            }
            LeaseAcquire::Held(held) => Err(PersistenceError::SessionElsewhere {
                conversation_id: id.to_string(),
                owner: held.owner,
                expires_at: held.expires_at,
            }),
        }
    }

    /// The store.
    pub fn store(&self) -> &Arc<dyn ConversationStore> {
        &self.store
    }

    /// Opens a conversation (start, resume or fork) with a session and a recorder. Fails
    /// closed on a store that is not durable.
    pub async fn open_conversation(
        &self,
        scope: &Scope,
        open: OpenConversation,
    ) -> PersistResult<OpenedConversation> {
        super::require_durable(self.store.as_ref(), "open_conversation")?;
        let (conversation_id, session, abandoned, lease) = match open {
            OpenConversation::Start {
                conversation_id,
                config,
            } => {
                self.require_free(scope, &conversation_id).await?;
                let name = config.name.clone();
                let session = self.client.start_session(config).await?;
                let mut new =
                    NewConversation::new(&conversation_id).with_thread(session.thread_id());
                new.name = name;
                self.create_or_close(scope, new, &session).await?;
                let (lease, _) = self.acquire(scope, &conversation_id).await?;
                (conversation_id, session, Vec::new(), lease)
            }
            OpenConversation::Resume {
                conversation_id,
                config,
            } => {
                let thread = self.bound_thread(scope, &conversation_id).await?;
                // Only the lease holder abandons: while another instance holds a live lease,
                // its turns in progress are still being recorded there.
                let (lease, _) = self.acquire(scope, &conversation_id).await?;
                // Resumed first: when codex refuses (the thread has an active writer
                // elsewhere), nothing is abandoned.
                let session = self.client.resume_session(thread, config).await?;
                let abandoned = match self.store.abandon_open_turns(scope, &conversation_id).await {
                    Ok(ids) => ids,
                    Err(e) => {
                        let _ = session.close().await;
                        return Err(e);
                    }
                };
                (conversation_id, session, abandoned, lease)
            }
            OpenConversation::Fork {
                from,
                conversation_id,
                config,
            } => {
                let thread = self.bound_thread(scope, &from).await?;
                self.require_free(scope, &conversation_id).await?;
                let session = self.client.fork_session(thread, config).await?;
                let new = NewConversation::new(&conversation_id)
                    .with_thread(session.thread_id())
                    .forked_from(&from);
                self.create_or_close(scope, new, &session).await?;
                self.copy_history(scope, &from, &conversation_id).await?;
                let (lease, _) = self.acquire(scope, &conversation_id).await?;
                (conversation_id, session, Vec::new(), lease)
            }
        };
        let conversation = self.require(scope, &conversation_id).await?;
        let recorder =
            Recorder::new(Arc::clone(&self.store), scope.clone(), &conversation_id).await?;
        Ok(OpenedConversation {
            conversation,
            session,
            recorder,
            abandoned_turns: abandoned,
            lease,
        })
    }

    async fn require_free(&self, scope: &Scope, id: &str) -> PersistResult<()> {
        require_id("conversation_id", id)?;
        if self.store.conversation(scope, id).await?.is_some() {
            return Err(PersistenceError::ConversationExists {
                conversation_id: id.to_string(),
            });
        }
        Ok(())
    }

    async fn create_or_close(
        &self,
        scope: &Scope,
        new: NewConversation,
        session: &Session,
    ) -> PersistResult<()> {
        if let Err(e) = self.store.create_conversation(scope, new).await {
            let _ = session.close().await;
            return Err(e);
        }
        Ok(())
    }

    async fn require(&self, scope: &Scope, id: &str) -> PersistResult<Conversation> {
        require_id("conversation_id", id)?;
        self.store.conversation(scope, id).await?.ok_or_else(|| {
            PersistenceError::ConversationNotFound {
                tenant: scope.tenant.clone(),
                actor: scope.actor.clone(),
                conversation_id: id.to_string(),
            }
        })
    }

    async fn bound_thread(&self, scope: &Scope, id: &str) -> PersistResult<String> {
        self.require(scope, id)
            .await?
            .thread_id
            .ok_or_else(|| PersistenceError::NoThread {
                conversation_id: id.to_string(),
            })
    }

    /// Copies the turns and items of `from` into `to`, one turn per transaction.
    async fn copy_history(&self, scope: &Scope, from: &str, to: &str) -> PersistResult<()> {
        let turns = self.store.read_turns(scope, from).await?;
        let mut items = Vec::new();
        let mut after = 0;
        loop {
            let page = self.store.read_items(scope, from, after, MAX_PAGE).await?;
            items.extend(page.items);
            match page.next_after {
                Some(a) => after = a,
                None => break,
            }
        }
        for turn in turns {
            let mut records = vec![Record::TurnStarted {
                turn_id: turn.turn_id.clone(),
                prompt: turn.prompt.clone(),
            }];
            records.extend(items.iter().filter(|i| i.turn_id == turn.turn_id).map(|i| {
                Record::ItemCompleted {
                    turn_id: turn.turn_id.clone(),
                    item: i.raw.clone(),
                }
            }));
            if turn.status != TurnStatus::InProgress {
                records.push(Record::TurnCompleted {
                    turn_id: turn.turn_id.clone(),
                    status: turn.status,
                    error: turn.error.clone(),
                    usage: turn.usage.clone(),
                });
            }
            self.store.append(scope, to, records).await?;
        }
        Ok(())
    }

    /// The actor's conversations, most recently updated first.
    pub async fn list_conversations(
        &self,
        scope: &Scope,
        query: ListConversations,
    ) -> PersistResult<ConversationPage> {
        self.store.list_conversations(scope, query).await
    }

    /// Archives a conversation (hidden from lists unless asked for).
    pub async fn archive(&self, scope: &Scope, conversation_id: &str) -> PersistResult<()> {
        require_id("conversation_id", conversation_id)?;
        self.store.set_archived(scope, conversation_id, true).await
    }

    /// Unarchives a conversation.
    pub async fn unarchive(&self, scope: &Scope, conversation_id: &str) -> PersistResult<()> {
        require_id("conversation_id", conversation_id)?;
        self.store.set_archived(scope, conversation_id, false).await
    }

    /// Names a conversation.
    pub async fn set_name(
        &self,
        scope: &Scope,
        conversation_id: &str,
        name: impl Into<String>,
    ) -> PersistResult<()> {
        require_id("conversation_id", conversation_id)?;
        self.store
            .set_name(scope, conversation_id, Some(name.into()))
            .await
    }

    /// The conversation with its turns and one page of items (after position `after`, 0 for
    /// the start; `limit` 0 for the default page).
    pub async fn read_conversation(
        &self,
        scope: &Scope,
        conversation_id: &str,
        after: i64,
        limit: u32,
    ) -> PersistResult<ConversationRead> {
        let conversation = self.require(scope, conversation_id).await?;
        let turns = self.store.read_turns(scope, conversation_id).await?;
        let items = self
            .store
            .read_items(scope, conversation_id, after, limit)
            .await?;
        Ok(ConversationRead {
            conversation,
            turns,
            items,
        })
    }

    /// Server requests waiting for an answer; `[]` for an unknown conversation.
    pub async fn list_pending_server_requests(
        &self,
        scope: &Scope,
        conversation_id: &str,
    ) -> PersistResult<Vec<ServerRequestRecord>> {
        self.store
            .pending_server_requests(scope, conversation_id)
            .await
    }
}
