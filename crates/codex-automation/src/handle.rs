//! Controlling a running automation: [`AutomationHandle`] and [`StopMode`].

use tokio::sync::{broadcast, watch};

use crate::error::AutomationError;
use crate::status::{AutomationState, AutomationStatus, RunReport};

/// How [`AutomationHandle::stop`] treats a run that is in flight.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum StopMode {
    /// Let the in-flight turn finish (it is recorded and reported as usual), then stop.
    Finish,
    /// Interrupt the in-flight turn through [`AutomationTarget::interrupt`], wait for it to
    /// end (at most the interrupt grace period), record it, then stop.
    ///
    /// [`AutomationTarget::interrupt`]: crate::AutomationTarget::interrupt
    Interrupt,
}

/// What the handle asks of the runner.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Control {
    /// Keep going.
    Run,
    /// Stop as told.
    Stop(StopMode),
    /// The handle was detached: its drop must not stop the runner.
    Detached,
}

/// The handle of a spawned automation. `O` is the target's turn outcome type.
///
/// Dropping the handle stops the automation like `stop(StopMode::Finish)` would (without
/// waiting); call [`detach`](Self::detach) to let it run on to the end of its schedule instead.
#[derive(Debug)]
pub struct AutomationHandle<O> {
    status: watch::Receiver<AutomationStatus<O>>,
    control: watch::Sender<Control>,
    reports: broadcast::WeakSender<RunReport<O>>,
}

impl<O: Clone + Send + Sync + 'static> AutomationHandle<O> {
    pub(crate) fn new(
        status: watch::Receiver<AutomationStatus<O>>,
        control: watch::Sender<Control>,
        reports: broadcast::WeakSender<RunReport<O>>,
    ) -> Self {
        AutomationHandle {
            status,
            control,
            reports,
        }
    }

    /// A handle of an automation that never started because of `error`.
    pub(crate) fn failed(error: AutomationError) -> Self {
        let (_status_tx, status) = watch::channel(AutomationStatus::failed_with(error));
        let (control, _control_rx) = watch::channel(Control::Run);
        let (reports_tx, _) = broadcast::channel(1);
        let reports = reports_tx.downgrade();
        AutomationHandle {
            status,
            control,
            reports,
        }
    }

    /// A snapshot of the automation's status now.
    pub fn status(&self) -> AutomationStatus<O> {
        self.status.borrow().clone()
    }

    /// Waits until the automation has ended (`Stopped`, `Finished` or `Failed`) and returns
    /// its final status.
    pub async fn wait(&self) -> AutomationStatus<O> {
        let mut status = self.status.clone();
        loop {
            {
                let current = status.borrow_and_update();
                if current.state.is_terminal() {
                    return current.clone();
                }
            }
            if status.changed().await.is_err() {
                let mut last = status.borrow().clone();
                if !last.state.is_terminal() {
                    last.state = AutomationState::Failed;
                    last.next_due = None;
                    last.last_error = Some(AutomationError::RunnerGone {
                        reason: "the runner task ended before reporting a final state".into(),
                    });
                }
                return last;
            }
        }
    }

    /// Asks the automation to stop and waits until it has, returning its final status.
    ///
    /// While waiting for the next due time it stops at once. While a run is in flight,
    /// [`StopMode::Finish`] lets it finish and [`StopMode::Interrupt`] interrupts it; either
    /// way the run is recorded and reported before the automation stops. The final state is
    /// `Stopped` even if that run failed (an interrupted turn usually does); its error is in
    /// `last_error`. An automation that has already ended keeps its final state. A later
    /// `Interrupt` request upgrades an earlier `Finish` request; nothing downgrades it.
    pub async fn stop(&self, mode: StopMode) -> AutomationStatus<O> {
        self.request_stop(mode);
        self.wait().await
    }

    /// Asks the automation to stop without waiting (see [`stop`](Self::stop)).
    pub fn request_stop(&self, mode: StopMode) {
        self.control.send_if_modified(|control| {
            // An interrupt may upgrade an earlier request to finish; nothing downgrades.
            let next = match (*control, mode) {
                (Control::Stop(StopMode::Interrupt), _) => return false,
                (_, mode) => Control::Stop(mode),
            };
            *control = next;
            true
        });
    }

    /// Receives a [`RunReport`] for every run that ends from now on.
    ///
    /// The channel is bounded ([`report_capacity`](crate::AutomationOptions::report_capacity)).
    /// The runner never waits for subscribers: one that falls more than the capacity behind
    /// gets [`RecvError::Lagged(n)`](broadcast::error::RecvError::Lagged) telling how many of
    /// the oldest reports it lost, and then continues with the oldest report still buffered.
    /// Once the automation has ended and the buffered reports are read, `recv` returns
    /// [`RecvError::Closed`](broadcast::error::RecvError::Closed).
    pub fn subscribe(&self) -> broadcast::Receiver<RunReport<O>> {
        match self.reports.upgrade() {
            Some(sender) => sender.subscribe(),
            None => broadcast::channel(1).1,
        }
    }

    /// Lets the automation run on to the end of its schedule without a handle.
    pub fn detach(self) {
        self.control.send_if_modified(|control| {
            if *control == Control::Run {
                *control = Control::Detached;
                true
            } else {
                false
            }
        });
    }
}
