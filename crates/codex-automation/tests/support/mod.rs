//! A scripted fake [`AutomationTarget`] for the scheduler tests (paused tokio time).

#![allow(dead_code)]

use std::collections::VecDeque;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, SystemTime};

use codex_automation::{AutomationTarget, BoxFuture, Clock, TokioClock, TurnFailure};
use tokio::sync::Notify;

/// 2030-01-01T00:00:00Z: the wall-clock time at tokio time zero of every test.
pub fn base() -> SystemTime {
    SystemTime::UNIX_EPOCH + Duration::from_secs(1_893_456_000)
}

/// `base() + secs`.
pub fn at(secs: u64) -> SystemTime {
    base() + Duration::from_secs(secs)
}

/// Seconds since `base()` (exact on paused time).
pub fn secs(t: SystemTime) -> f64 {
    t.duration_since(base()).expect("after base").as_secs_f64()
}

/// What one turn does.
#[derive(Debug, Clone)]
pub enum Step {
    /// Succeeds after this long.
    Ok(Duration),
    /// Fails with a message after this long.
    Fail(Duration, &'static str),
    /// Takes this long and ignores interrupts.
    Deaf(Duration),
    /// Panics at once.
    Panic,
}

/// One recorded call of `run_turn`.
#[derive(Debug, Clone)]
pub struct Call {
    pub prompt: String,
    pub started: SystemTime,
    pub ended: Option<SystemTime>,
}

#[derive(Default)]
struct State {
    calls: Mutex<Vec<Call>>,
    script: Mutex<VecDeque<Step>>,
    default_step: Mutex<Option<Step>>,
    in_flight: AtomicUsize,
    max_in_flight: AtomicUsize,
    interrupts: AtomicUsize,
    interrupt: Notify,
}

/// A fake session: records calls, follows a script of steps (then a default step).
#[derive(Clone)]
pub struct FakeTarget {
    state: Arc<State>,
    clock: Arc<dyn Clock>,
}

impl FakeTarget {
    /// A fake whose turns succeed at once unless scripted otherwise; reads time from `clock`.
    pub fn new(clock: Arc<dyn Clock>) -> Self {
        FakeTarget {
            state: Arc::new(State::default()),
            clock,
        }
    }

    /// Queues steps for the next turns.
    pub fn script(&self, steps: impl IntoIterator<Item = Step>) -> &Self {
        self.state.script.lock().unwrap().extend(steps);
        self
    }

    /// The step of every turn after the script ran out (default `Step::Ok(0)`).
    pub fn default_step(&self, step: Step) -> &Self {
        *self.state.default_step.lock().unwrap() = Some(step);
        self
    }

    pub fn calls(&self) -> Vec<Call> {
        self.state.calls.lock().unwrap().clone()
    }

    /// Start times of all calls, in seconds since `base()`.
    pub fn starts(&self) -> Vec<f64> {
        self.calls().iter().map(|c| secs(c.started)).collect()
    }

    pub fn max_in_flight(&self) -> usize {
        self.state.max_in_flight.load(Ordering::SeqCst)
    }

    pub fn interrupts(&self) -> usize {
        self.state.interrupts.load(Ordering::SeqCst)
    }
}

/// A `TokioClock` reading `wall` now.
pub fn clock_at(wall: SystemTime) -> Arc<dyn Clock> {
    Arc::new(TokioClock::starting_at(wall))
}

impl AutomationTarget for FakeTarget {
    type Outcome = String;

    fn run_turn<'a>(&'a self, prompt: &'a str) -> BoxFuture<'a, Result<String, TurnFailure>> {
        Box::pin(async move {
            let step = {
                let next = self.state.script.lock().unwrap().pop_front();
                next.or_else(|| self.state.default_step.lock().unwrap().clone())
                    .unwrap_or(Step::Ok(Duration::ZERO))
            };
            let index = {
                let mut calls = self.state.calls.lock().unwrap();
                calls.push(Call {
                    prompt: prompt.to_string(),
                    started: self.clock.now(),
                    ended: None,
                });
                calls.len() - 1
            };
            let now_in_flight = self.state.in_flight.fetch_add(1, Ordering::SeqCst) + 1;
            self.state
                .max_in_flight
                .fetch_max(now_in_flight, Ordering::SeqCst);
            let interrupted = self.state.interrupt.notified();
            let result = match step {
                Step::Ok(take) => tokio::select! {
                    () = tokio::time::sleep(take) => Ok(format!("ok #{}", index + 1)),
                    () = interrupted => Err(TurnFailure::new("interrupted")),
                },
                Step::Fail(take, message) => tokio::select! {
                    () = tokio::time::sleep(take) => Err(TurnFailure::new(message)),
                    () = interrupted => Err(TurnFailure::new("interrupted")),
                },
                Step::Deaf(take) => {
                    tokio::time::sleep(take).await;
                    Ok(format!("deaf #{}", index + 1))
                }
                Step::Panic => {
                    self.state.in_flight.fetch_sub(1, Ordering::SeqCst);
                    panic!("scripted panic");
                }
            };
            self.state.in_flight.fetch_sub(1, Ordering::SeqCst);
            self.state.calls.lock().unwrap()[index].ended = Some(self.clock.now());
            result
        })
    }

    fn interrupt<'a>(&'a self) -> BoxFuture<'a, Result<(), TurnFailure>> {
        Box::pin(async move {
            self.state.interrupts.fetch_add(1, Ordering::SeqCst);
            self.state.interrupt.notify_waiters();
            Ok(())
        })
    }
}
