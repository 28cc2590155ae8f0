//! Webhook endpoints: who subscribed to which payment states, held in the store (one
//! `webhook-<id>` stream per endpoint), and the [`Announce`] that commits one outbox message
//! per (endpoint, payment event) in the same append as the event. `deliver` sends them.

use std::collections::BTreeMap;
use std::sync::{PoisonError, RwLock};

use hmac::{Hmac, KeyInit, Mac};
use serde::{Deserialize, Serialize};
use sha2::Sha256;

use app_ops::{Announce, Announcement, AppError, Clock};
use core_npp::{OperatorId, PaymentIntentId, PaymentState, Timestamp};
use event_store::{
    AppendOutcome, AppendRequest, EventStore, NewEvent, OutboxMessage, RecordedEvent, StoreError,
    StreamId, StreamKind, streams_of,
};

use crate::keys::hex;
use crate::problem::Problem;

/// The outbox destinations of webhook deliveries start with this: `webhook:ENDPOINT`, one per
/// endpoint, so that each endpoint's deliveries are claimed (and held up) on their own.
pub const WEBHOOK_DESTINATION: &str = "webhook";

/// The outbox destination of deliveries to `endpoint`.
pub fn destination(endpoint: &str) -> String {
    format!("{WEBHOOK_DESTINATION}:{endpoint}")
}
/// The most endpoints a deployment may have: each adds an outbox row to every event it hears.
pub const MAX_WEBHOOK_ENDPOINTS: usize = 32;
/// The longest endpoint URL, in bytes.
pub const MAX_WEBHOOK_URL_BYTES: usize = 2_048;
/// What `events` holds to hear every state.
pub const ALL_EVENTS: &str = "*";
/// The header a delivery's signature travels in.
pub const SIGNATURE_HEADER: &str = "Npp-Signature";
/// Random bytes in an endpoint's id and in its secret.
const ID_BYTES: usize = 8;
const SECRET_BYTES: usize = 32;
/// The prefix of endpoint ids and of secrets.
const ID_PREFIX: &str = "we_";
const SECRET_PREFIX: &str = "whsec_";

/// What an endpoint's stream records.
#[derive(Clone, PartialEq, Eq, Debug, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub enum WebhookEvent {
    /// An admin subscribed `url` to `events` (state names, or `*`).
    EndpointCreated {
        /// The endpoint's id.
        endpoint_id: String,
        /// Where deliveries go.
        url: String,
        /// The states it hears of.
        events: Vec<String>,
        /// Its signing secret.
        secret: String,
        /// The admin who subscribed it.
        created_by: String,
    },
    /// An admin removed it: nothing more is announced to it.
    EndpointRemoved {
        /// The admin.
        removed_by: String,
    },
    /// An operator asked for a delivery to be sent again.
    RedeliveryRequested {
        /// The delivery.
        delivery_id: String,
        /// The operator.
        requested_by: String,
    },
}

impl WebhookEvent {
    const fn name(&self) -> &'static str {
        match self {
            WebhookEvent::EndpointCreated { .. } => "WebhookEndpointCreated",
            WebhookEvent::EndpointRemoved { .. } => "WebhookEndpointRemoved",
            WebhookEvent::RedeliveryRequested { .. } => "WebhookRedeliveryRequested",
        }
    }
}

const EVENT_SCHEMA_VERSION: u16 = 1;

fn decode(recorded: &RecordedEvent) -> Result<WebhookEvent, String> {
    let recorded = recorded.event();
    if recorded.schema_version() != EVENT_SCHEMA_VERSION {
        return Err(format!(
            "unknown schema version {}",
            recorded.schema_version()
        ));
    }
    let event: WebhookEvent =
        serde_json::from_str(recorded.payload()).map_err(|e| e.to_string())?;
    if event.name() == recorded.event_type() {
        Ok(event)
    } else {
        Err(format!(
            "event type {} holds a {}",
            recorded.event_type(),
            event.name()
        ))
    }
}

/// Which states an endpoint hears of.
#[derive(Clone, PartialEq, Eq, Debug)]
pub enum Interest {
    /// Every state.
    All,
    /// These states.
    States(Vec<PaymentState>),
}

impl Interest {
    /// Parses `events` as the API takes it: 1 to 8 entries, each a state name or `*`.
    pub fn parse(events: &[String]) -> Result<Self, String> {
        if events.is_empty() || events.len() > PaymentState::ALL.len() + 1 {
            return Err(format!(
                "events holds 1 to {} entries (state names or \"*\"), not {}",
                PaymentState::ALL.len() + 1,
                events.len()
            ));
        }
        if events.iter().any(|e| e == ALL_EVENTS) {
            return Ok(Interest::All);
        }
        let mut states = Vec::new();
        for (index, name) in events.iter().enumerate() {
            let state = PaymentState::ALL
                .into_iter()
                .find(|s| s.name() == name)
                .ok_or_else(|| {
                    format!(
                        "events[{index}]: {name:?} is not \"*\" or a state ({})",
                        state_names()
                    )
                })?;
            if !states.contains(&state) {
                states.push(state);
            }
        }
        Ok(Interest::States(states))
    }

    fn hears(&self, state: PaymentState) -> bool {
        match self {
            Interest::All => true,
            Interest::States(states) => states.contains(&state),
        }
    }
}

fn state_names() -> String {
    PaymentState::ALL.map(PaymentState::name).join(", ")
}

/// A live endpoint.
#[derive(Clone, PartialEq, Eq, Debug)]
pub struct Endpoint {
    /// Its id.
    pub id: String,
    /// Where deliveries go.
    pub url: String,
    /// The states as the admin gave them.
    pub events: Vec<String>,
    /// Which states it hears of.
    pub interest: Interest,
    /// Its signing secret.
    pub secret: String,
    /// Who subscribed it.
    pub created_by: String,
    /// When.
    pub created_at: Timestamp,
}

/// Checks an endpoint URL: absolute `http://`, a host, at most [`MAX_WEBHOOK_URL_BYTES`].
pub fn check_url(raw: &str) -> Result<reqwest::Url, String> {
    if raw.len() > MAX_WEBHOOK_URL_BYTES {
        return Err(format!(
            "url is {} bytes; the most is {MAX_WEBHOOK_URL_BYTES}",
            raw.len()
        ));
    }
    let url = reqwest::Url::parse(raw).map_err(|e| format!("url {raw:?} is not a URL: {e}"))?;
    match url.scheme() {
        "http" => {}
        "https" => {
            return Err(
                "url: this server delivers over http only (no TLS client is built in yet); \
                 put a TLS-terminating proxy on loopback and subscribe its http URL"
                    .to_owned(),
            );
        }
        other => return Err(format!("url scheme {other:?} is not http")),
    }
    if url.host_str().is_none_or(str::is_empty) {
        return Err(format!("url {raw:?} has no host"));
    }
    if !url.username().is_empty() || url.password().is_some() {
        return Err("url must not carry credentials; the signature authenticates us".to_owned());
    }
    Ok(url)
}

/// Separates the parts of a delivery id: `~` is in neither an endpoint id nor a payment id
/// (which may hold `:`), so one payment's prefix never matches another's, and it needs no
/// escaping in a URL path.
const SEPARATOR: char = '~';

/// The delivery of `payment`'s event at `version` to `endpoint` (its outbox message id),
/// `wh~ENDPOINT~PAYMENT~VERSION`: versions zero-padded, so one payment's deliveries to one
/// endpoint sort in version order.
pub fn delivery_id(endpoint: &str, payment: PaymentIntentId, version: u32) -> String {
    format!("wh{SEPARATOR}{endpoint}{SEPARATOR}{payment}{SEPARATOR}{version:010}")
}

/// The endpoint a delivery id names.
pub fn delivery_endpoint(id: &str) -> Option<&str> {
    let mut parts = id.split(SEPARATOR);
    (parts.next() == Some("wh")).then(|| parts.next()).flatten()
}

/// The group a delivery id belongs to (all but its version): one payment and one endpoint.
pub fn delivery_group(id: &str) -> &str {
    id.rsplit_once(SEPARATOR).map_or(id, |(group, _)| group)
}

/// The prefix every delivery of `payment` to `endpoint` shares.
pub fn delivery_prefix(endpoint: &str, payment: PaymentIntentId) -> String {
    format!("wh{SEPARATOR}{endpoint}{SEPARATOR}{payment}{SEPARATOR}")
}

/// What a delivery's outbox message holds: enough to find the event and list the delivery.
#[derive(Clone, PartialEq, Eq, Debug, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct DeliveryNote {
    /// The endpoint.
    pub endpoint_id: String,
    /// The payment.
    pub payment_id: PaymentIntentId,
    /// The event's stream version.
    pub version: u32,
    /// The event's type (`PaymentSettled`, ...).
    #[serde(rename = "type")]
    pub kind: String,
    /// The payment's state after it.
    pub state: String,
}

impl DeliveryNote {
    /// The event's id as receivers get it, `PAYMENT_ID:VERSION`: the same in every attempt.
    pub fn event_id(&self) -> String {
        format!("{}:{}", self.payment_id, self.version)
    }
}

/// `Npp-Signature`'s value for `body` sent at Unix second `t`: `t=T,v1=HEX`, HEX being
/// HMAC-SHA256 of `T.body` keyed with the endpoint's secret (its text, as shown at creation).
pub fn signature(secret: &str, t: i64, body: &[u8]) -> String {
    // HMAC takes a key of any length, so this never fails.
    let mac = <Hmac<Sha256> as KeyInit>::new_from_slice(secret.as_bytes()).map(|mut mac| {
        mac.update(t.to_string().as_bytes());
        mac.update(b".");
        mac.update(body);
        hex(&mac.finalize().into_bytes())
    });
    format!("t={t},v1={}", mac.unwrap_or_default())
}

fn random_hex(bytes: usize) -> Result<String, Problem> {
    crate::keys::random_hex(bytes)
        .map_err(|e| Problem::internal(format!("no randomness for an endpoint: {e}")))
}

/// The endpoints, as the store holds them; every change is recorded there first.
#[derive(Default)]
pub struct Webhooks {
    endpoints: RwLock<BTreeMap<String, Endpoint>>,
    /// Endpoints removed: their deliveries still pending are given up on.
    removed: RwLock<std::collections::BTreeSet<String>>,
    /// Held while the map is rebuilt from the store or changed with it, so a rebuild that read
    /// the store before a change cannot undo it.
    changes: std::sync::Mutex<()>,
}

impl Webhooks {
    /// The endpoints `store` holds.
    pub fn load(store: &dyn EventStore) -> Result<Self, StoreError> {
        let webhooks = Self::default();
        webhooks.refresh(store)?;
        Ok(webhooks)
    }

    /// Reads the endpoints again (another process sharing the store may have changed them).
    pub fn refresh(&self, store: &dyn EventStore) -> Result<(), StoreError> {
        let _changing = self.changing();
        let mut live = BTreeMap::new();
        let mut removed = std::collections::BTreeSet::new();
        for stream in streams_of(store, StreamKind::Webhook)? {
            match fold(&stream, &store.read_stream(&stream)?)? {
                Some(endpoint) => {
                    live.insert(endpoint.id.clone(), endpoint);
                }
                None => {
                    removed.extend(stream.key().map(str::to_owned));
                }
            }
        }
        *self.write() = live;
        *self.removed.write().unwrap_or_else(PoisonError::into_inner) = removed;
        Ok(())
    }

    fn changing(&self) -> std::sync::MutexGuard<'_, ()> {
        self.changes.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// Endpoint `id`, from memory or, when this process has not seen it yet (another server
    /// made it since the last refresh), from its stream; `None` when it does not exist or was
    /// removed.
    pub fn find(&self, store: &dyn EventStore, id: &str) -> Result<Option<Endpoint>, StoreError> {
        if let Some(endpoint) = self.get(id) {
            return Ok(Some(endpoint));
        }
        let Ok(stream) = StreamId::webhook(id) else {
            return Ok(None);
        };
        let _changing = self.changing();
        let found = fold(&stream, &store.read_stream(&stream)?)?;
        if let Some(endpoint) = &found {
            self.write().insert(endpoint.id.clone(), endpoint.clone());
        }
        Ok(found)
    }

    fn write(&self) -> std::sync::RwLockWriteGuard<'_, BTreeMap<String, Endpoint>> {
        self.endpoints
            .write()
            .unwrap_or_else(PoisonError::into_inner)
    }

    fn read(&self) -> std::sync::RwLockReadGuard<'_, BTreeMap<String, Endpoint>> {
        self.endpoints
            .read()
            .unwrap_or_else(PoisonError::into_inner)
    }

    /// Every endpoint ever made (live or removed), by id: whose deliveries there may be.
    pub fn known(&self) -> Vec<String> {
        let mut ids: Vec<String> = self.read().keys().cloned().collect();
        ids.extend(
            self.removed
                .read()
                .unwrap_or_else(PoisonError::into_inner)
                .iter()
                .cloned(),
        );
        ids.sort();
        ids.dedup();
        ids
    }

    /// Deliveries to every endpoint, in commit order: up to `limit` after position `after`, in
    /// `status` (any when `None`).
    pub fn deliveries(
        &self,
        store: &dyn EventStore,
        status: Option<event_store::OutboxStatus>,
        after: u64,
        limit: usize,
    ) -> Result<Vec<event_store::OutboxEntry>, StoreError> {
        let mut all = Vec::new();
        for endpoint in self.known() {
            let destination = destination(&endpoint);
            all.extend(store.list_outbox(&event_store::OutboxQuery {
                destination: &destination,
                id_prefix: "",
                status,
                after,
                limit,
                stream: None,
            })?);
        }
        all.sort_by_key(|e| e.position);
        all.truncate(limit);
        Ok(all)
    }

    /// The live endpoints, by id.
    pub fn list(&self) -> Vec<Endpoint> {
        self.read().values().cloned().collect()
    }

    /// One live endpoint.
    pub fn get(&self, id: &str) -> Option<Endpoint> {
        self.read().get(id).cloned()
    }

    /// Subscribes `url` to `events` for `by`: recorded, then live.
    pub fn create(
        &self,
        store: &dyn EventStore,
        clock: &dyn Clock,
        url: &str,
        events: Vec<String>,
        by: &OperatorId,
    ) -> Result<Endpoint, Problem> {
        check_url(url).map_err(|e| Problem::invalid("url", e))?;
        let interest = Interest::parse(&events).map_err(|e| Problem::invalid("events", e))?;
        let _changing = self.changing();
        if self.read().len() >= MAX_WEBHOOK_ENDPOINTS {
            return Err(Problem::new(
                axum::http::StatusCode::CONFLICT,
                "too-many-webhook-endpoints",
                "Too many webhook endpoints",
                format!("a deployment has at most {MAX_WEBHOOK_ENDPOINTS} endpoints; remove one"),
            ));
        }
        let endpoint = Endpoint {
            id: format!("{ID_PREFIX}{}", random_hex(ID_BYTES)?),
            url: url.to_owned(),
            events,
            interest,
            secret: format!("{SECRET_PREFIX}{}", random_hex(SECRET_BYTES)?),
            created_by: by.to_string(),
            created_at: clock.now(),
        };
        let event = WebhookEvent::EndpointCreated {
            endpoint_id: endpoint.id.clone(),
            url: endpoint.url.clone(),
            events: endpoint.events.clone(),
            secret: endpoint.secret.clone(),
            created_by: endpoint.created_by.clone(),
        };
        record(store, clock, &endpoint.id, 0, &event)?;
        self.write().insert(endpoint.id.clone(), endpoint.clone());
        Ok(endpoint)
    }

    /// Removes endpoint `id` for `by`; `false` when no live endpoint has that id.
    pub fn remove(
        &self,
        store: &dyn EventStore,
        clock: &dyn Clock,
        id: &str,
        by: &OperatorId,
    ) -> Result<bool, Problem> {
        let Ok(stream) = StreamId::webhook(id) else {
            return Ok(false);
        };
        let _changing = self.changing();
        let version = store.stream_version(&stream).map_err(Problem::from)?;
        let live = fold(&stream, &store.read_stream(&stream).map_err(Problem::from)?)
            .map_err(Problem::from)?;
        if live.is_none() {
            self.write().remove(id);
            return Ok(false);
        }
        let event = WebhookEvent::EndpointRemoved {
            removed_by: by.to_string(),
        };
        record(store, clock, id, version, &event)?;
        self.write().remove(id);
        self.removed
            .write()
            .unwrap_or_else(PoisonError::into_inner)
            .insert(id.to_owned());
        Ok(true)
    }

    /// Records that `by` asked for `delivery_id` (of endpoint `endpoint`) to be sent again.
    pub fn record_redelivery(
        &self,
        store: &dyn EventStore,
        clock: &dyn Clock,
        endpoint: &str,
        delivery_id: &str,
        by: &OperatorId,
    ) -> Result<(), Problem> {
        let stream = StreamId::webhook(endpoint).map_err(Problem::from)?;
        let event = WebhookEvent::RedeliveryRequested {
            delivery_id: delivery_id.to_owned(),
            requested_by: by.to_string(),
        };
        let appended = event_store::append_at_head(store, &stream, |version| {
            request(clock, &stream, version, &event)
        });
        appended.map(|_| ()).map_err(Problem::from)
    }
}

fn request(
    clock: &dyn Clock,
    stream: &StreamId,
    version: u32,
    event: &WebhookEvent,
) -> Result<AppendRequest, StoreError> {
    let payload =
        serde_json::to_string(event).map_err(|e| StoreError::InvalidAppend(e.to_string()))?;
    let event = NewEvent::new(event.name(), EVENT_SCHEMA_VERSION, clock.now(), payload)?;
    AppendRequest::new(stream.clone(), version, vec![event], clock.now())
}

fn record(
    store: &dyn EventStore,
    clock: &dyn Clock,
    id: &str,
    version: u32,
    event: &WebhookEvent,
) -> Result<(), Problem> {
    let stream = StreamId::webhook(id).map_err(Problem::from)?;
    match store.append(request(clock, &stream, version, event).map_err(Problem::from)?) {
        Ok(AppendOutcome::Committed(_)) => Ok(()),
        Ok(AppendOutcome::AlreadyApplied(_)) | Err(StoreError::Conflict { .. }) => {
            Err(Problem::new(
                axum::http::StatusCode::CONFLICT,
                "webhook-endpoint-changed",
                "The endpoint changed meanwhile",
                format!("endpoint {id} was changed by another request; read it and try again"),
            ))
        }
        Err(e) => Err(Problem::from(e)),
    }
}

/// The endpoint a stream describes, if it is live; corruption names the version at fault.
fn fold(stream: &StreamId, events: &[RecordedEvent]) -> Result<Option<Endpoint>, StoreError> {
    let corrupt = |version: u32, what: String| StoreError::Corrupt {
        stream: stream.clone(),
        version,
        what,
    };
    let mut endpoint = None;
    for recorded in events {
        let event = decode(recorded).map_err(|why| corrupt(recorded.version(), why))?;
        match (event, recorded.version()) {
            (
                WebhookEvent::EndpointCreated {
                    endpoint_id,
                    url,
                    events,
                    secret,
                    created_by,
                },
                1,
            ) => {
                let interest = Interest::parse(&events).map_err(|why| corrupt(1, why))?;
                endpoint = Some(Endpoint {
                    id: endpoint_id,
                    url,
                    events,
                    interest,
                    secret,
                    created_by,
                    created_at: recorded.event().occurred_at(),
                });
            }
            (WebhookEvent::EndpointCreated { .. }, version) => {
                return Err(corrupt(version, "an endpoint is created only once".into()));
            }
            (WebhookEvent::EndpointRemoved { .. }, _) => endpoint = None,
            (WebhookEvent::RedeliveryRequested { .. }, _) => {}
        }
    }
    Ok(endpoint)
}

/// `npp store verify`'s check of webhook streams: every event decodes and the stream folds.
pub struct WebhookCheck;

impl app_ops::StreamCheck for WebhookCheck {
    fn kind(&self) -> StreamKind {
        StreamKind::Webhook
    }

    fn check(&self, events: &[RecordedEvent]) -> Result<(), (u32, String)> {
        let Some(first) = events.first() else {
            return Ok(());
        };
        match fold(first.stream_id(), events) {
            Ok(_) => Ok(()),
            Err(StoreError::Corrupt { version, what, .. }) => Err((version, what)),
            Err(other) => Err((first.version(), other.to_string())),
        }
    }
}

impl Announce for Webhooks {
    fn messages(&self, event: &Announcement) -> Result<Vec<OutboxMessage>, AppError> {
        let endpoints = self.read();
        let mut messages = Vec::new();
        for endpoint in endpoints.values().filter(|e| e.interest.hears(event.state)) {
            let note = DeliveryNote {
                endpoint_id: endpoint.id.clone(),
                payment_id: event.payment,
                version: event.version,
                kind: event.kind.name().to_owned(),
                state: event.state.name().to_owned(),
            };
            let payload =
                serde_json::to_string(&note).map_err(|e| AppError::Unencodable(e.to_string()))?;
            let id = delivery_id(&endpoint.id, event.payment, event.version);
            messages.push(OutboxMessage::new(
                &id,
                &destination(&endpoint.id),
                payload,
            )?);
        }
        Ok(messages)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_signature_is_hmac_sha256_of_the_time_a_dot_and_the_body() {
        // The value Python's hmac.new(b"whsec_test", b'1700000000.{"a":1}', sha256) gives.
        assert_eq!(
            signature("whsec_test", 1_700_000_000, br#"{"a":1}"#),
            "t=1700000000,v1=38877139021993b830af32feea6e18a8da83eb2f6e49ee50bd9e4cf4ca4d3789"
        );
    }

    #[test]
    fn events_are_states_or_a_star() {
        let parse = |events: &[&str]| {
            Interest::parse(&events.iter().map(|e| (*e).to_owned()).collect::<Vec<_>>())
        };
        assert_eq!(parse(&["*"]), Ok(Interest::All));
        assert_eq!(
            parse(&["SETTLED", "FAILED", "SETTLED"]),
            Ok(Interest::States(vec![
                PaymentState::Settled,
                PaymentState::Failed
            ]))
        );
        assert!(parse(&[]).unwrap_err().contains("1 to 8 entries"));
        assert!(
            parse(&["SETTLED", "settled"])
                .unwrap_err()
                .starts_with("events[1]")
        );
    }

    #[test]
    fn urls_are_absolute_http_without_credentials() {
        assert!(check_url("http://127.0.0.1:9000/hook").is_ok());
        for (url, says) in [
            ("https://example.com/hook", "http only"),
            ("ftp://example.com/", "not http"),
            ("/relative", "not a URL"),
            ("http://user:pw@example.com/", "credentials"),
        ] {
            let error = check_url(url).unwrap_err();
            assert!(error.contains(says), "{url}: {error}");
        }
        let long = format!("http://example.com/{}", "a".repeat(MAX_WEBHOOK_URL_BYTES));
        assert!(check_url(&long).unwrap_err().contains("the most is 2048"));
    }

    #[test]
    fn delivery_ids_sort_in_version_order() {
        let payment = PaymentIntentId::parse("pay_1").unwrap();
        let ids: Vec<String> = [10, 9, 100]
            .into_iter()
            .map(|v| delivery_id("we_1", payment, v))
            .collect();
        let mut sorted = ids.clone();
        sorted.sort();
        assert_eq!(sorted, [ids[1].clone(), ids[0].clone(), ids[2].clone()]);
        assert!(ids[0].starts_with(&delivery_prefix("we_1", payment)));
        assert_eq!(delivery_group(&ids[0]), "wh~we_1~pay_1");
        // A payment id may hold `:`; its prefix still names it alone.
        let colon = PaymentIntentId::parse("order:1").unwrap();
        let order = PaymentIntentId::parse("order").unwrap();
        assert!(!delivery_id("we_1", colon, 1).starts_with(&delivery_prefix("we_1", order)));
    }
}
