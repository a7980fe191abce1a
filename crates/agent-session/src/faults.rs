//! [`FaultyStore`]: a store that injects faults into the calls of the store it wraps — delays,
//! failures before the store is called, responses lost after the store applied the call, and
//! completions reordered — seeded and reproducible: a [`Layered`] store with a
//! [`FaultInjector`].

use std::fmt;
use std::future::Future;
use std::ops::{BitOr, RangeInclusive};
use std::sync::{Arc, Mutex, PoisonError};
use std::time::Duration;

use crate::error::{SessionError, SessionErrorKind};
use crate::layer::{Layered, StoreCall, StoreLayer, StoreMethod, StoreOutput};
use crate::store::SessionStore;

const METHODS: usize = StoreMethod::ALL.len();

/// A set of [`StoreMethod`]s, to say which calls a fault applies to: [`READS`](Self::READS),
/// [`WRITES`](Self::WRITES), [`ALL`](Self::ALL), one method (`StoreMethod::Commit.into()`) or a
/// union (`StoreMethod::Commit | StoreMethod::BeginRun`).
#[derive(Clone, Copy, PartialEq, Eq, Hash, Default)]
pub struct StoreMethods(u16);

impl StoreMethods {
    /// No method.
    pub const NONE: StoreMethods = StoreMethods(0);
    /// The methods that read ([`StoreMethod::is_read`]): `head`, `entries`, `runs`,
    /// `latest_run`, `events`, `list_sessions`.
    pub const READS: StoreMethods = StoreMethods::matching(false);
    /// The methods that write ([`StoreMethod::is_write`]): `commit`, `begin_run`,
    /// `append_events`, `heartbeat`, `finish_run`, `claim_run`, `delete`.
    pub const WRITES: StoreMethods = StoreMethods::matching(true);
    /// Every method, `wait_for_changes` included (which is only ever delayed, never failed).
    pub const ALL: StoreMethods = StoreMethods((1 << METHODS) - 1);

    /// The writes, or the reads.
    const fn matching(writes: bool) -> StoreMethods {
        let mut bits = 0;
        let mut index = 0;
        while index < METHODS {
            let method = StoreMethod::ALL[index];
            if (writes && method.is_write()) || (!writes && method.is_read()) {
                bits |= 1 << index;
            }
            index += 1;
        }
        StoreMethods(bits)
    }

    /// Whether the set holds `method`.
    pub fn contains(self, method: StoreMethod) -> bool {
        self.0 & (1 << method as usize) != 0
    }

    /// The methods of the set, in [`StoreMethod::ALL`]'s order.
    pub fn iter(self) -> impl Iterator<Item = StoreMethod> {
        StoreMethod::ALL
            .into_iter()
            .filter(move |method| self.contains(*method))
    }
}

impl fmt::Debug for StoreMethods {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_set()
            .entries(self.iter().map(StoreMethod::as_str))
            .finish()
    }
}

impl From<StoreMethod> for StoreMethods {
    fn from(method: StoreMethod) -> Self {
        StoreMethods(1 << method as usize)
    }
}

impl<M: Into<StoreMethods>> BitOr<M> for StoreMethods {
    type Output = StoreMethods;
    fn bitor(self, other: M) -> StoreMethods {
        StoreMethods(self.0 | other.into().0)
    }
}

impl<M: Into<StoreMethods>> BitOr<M> for StoreMethod {
    type Output = StoreMethods;
    fn bitor(self, other: M) -> StoreMethods {
        StoreMethods::from(self) | other
    }
}

/// One fault, injected into one call.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum Fault {
    /// The call waits this long (on Tokio's clock) before it reaches the store.
    Delay(Duration),
    /// The call fails with an error of this kind (usually [`SessionErrorKind::Throttled`] or
    /// [`SessionErrorKind::Unavailable`], which callers retry) without reaching the store:
    /// nothing is applied.
    FailBefore(SessionErrorKind),
    /// The call reaches the store, which applies it; then its response is lost: the caller gets
    /// a retryable [`SessionErrorKind::Unavailable`] error, marked
    /// [`maybe_applied`](SessionError::maybe_applied) for writes.
    DropResponse,
    /// After the store answered, the answer reaches the caller this much later (on Tokio's
    /// clock), so that concurrent calls complete in another order than the store applied them.
    Reorder(Duration),
}

/// A fault injected into a call: which method, which call of it (from 1), and the fault.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub struct InjectedFault {
    /// The method.
    pub method: StoreMethod,
    /// The call's number among the calls of that method made through the injector, from 1.
    pub call: u64,
    /// The fault.
    pub fault: Fault,
}

impl InjectedFault {
    /// `fault`, in call number `call` of `method`.
    pub fn new(method: StoreMethod, call: u64, fault: Fault) -> Self {
        Self {
            method,
            call,
            fault,
        }
    }
}

/// How many calls a [`FaultInjector`] saw, and how many faults of each kind it injected into
/// them.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct FaultCounts {
    /// Calls made through the injector.
    pub calls: u64,
    /// Calls delayed before reaching the store ([`Fault::Delay`]).
    pub delayed: u64,
    /// Calls failed without reaching the store ([`Fault::FailBefore`]).
    pub failed_before: u64,
    /// Calls applied by the store whose response was then lost ([`Fault::DropResponse`]).
    pub dropped_responses: u64,
    /// Answers delayed after the store answered ([`Fault::Reorder`]).
    pub reordered: u64,
}

impl FaultCounts {
    /// Every fault injected, of any kind.
    pub fn faults(&self) -> u64 {
        self.delayed + self.failed_before + self.dropped_responses + self.reordered
    }

    /// The calls that failed because of a fault: failed before, or their response dropped.
    pub fn failures(&self) -> u64 {
        self.failed_before + self.dropped_responses
    }

    fn add(&mut self, other: &FaultCounts) {
        self.calls += other.calls;
        self.delayed += other.delayed;
        self.failed_before += other.failed_before;
        self.dropped_responses += other.dropped_responses;
        self.reordered += other.reordered;
    }
}

/// What a [`FaultInjector`] saw and injected, by method.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct InjectedFaults([FaultCounts; METHODS]);

impl InjectedFaults {
    /// The counts of one method.
    pub fn of(&self, method: StoreMethod) -> FaultCounts {
        self.0[method as usize]
    }

    /// The counts of a set of methods, added up (`StoreMethods::WRITES`, …).
    pub fn of_methods(&self, methods: impl Into<StoreMethods>) -> FaultCounts {
        let mut sum = FaultCounts::default();
        for method in methods.into().iter() {
            sum.add(&self.0[method as usize]);
        }
        sum
    }

    /// The counts of every method, added up.
    pub fn total(&self) -> FaultCounts {
        self.of_methods(StoreMethods::ALL)
    }
}

/// The probabilities of faults for one method.
#[derive(Debug, Clone, Copy)]
struct Rates {
    delay: f64,
    delay_range: (Duration, Duration),
    fail_before: f64,
    drop_response: f64,
    reorder: f64,
    reorder_range: (Duration, Duration),
}

impl Rates {
    const NONE: Rates = Rates {
        delay: 0.0,
        delay_range: (Duration::ZERO, Duration::ZERO),
        fail_before: 0.0,
        drop_response: 0.0,
        reorder: 0.0,
        reorder_range: (Duration::ZERO, Duration::ZERO),
    };
}

/// What happens to one call.
#[derive(Debug, Clone, Copy, Default)]
struct Plan {
    call: u64,
    delay: Option<Duration>,
    fail_before: Option<SessionErrorKind>,
    drop_response: bool,
    reorder: Option<Duration>,
}

#[derive(Debug, Default)]
struct State {
    counts: InjectedFaults,
    log: Vec<InjectedFault>,
}

/// A [`StoreLayer`] that injects faults into store calls: delays, failures before the store is
/// called, responses lost after the store applied the call, and reordered completions.
///
/// - **Rates**: for each method, or a class of methods ([`StoreMethods::READS`],
///   [`StoreMethods::WRITES`], [`StoreMethods::ALL`]), the probability of each kind of fault
///   ([`delay`](Self::delay), [`fail_before`](Self::fail_before),
///   [`drop_response`](Self::drop_response), [`reorder`](Self::reorder)); a later setting for
///   a method replaces an earlier one of the same kind. A rate-driven failure before the store
///   is [`Throttled`](SessionErrorKind::Throttled) or [`Unavailable`](SessionErrorKind::Unavailable),
///   at random. A call that fails before reaching the store has no response to drop.
/// - **Scripts**: exact faults for a given call ([`script`](Self::script): "the 3rd commit
///   loses its response"). A scripted call gets its scripted faults and no random ones.
/// - **Seeded**: the faults of the `n`th call of a method are drawn from the seed, the method
///   and `n` alone (splitmix64), so the same seed and the same sequence of calls give the same
///   faults, whatever other methods are called in between.
/// - **Counted**: [`injected`](Self::injected) says how many calls of each method were made
///   and how many faults of each kind were injected; [`log`](Self::log) lists the faults (the
///   first [`LOG_CAPACITY`](Self::LOG_CAPACITY)).
/// - [`wait_for_changes`](SessionStore::wait_for_changes) is only ever delayed (when asked
///   for explicitly or with [`StoreMethods::ALL`]), never failed, so followers keep working.
///
/// Delays use [`tokio::time::sleep`], so tests on Tokio's paused clock run them instantly.
/// Clones share their call numbers, counts and log. Configure the injector before wrapping a
/// store with it (`FaultyStore::new` or [`Layered::wrap`]).
///
/// ```
/// use std::sync::Arc;
/// use std::time::Duration;
/// use agent_session::{
///     Fault, FaultInjector, FaultyStore, InMemorySessionStore, SessionId, SessionStore,
///     StoreMethod, StoreMethods,
/// };
///
/// # #[tokio::main(flavor = "current_thread", start_paused = true)]
/// # async fn main() -> Result<(), Box<dyn std::error::Error>> {
/// let faults = FaultInjector::new(42)
///     .fail_before(StoreMethods::WRITES, 0.1)
///     .drop_response(StoreMethod::Commit, 0.1)
///     .delay(StoreMethods::ALL, 0.5, Duration::ZERO..=Duration::from_millis(20))
///     .script(StoreMethod::Head, 1, Fault::FailBefore(agent_session::SessionErrorKind::Throttled));
/// let store = FaultyStore::new(Arc::new(InMemorySessionStore::new()), faults);
/// let session = SessionId::new("user123")?;
/// let error = store.head(&session).await.unwrap_err();
/// assert!(error.is_retryable());
/// assert_eq!(store.injected().of(StoreMethod::Head).failed_before, 1);
/// # Ok(())
/// # }
/// ```
#[derive(Clone)]
pub struct FaultInjector {
    seed: u64,
    rates: [Rates; METHODS],
    script: Vec<InjectedFault>,
    state: Arc<Mutex<State>>,
}

impl FaultInjector {
    /// How many injected faults [`log`](Self::log) keeps (the first ones); the counts of
    /// [`injected`](Self::injected) go on.
    pub const LOG_CAPACITY: usize = 10_000;

    /// An injector with this seed that injects nothing until told to.
    pub fn new(seed: u64) -> Self {
        Self {
            seed,
            rates: [Rates::NONE; METHODS],
            script: Vec::new(),
            state: Arc::default(),
        }
    }

    /// The seed.
    pub fn seed(&self) -> u64 {
        self.seed
    }

    /// Delays calls of `methods` with probability `rate` (0 to 1), each by a duration drawn
    /// from `range`, before they reach the store.
    #[must_use]
    pub fn delay(
        mut self,
        methods: impl Into<StoreMethods>,
        rate: f64,
        range: RangeInclusive<Duration>,
    ) -> Self {
        let range = ordered(range);
        for method in methods.into().iter() {
            let rates = &mut self.rates[method as usize];
            rates.delay = probability(rate);
            rates.delay_range = range;
        }
        self
    }

    /// Fails calls of `methods` with probability `rate` (0 to 1) before they reach the store,
    /// with a retryable error ([`Throttled`](SessionErrorKind::Throttled) or
    /// [`Unavailable`](SessionErrorKind::Unavailable)): nothing is applied. Never applies to
    /// `wait_for_changes`.
    #[must_use]
    pub fn fail_before(mut self, methods: impl Into<StoreMethods>, rate: f64) -> Self {
        for method in methods.into().iter() {
            self.rates[method as usize].fail_before = probability(rate);
        }
        self
    }

    /// Lets calls of `methods` reach the store and then, with probability `rate` (0 to 1),
    /// replaces their outcome with a retryable [`Unavailable`](SessionErrorKind::Unavailable)
    /// error, marked [`maybe_applied`](SessionError::maybe_applied) for writes: the store
    /// applied the call, its response was lost. Never applies to `wait_for_changes`.
    #[must_use]
    pub fn drop_response(mut self, methods: impl Into<StoreMethods>, rate: f64) -> Self {
        for method in methods.into().iter() {
            self.rates[method as usize].drop_response = probability(rate);
        }
        self
    }

    /// With probability `rate` (0 to 1), holds back the answer of a call of `methods` after
    /// the store gave it, by a duration drawn from `range`, so that concurrent calls complete
    /// in another order than the store applied them.
    #[must_use]
    pub fn reorder(
        mut self,
        methods: impl Into<StoreMethods>,
        rate: f64,
        range: RangeInclusive<Duration>,
    ) -> Self {
        let range = ordered(range);
        for method in methods.into().iter() {
            let rates = &mut self.rates[method as usize];
            rates.reorder = probability(rate);
            rates.reorder_range = range;
        }
        self
    }

    /// Injects `fault` into call number `call` (from 1) of `method`, and no random fault
    /// (several scripted faults of one call all apply: a delay and a dropped response, say).
    /// Failures scripted for `wait_for_changes` are ignored.
    #[must_use]
    pub fn script(mut self, method: StoreMethod, call: u64, fault: Fault) -> Self {
        self.script.push(InjectedFault::new(method, call, fault));
        self
    }

    /// The calls seen and the faults injected so far, by this injector and its clones.
    pub fn injected(&self) -> InjectedFaults {
        self.state().counts.clone()
    }

    /// The faults injected so far (the first [`LOG_CAPACITY`](Self::LOG_CAPACITY)), in the
    /// order they were injected.
    pub fn log(&self) -> Vec<InjectedFault> {
        self.state().log.clone()
    }

    fn state(&self) -> std::sync::MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// Numbers a call and decides its faults.
    fn plan(&self, method: StoreMethod) -> Plan {
        let call = {
            let mut state = self.state();
            let counts = &mut state.counts.0[method as usize];
            counts.calls += 1;
            counts.calls
        };
        let mut plan = Plan {
            call,
            ..Plan::default()
        };
        let mut scripted = false;
        for fault in self
            .script
            .iter()
            .filter(|fault| fault.method == method && fault.call == call)
        {
            scripted = true;
            match fault.fault {
                Fault::Delay(delay) => plan.delay = Some(delay),
                Fault::FailBefore(kind) => plan.fail_before = Some(kind),
                Fault::DropResponse => plan.drop_response = true,
                Fault::Reorder(delay) => plan.reorder = Some(delay),
            }
        }
        if !scripted {
            // Always the same draws in the same order, whatever the rates.
            let rates = &self.rates[method as usize];
            let mut random = SplitMix64::for_call(self.seed, method, call);
            let delayed = random.chance(rates.delay);
            let delay = random.between(rates.delay_range);
            let failed = random.chance(rates.fail_before);
            let kind = if random.next() & 1 == 0 {
                SessionErrorKind::Throttled
            } else {
                SessionErrorKind::Unavailable
            };
            let dropped = random.chance(rates.drop_response);
            let reordered = random.chance(rates.reorder);
            let reorder = random.between(rates.reorder_range);
            plan.delay = delayed.then_some(delay);
            plan.fail_before = failed.then_some(kind);
            plan.drop_response = dropped;
            plan.reorder = reordered.then_some(reorder);
        }
        if method == StoreMethod::WaitForChanges {
            plan.fail_before = None;
            plan.drop_response = false;
        }
        if plan.fail_before.is_some() {
            plan.drop_response = false;
            plan.reorder = None;
        }
        plan
    }

    fn record(&self, method: StoreMethod, call: u64, fault: Fault) {
        let mut state = self.state();
        let counts = &mut state.counts.0[method as usize];
        match fault {
            Fault::Delay(_) => counts.delayed += 1,
            Fault::FailBefore(_) => counts.failed_before += 1,
            Fault::DropResponse => counts.dropped_responses += 1,
            Fault::Reorder(_) => counts.reordered += 1,
        }
        if state.log.len() < Self::LOG_CAPACITY {
            state.log.push(InjectedFault::new(method, call, fault));
        }
    }
}

impl fmt::Debug for FaultInjector {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("FaultInjector")
            .field("seed", &self.seed)
            .field("scripted", &self.script.len())
            .field("injected", &self.injected().total())
            .finish_non_exhaustive()
    }
}

impl StoreLayer for FaultInjector {
    fn around<'a, T, F>(
        &'a self,
        call: StoreCall<'a>,
        inner: F,
    ) -> impl Future<Output = Result<T, SessionError>> + Send + 'a
    where
        T: StoreOutput + 'a,
        F: Future<Output = Result<T, SessionError>> + Send + 'a,
    {
        let method = call.method();
        let session = call.session();
        let plan = self.plan(method);
        let injected = move |kind: SessionErrorKind, what: &str| {
            let error = SessionError::new(
                kind,
                format!("injected fault: call {} of `{method}` {what}", plan.call),
            );
            match session {
                Some(session) => error.for_session(session),
                None => error,
            }
        };
        async move {
            if let Some(delay) = plan.delay {
                self.record(method, plan.call, Fault::Delay(delay));
                sleep(delay).await;
            }
            if let Some(kind) = plan.fail_before {
                self.record(method, plan.call, Fault::FailBefore(kind));
                return Err(injected(kind, "failed before reaching the store"));
            }
            let mut result = inner.await;
            if plan.drop_response {
                self.record(method, plan.call, Fault::DropResponse);
                let error = injected(
                    SessionErrorKind::Unavailable,
                    "reached the store; its response was lost",
                );
                result = Err(if method.is_write() {
                    error.with_maybe_applied()
                } else {
                    error
                });
            }
            if let Some(delay) = plan.reorder {
                self.record(method, plan.call, Fault::Reorder(delay));
                sleep(delay).await;
            }
            result
        }
    }
}

async fn sleep(duration: Duration) {
    if !duration.is_zero() {
        tokio::time::sleep(duration).await;
    }
}

/// Wraps a store and injects faults into its calls: a [`Layered`] store with a
/// [`FaultInjector`] (see there).
pub type FaultyStore<S = dyn SessionStore> = Layered<S, FaultInjector>;

impl<S: SessionStore + ?Sized> Layered<S, FaultInjector> {
    /// `inner`, with the faults of `faults`.
    pub fn new(inner: Arc<S>, faults: FaultInjector) -> Self {
        Layered::wrap(inner, faults)
    }

    /// The calls seen and the faults injected so far ([`FaultInjector::injected`]).
    pub fn injected(&self) -> InjectedFaults {
        self.layer().injected()
    }
}

fn probability(rate: f64) -> f64 {
    if rate.is_nan() {
        0.0
    } else {
        rate.clamp(0.0, 1.0)
    }
}

fn ordered(range: RangeInclusive<Duration>) -> (Duration, Duration) {
    let (low, high) = range.into_inner();
    if low <= high {
        (low, high)
    } else {
        (high, low)
    }
}

/// splitmix64: small, fast, and good enough to draw faults.
#[derive(Debug)]
struct SplitMix64(u64);

impl SplitMix64 {
    const GAMMA: u64 = 0x9E37_79B9_7F4A_7C15;

    fn mix(mut z: u64) -> u64 {
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }

    /// The generator of call number `call` of `method`.
    fn for_call(seed: u64, method: StoreMethod, call: u64) -> Self {
        let stream = Self::mix((method as u64 + 1).wrapping_mul(Self::GAMMA));
        SplitMix64(Self::mix(seed ^ stream) ^ Self::mix(call.wrapping_mul(Self::GAMMA)))
    }

    fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(Self::GAMMA);
        Self::mix(self.0)
    }

    /// True with probability `p`.
    fn chance(&mut self, p: f64) -> bool {
        let unit = (self.next() >> 11) as f64 / (1u64 << 53) as f64;
        unit < p
    }

    /// A duration in `low ..= high`.
    fn between(&mut self, (low, high): (Duration, Duration)) -> Duration {
        let span = (high - low).as_nanos();
        let draw = u128::from(self.next()) % (span + 1);
        low + Duration::from_nanos(u64::try_from(draw).unwrap_or(u64::MAX))
    }
}

#[cfg(test)]
mod tests {
    use agent_core::{Message, Reasoning, RunStatus};
    use uuid::Uuid;

    use super::*;
    use crate::counting::CountingStore;
    use crate::id::SessionId;
    use crate::memory::InMemorySessionStore;
    use crate::store::{Commit, Committed};
    use crate::version::SessionVersion;

    fn session() -> SessionId {
        SessionId::new("faulty").unwrap()
    }

    /// Commits one turn, with this run id, on `base`.
    async fn commit(
        store: &dyn SessionStore,
        run_id: Uuid,
        base: SessionVersion,
    ) -> Result<Committed, SessionError> {
        let session = session();
        let turn = [Message::user_text("hi"), Message::assistant_text("hello")];
        let mut trace = Reasoning::start("hi", Some(session.to_string()));
        trace.run_id = run_id;
        trace.status = RunStatus::Completed;
        store
            .commit(&session, Commit::new(run_id, base, &turn, &trace))
            .await
    }

    fn outcome<T>(result: &Result<T, SessionError>) -> String {
        match result {
            Ok(_) => "ok".to_owned(),
            Err(error) if error.maybe_applied() => format!("{} (maybe applied)", error.kind()),
            Err(error) => error.kind().to_string(),
        }
    }

    /// A fixed sequence of calls with faults at every rate; what each call gave, the faults,
    /// and how long it all took on Tokio's clock.
    async fn scenario(seed: u64) -> (Vec<String>, Vec<InjectedFault>, Duration) {
        let faults = FaultInjector::new(seed)
            .fail_before(StoreMethods::ALL, 0.2)
            .drop_response(StoreMethods::WRITES, 0.2)
            .delay(
                StoreMethods::ALL,
                0.5,
                Duration::from_millis(1)..=Duration::from_millis(50),
            )
            .reorder(
                StoreMethods::READS,
                0.5,
                Duration::ZERO..=Duration::from_millis(20),
            );
        let store = FaultyStore::new(Arc::new(InMemorySessionStore::new()), faults);
        let session = session();
        let started = tokio::time::Instant::now();
        let mut outcomes = Vec::new();
        let mut base = SessionVersion::EMPTY;
        for n in 0..40u128 {
            let head = store.head(&session).await;
            outcomes.push(format!("head {}", outcome(&head)));
            if let Ok(head) = head {
                base = head.version;
            }
            let committed = commit(&store, Uuid::from_u128(n + 1), base).await;
            outcomes.push(format!("commit {}", outcome(&committed)));
            let latest = store.latest_run(&session).await;
            outcomes.push(format!("latest_run {}", outcome(&latest)));
        }
        let injected = store.injected();
        let log = store.layer().log();
        // The counts and the log agree.
        let logged =
            |kind: fn(&Fault) -> bool| log.iter().filter(|fault| kind(&fault.fault)).count() as u64;
        let total = injected.total();
        assert_eq!(total.calls, 120);
        assert_eq!(total.faults(), log.len() as u64);
        assert_eq!(
            total.failed_before,
            logged(|fault| matches!(fault, Fault::FailBefore(_)))
        );
        assert_eq!(
            total.dropped_responses,
            logged(|fault| matches!(fault, Fault::DropResponse))
        );
        let failed = |method: &str| {
            outcomes
                .iter()
                .filter(|o| o.starts_with(method) && !o.ends_with(" ok"))
                .count() as u64
        };
        // Every failed read is an injected fault; a commit may also fail on a stale base.
        assert_eq!(
            failed("head ") + failed("latest_run "),
            injected
                .of_methods(StoreMethod::Head | StoreMethod::LatestRun)
                .failures()
        );
        assert!(failed("commit ") >= injected.of(StoreMethod::Commit).failures());
        (outcomes, log, started.elapsed())
    }

    #[tokio::test(start_paused = true)]
    async fn the_same_seed_gives_the_same_faults() {
        let first = scenario(7).await;
        let again = scenario(7).await;
        assert_eq!(first, again);
        let (outcomes, log, elapsed) = &first;
        // Every kind of fault happened.
        for kind in [
            |fault: &Fault| matches!(fault, Fault::Delay(_)),
            |fault: &Fault| matches!(fault, Fault::FailBefore(_)),
            |fault: &Fault| matches!(fault, Fault::DropResponse),
            |fault: &Fault| matches!(fault, Fault::Reorder(_)),
        ] {
            assert!(log.iter().any(|fault| kind(&fault.fault)), "{log:?}");
        }
        assert!(outcomes.iter().any(|o| o.ends_with("(maybe applied)")));
        assert!(outcomes.iter().any(|o| o == "commit ok"));
        assert!(*elapsed > Duration::ZERO);
        let other = scenario(8).await;
        assert_ne!(first.1, other.1, "another seed, other faults");
    }

    #[tokio::test(start_paused = true)]
    async fn a_dropped_response_leaves_the_change_applied() {
        let inner = Arc::new(InMemorySessionStore::new());
        let faults = FaultInjector::new(1).script(StoreMethod::Commit, 3, Fault::DropResponse);
        let store = FaultyStore::new(inner.clone(), faults);
        let mut base = SessionVersion::EMPTY;
        for n in 1..=2 {
            base = commit(&store, Uuid::from_u128(n), base)
                .await
                .unwrap()
                .version;
        }
        let error = commit(&store, Uuid::from_u128(3), base).await.unwrap_err();
        assert_eq!(error.kind(), SessionErrorKind::Unavailable);
        assert!(error.is_retryable() && error.maybe_applied(), "{error}");
        assert_eq!(error.session(), Some("faulty"));
        // The third turn is there all the same ...
        let head = inner.head(&session()).await.unwrap();
        assert_eq!((head.entry_count(), head.runs), (3, 3));
        // ... and the retry recognises it: nothing doubled.
        let retried = commit(&store, Uuid::from_u128(3), base).await.unwrap();
        assert!(retried.replayed);
        assert_eq!(retried.version, head.version);
        assert_eq!(inner.head(&session()).await.unwrap().entry_count(), 3);
        let commits = store.injected().of(StoreMethod::Commit);
        assert_eq!((commits.calls, commits.dropped_responses), (4, 1));
        assert_eq!(commits.faults(), 1);
        assert_eq!(
            store.layer().log(),
            [InjectedFault::new(
                StoreMethod::Commit,
                3,
                Fault::DropResponse
            )]
        );
    }

    #[tokio::test(start_paused = true)]
    async fn a_failure_before_the_store_applies_nothing() {
        let counting = CountingStore::new(Arc::new(InMemorySessionStore::new()));
        let faults = FaultInjector::new(2)
            .script(
                StoreMethod::Commit,
                1,
                Fault::FailBefore(SessionErrorKind::Throttled),
            )
            .fail_before(StoreMethod::BeginRun | StoreMethod::FinishRun, 1.0);
        let store = FaultyStore::new(Arc::new(counting.clone()), faults);
        let error = commit(&store, Uuid::from_u128(1), SessionVersion::EMPTY)
            .await
            .unwrap_err();
        assert_eq!(error.kind(), SessionErrorKind::Throttled);
        assert!(error.is_retryable() && !error.maybe_applied(), "{error}");
        let session = session();
        let trace = Reasoning::start("hi", Some(session.to_string()));
        let error = store
            .begin_run(&session, &trace, Duration::ZERO)
            .await
            .unwrap_err();
        assert!(error.is_retryable() && !error.maybe_applied(), "{error}");
        let error = store.finish_run(&session, None, &trace).await.unwrap_err();
        assert!(error.is_retryable(), "{error}");
        // The store never saw those calls, and holds nothing.
        assert_eq!(counting.calls().total(), 0);
        let head = counting.inner().head(&session).await.unwrap();
        assert!(!head.exists());
        assert!(
            counting
                .inner()
                .latest_run(&session)
                .await
                .unwrap()
                .is_none()
        );
        let injected = store.injected();
        assert_eq!(injected.of_methods(StoreMethods::WRITES).failed_before, 3);
        // The next commit is not scripted and goes through.
        commit(&store, Uuid::from_u128(1), SessionVersion::EMPTY)
            .await
            .unwrap();
        assert_eq!(counting.calls().of("commit"), 1);
    }

    #[tokio::test(start_paused = true)]
    async fn delays_and_reorders_run_on_tokios_clock() {
        let faults = FaultInjector::new(3)
            .script(StoreMethod::Head, 1, Fault::Delay(Duration::from_secs(5)))
            .script(
                StoreMethod::BeginRun,
                1,
                Fault::Reorder(Duration::from_millis(10)),
            );
        let store = FaultyStore::new(Arc::new(InMemorySessionStore::new()), faults);
        let session = session();
        let started = tokio::time::Instant::now();
        store.head(&session).await.unwrap();
        assert_eq!(started.elapsed(), Duration::from_secs(5));
        // Two concurrent calls: the first is applied first, but completes last.
        let started = tokio::time::Instant::now();
        let timed = async |n: u8| {
            // Two runs: a begin repeated for the same run would be recognised as one.
            let trace = Reasoning::start("hi", Some(session.to_string()));
            let lease = store
                .begin_run(&session, &trace, Duration::ZERO)
                .await
                .unwrap();
            (n, lease.run, started.elapsed())
        };
        let (first, second) = tokio::join!(timed(1), timed(2));
        assert_eq!(first, (1, 1, Duration::from_millis(10)));
        assert_eq!(second, (2, 2, Duration::ZERO));
        let injected = store.injected().total();
        assert_eq!((injected.delayed, injected.reordered), (1, 1));
    }

    #[tokio::test(start_paused = true)]
    async fn followers_waits_are_delayed_but_never_failed() {
        let faults = FaultInjector::new(4)
            .fail_before(StoreMethods::ALL, 1.0)
            .drop_response(StoreMethods::ALL, 1.0)
            .delay(
                StoreMethod::WaitForChanges,
                1.0,
                Duration::from_secs(2)..=Duration::from_secs(2),
            )
            .script(
                StoreMethod::WaitForChanges,
                2,
                Fault::FailBefore(SessionErrorKind::Unavailable),
            );
        let store = FaultyStore::new(Arc::new(InMemorySessionStore::new()), faults);
        let session = session();
        assert!(store.head(&session).await.is_err(), "reads do fail");
        let started = tokio::time::Instant::now();
        store
            .wait_for_changes(&session, Duration::from_secs(1))
            .await;
        // Delayed two seconds, then waited its second for a change.
        assert_eq!(started.elapsed(), Duration::from_secs(3));
        store
            .wait_for_changes(&session, Duration::from_secs(1))
            .await;
        // The scripted failure was ignored: the wait still waited.
        assert_eq!(started.elapsed(), Duration::from_secs(4));
        let waits = store.injected().of(StoreMethod::WaitForChanges);
        assert_eq!((waits.calls, waits.delayed, waits.failures()), (2, 1, 0));
    }

    #[tokio::test(start_paused = true)]
    async fn rates_are_honoured_and_every_fault_is_counted() {
        let faults = FaultInjector::new(5)
            .fail_before(StoreMethods::READS, 0.25)
            .drop_response(StoreMethod::Head, 0.1);
        let store = FaultyStore::new(Arc::new(InMemorySessionStore::new()), faults);
        let session = session();
        let mut kinds = Vec::new();
        for _ in 0..2000 {
            if let Err(error) = store.head(&session).await {
                assert!(error.is_retryable(), "{error}");
                assert!(!error.maybe_applied(), "a read is not applied: {error}");
                kinds.push(error.kind());
            }
        }
        let heads = store.injected().of(StoreMethod::Head);
        assert_eq!(heads.calls, 2000);
        assert_eq!(heads.failures(), kinds.len() as u64);
        assert!((400..600).contains(&heads.failed_before), "{heads:?}");
        // A tenth of the calls that were not failed before lost their response.
        assert!((100..200).contains(&heads.dropped_responses), "{heads:?}");
        assert!(kinds.contains(&SessionErrorKind::Throttled));
        assert!(kinds.contains(&SessionErrorKind::Unavailable));
        assert_eq!(store.injected().of(StoreMethod::Commit).calls, 0);
    }

    #[test]
    fn method_sets() {
        assert!(StoreMethods::READS.contains(StoreMethod::ListSessions));
        assert!(!StoreMethods::READS.contains(StoreMethod::Commit));
        assert!(StoreMethods::WRITES.contains(StoreMethod::Delete));
        assert!(!StoreMethods::WRITES.contains(StoreMethod::WaitForChanges));
        assert_eq!(
            StoreMethods::READS | StoreMethods::WRITES | StoreMethod::WaitForChanges,
            StoreMethods::ALL
        );
        assert_eq!(StoreMethods::ALL.iter().count(), StoreMethod::ALL.len());
        let pair = StoreMethod::Commit | StoreMethod::Head;
        assert_eq!(
            pair.iter().collect::<Vec<_>>(),
            [StoreMethod::Head, StoreMethod::Commit]
        );
        assert_eq!(format!("{pair:?}"), r#"{"head", "commit"}"#);
    }
}
