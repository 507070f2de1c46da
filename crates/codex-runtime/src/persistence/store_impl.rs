//! The one [`super::ConversationStore`] implementation, shared by both stores: every method
//! runs its [`super::queries`] function in one transaction through the store's `run`
//! (`fn run<R>(&self, op, f) -> StoreFuture<R>`, where `f` gets the open transaction).

/// Implements `ConversationStore` for a store type with `run`, `backend_name`, `durability_of`
/// and `feed` (an [`super::store::EventFeed`]).
macro_rules! conversation_store_impl {
    ($ty:ty) => {
        impl $crate::persistence::ConversationStore for $ty {
            fn backend(&self) -> &'static str {
                Self::BACKEND
            }
            fn durability(&self) -> $crate::persistence::Durability {
                self.durability_of()
            }
            fn subscribe(
                &self,
            ) -> tokio::sync::broadcast::Receiver<std::sync::Arc<$crate::persistence::EventRecord>>
            {
                self.feed.subscribe()
            }
            fn create_conversation<'a>(
                &'a self,
                scope: &'a $crate::persistence::Scope,
                new: $crate::persistence::NewConversation,
            ) -> $crate::persistence::StoreFuture<'a, $crate::persistence::Conversation> {
                let scope = scope.clone();
                self.run("create_conversation", move |tx| {
                    Box::pin(async move { queries::create_conversation(tx, &scope, new).await })
                })
            }
            fn conversation<'a>(
                &'a self,
                scope: &'a $crate::persistence::Scope,
                id: &'a str,
            ) -> $crate::persistence::StoreFuture<'a, Option<$crate::persistence::Conversation>>
            {
                let (scope, id) = (scope.clone(), id.to_string());
                self.run("conversation", move |tx| {
                    Box::pin(async move { queries::conversation(tx, &scope, &id).await })
                })
            }
            fn list_conversations<'a>(
                &'a self,
                scope: &'a $crate::persistence::Scope,
                query: $crate::persistence::ListConversations,
            ) -> $crate::persistence::StoreFuture<'a, $crate::persistence::ConversationPage> {
                let scope = scope.clone();
                self.run("list_conversations", move |tx| {
                    Box::pin(async move { queries::list_conversations(tx, &scope, query).await })
                })
            }
            fn set_archived<'a>(
                &'a self,
                scope: &'a $crate::persistence::Scope,
                id: &'a str,
                archived: bool,
            ) -> $crate::persistence::StoreFuture<'a, ()> {
                let (scope, id) = (scope.clone(), id.to_string());
                self.run("set_archived", move |tx| {
                    Box::pin(async move {
                        let v = $crate::persistence::sql::SqlValue::from(archived as i64);
                        queries::update_conversation(tx, &scope, &id, "archived", v).await
                    })
                })
            }
            fn set_name<'a>(
                &'a self,
                scope: &'a $crate::persistence::Scope,
                id: &'a str,
                name: Option<String>,
            ) -> $crate::persistence::StoreFuture<'a, ()> {
                let (scope, id) = (scope.clone(), id.to_string());
                self.run("set_name", move |tx| {
                    Box::pin(async move {
                        let v = $crate::persistence::sql::SqlValue::from(name);
                        queries::update_conversation(tx, &scope, &id, "name", v).await
                    })
                })
            }
            fn bind_thread<'a>(
                &'a self,
                scope: &'a $crate::persistence::Scope,
                id: &'a str,
                thread_id: &'a str,
            ) -> $crate::persistence::StoreFuture<'a, ()> {
                let (scope, id) = (scope.clone(), id.to_string());
                let v = $crate::persistence::sql::SqlValue::from(thread_id);
                self.run("bind_thread", move |tx| {
                    Box::pin(async move {
                        queries::update_conversation(tx, &scope, &id, "thread_id", v).await
                    })
                })
            }
            fn append<'a>(
                &'a self,
                scope: &'a $crate::persistence::Scope,
                id: &'a str,
                records: Vec<$crate::persistence::Record>,
            ) -> $crate::persistence::StoreFuture<'a, Vec<$crate::persistence::EventRecord>> {
                let (scope, id) = (scope.clone(), id.to_string());
                let fut = self.run("append", move |tx| {
                    Box::pin(async move { queries::append(tx, &scope, &id, records).await })
                });
                Box::pin(async move {
                    let events = fut.await?;
                    self.feed.publish(&events);
                    Ok(events)
                })
            }
            fn read_turns<'a>(
                &'a self,
                scope: &'a $crate::persistence::Scope,
                id: &'a str,
            ) -> $crate::persistence::StoreFuture<'a, Vec<$crate::persistence::TurnRecord>> {
                let (scope, id) = (scope.clone(), id.to_string());
                self.run("read_turns", move |tx| {
                    Box::pin(async move { queries::read_turns(tx, &scope, &id).await })
                })
            }
            fn read_items<'a>(
                &'a self,
                scope: &'a $crate::persistence::Scope,
                id: &'a str,
                after: i64,
                limit: u32,
            ) -> $crate::persistence::StoreFuture<'a, $crate::persistence::ItemPage> {
                let (scope, id) = (scope.clone(), id.to_string());
                self.run("read_items", move |tx| {
                    Box::pin(
                        async move { queries::read_items(tx, &scope, &id, after, limit).await },
                    )
                })
            }
            fn read_events<'a>(
                &'a self,
                scope: &'a $crate::persistence::Scope,
                id: &'a str,
                after_seq: i64,
                limit: u32,
            ) -> $crate::persistence::StoreFuture<'a, Vec<$crate::persistence::EventRecord>> {
                let (scope, id) = (scope.clone(), id.to_string());
                self.run("read_events", move |tx| {
                    Box::pin(async move {
                        queries::read_events(tx, &scope, &id, after_seq, limit).await
                    })
                })
            }
            fn server_requests<'a>(
                &'a self,
                scope: &'a $crate::persistence::Scope,
                id: &'a str,
            ) -> $crate::persistence::StoreFuture<'a, Vec<$crate::persistence::ServerRequestRecord>>
            {
                let (scope, id) = (scope.clone(), id.to_string());
                self.run("server_requests", move |tx| {
                    Box::pin(async move { queries::server_requests(tx, &scope, &id, false).await })
                })
            }
            fn pending_server_requests<'a>(
                &'a self,
                scope: &'a $crate::persistence::Scope,
                id: &'a str,
            ) -> $crate::persistence::StoreFuture<'a, Vec<$crate::persistence::ServerRequestRecord>>
            {
                let (scope, id) = (scope.clone(), id.to_string());
                self.run("pending_server_requests", move |tx| {
                    Box::pin(async move { queries::server_requests(tx, &scope, &id, true).await })
                })
            }
            fn abandon_open_turns<'a>(
                &'a self,
                scope: &'a $crate::persistence::Scope,
                id: &'a str,
            ) -> $crate::persistence::StoreFuture<'a, Vec<String>> {
                let (scope, id) = (scope.clone(), id.to_string());
                self.run("abandon_open_turns", move |tx| {
                    Box::pin(async move { queries::abandon_open_turns(tx, &scope, &id).await })
                })
            }
            fn delete_conversation<'a>(
                &'a self,
                scope: &'a $crate::persistence::Scope,
                id: &'a str,
            ) -> $crate::persistence::StoreFuture<'a, u64> {
                let (scope, id) = (scope.clone(), id.to_string());
                self.run("delete_conversation", move |tx| {
                    Box::pin(async move { queries::delete_conversation(tx, &scope, &id).await })
                })
            }
            fn delete_turn<'a>(
                &'a self,
                scope: &'a $crate::persistence::Scope,
                id: &'a str,
                turn_id: &'a str,
            ) -> $crate::persistence::StoreFuture<'a, u64> {
                let (scope, id, turn) = (scope.clone(), id.to_string(), turn_id.to_string());
                self.run("delete_turn", move |tx| {
                    Box::pin(async move { queries::delete_turn(tx, &scope, &id, &turn).await })
                })
            }
            fn purge_actor<'a>(
                &'a self,
                scope: &'a $crate::persistence::Scope,
            ) -> $crate::persistence::StoreFuture<'a, u64> {
                let scope = scope.clone();
                self.run("purge_actor", move |tx| {
                    Box::pin(async move { queries::purge_actor(tx, &scope).await })
                })
            }
            fn count_rows<'a>(
                &'a self,
                scope: Option<&'a $crate::persistence::Scope>,
            ) -> $crate::persistence::StoreFuture<'a, $crate::persistence::RowCounts> {
                let scope = scope.cloned();
                self.run("count_rows", move |tx| {
                    Box::pin(async move { queries::count_rows(tx, scope.as_ref()).await })
                })
            }
            fn insert_job<'a>(
                &'a self,
                job: &'a $crate::persistence::JobRecord,
            ) -> $crate::persistence::StoreFuture<'a, ()> {
                let job = job.clone();
                self.run("insert_job", move |tx| {
                    Box::pin(async move { queries::insert_job(tx, &job).await })
                })
            }
            fn update_job<'a>(
                &'a self,
                job: &'a $crate::persistence::JobRecord,
            ) -> $crate::persistence::StoreFuture<'a, bool> {
                let job = job.clone();
                self.run("update_job", move |tx| {
                    Box::pin(async move { queries::update_job(tx, &job).await })
                })
            }
            fn job<'a>(
                &'a self,
                scope: &'a $crate::persistence::Scope,
                job_id: &'a str,
            ) -> $crate::persistence::StoreFuture<'a, Option<$crate::persistence::JobRecord>> {
                let (scope, id) = (scope.clone(), job_id.to_string());
                self.run("job", move |tx| {
                    Box::pin(async move { queries::job(tx, &scope, &id).await })
                })
            }
            fn cancel_job<'a>(
                &'a self,
                scope: &'a $crate::persistence::Scope,
                job_id: &'a str,
            ) -> $crate::persistence::StoreFuture<'a, Option<$crate::persistence::JobRecord>> {
                let (scope, id) = (scope.clone(), job_id.to_string());
                self.run("cancel_job", move |tx| {
                    Box::pin(async move { queries::cancel_job(tx, &scope, &id).await })
                })
            }
            fn claim_job<'a>(
                &'a self,
                scope: &'a $crate::persistence::Scope,
                job_id: &'a str,
                owner: &'a str,
                now: $crate::persistence::Millis,
                lease_ms: $crate::persistence::Millis,
            ) -> $crate::persistence::StoreFuture<'a, Option<$crate::persistence::JobRecord>> {
                let (scope, id, owner) = (scope.clone(), job_id.to_string(), owner.to_string());
                self.run("claim_job", move |tx| {
                    Box::pin(async move {
                        queries::claim_job(tx, &scope, &id, &owner, now, lease_ms).await
                    })
                })
            }
            fn claim_next_job<'a>(
                &'a self,
                owner: &'a str,
                now: $crate::persistence::Millis,
                lease_ms: $crate::persistence::Millis,
            ) -> $crate::persistence::StoreFuture<'a, Option<$crate::persistence::JobRecord>> {
                let owner = owner.to_string();
                self.run("claim_next_job", move |tx| {
                    Box::pin(
                        async move { queries::claim_next_job(tx, &owner, now, lease_ms).await },
                    )
                })
            }
            fn renew_job_lease<'a>(
                &'a self,
                job_id: &'a str,
                claim: i64,
                owner: &'a str,
                now: $crate::persistence::Millis,
                lease_ms: $crate::persistence::Millis,
            ) -> $crate::persistence::StoreFuture<'a, bool> {
                let (id, owner) = (job_id.to_string(), owner.to_string());
                self.run("renew_job_lease", move |tx| {
                    Box::pin(async move {
                        queries::renew_job_lease(tx, &id, claim, &owner, now, lease_ms).await
                    })
                })
            }
            fn session_lease<'a>(
                &'a self,
                scope: &'a $crate::persistence::Scope,
                id: &'a str,
            ) -> $crate::persistence::StoreFuture<'a, Option<$crate::persistence::SessionLease>>
            {
                let (scope, id) = (scope.clone(), id.to_string());
                self.run("session_lease", move |tx| {
                    Box::pin(async move { queries::session_lease(tx, &scope, &id).await })
                })
            }
            fn acquire_session_lease<'a>(
                &'a self,
                scope: &'a $crate::persistence::Scope,
                id: &'a str,
                owner: &'a str,
                now: $crate::persistence::Millis,
                ttl_ms: $crate::persistence::Millis,
            ) -> $crate::persistence::StoreFuture<'a, $crate::persistence::LeaseAcquire> {
                let (scope, id, owner) = (scope.clone(), id.to_string(), owner.to_string());
                self.run("acquire_session_lease", move |tx| {
                    Box::pin(async move {
                        queries::acquire_session_lease(tx, &scope, &id, &owner, now, ttl_ms).await
                    })
                })
            }
            fn renew_session_lease<'a>(
                &'a self,
                scope: &'a $crate::persistence::Scope,
                id: &'a str,
                owner: &'a str,
                token: i64,
                now: $crate::persistence::Millis,
                ttl_ms: $crate::persistence::Millis,
            ) -> $crate::persistence::StoreFuture<'a, Option<$crate::persistence::SessionLease>>
            {
                let (scope, id, owner) = (scope.clone(), id.to_string(), owner.to_string());
                self.run("renew_session_lease", move |tx| {
                    Box::pin(async move {
                        queries::renew_session_lease(tx, &scope, &id, &owner, token, now, ttl_ms)
                            .await
                    })
                })
            }
            fn release_session_lease<'a>(
                &'a self,
                scope: &'a $crate::persistence::Scope,
                id: &'a str,
                owner: &'a str,
                token: i64,
            ) -> $crate::persistence::StoreFuture<'a, bool> {
                let (scope, id, owner) = (scope.clone(), id.to_string(), owner.to_string());
                let now = $crate::persistence::now_millis();
                self.run("release_session_lease", move |tx| {
                    Box::pin(async move {
                        queries::release_session_lease(tx, &scope, &id, &owner, token, now).await
                    })
                })
            }
        }
    };
}
pub(crate) use conversation_store_impl;
