//! The OpenAPI 3.1 document, generated from the handlers' annotations; docs/openapi.json is this
//! document, and a test keeps the two equal (`npp serve --print-openapi` writes it).

use utoipa::openapi::security::{HttpAuthScheme, HttpBuilder, SecurityScheme};
use utoipa::{Modify, OpenApi};

use crate::console_routes;
use crate::deliver::WebhookBody;
use crate::intent::{CreatePayment, PartyRequest};
use crate::problem::ProblemBody;
use crate::routes;
use crate::views::{
    ApprovalResult, ApprovalView, AttemptView, CallerView, FundsView, OperatorQueue,
    OperatorRequestList, OperatorRequestView, PartyView, PaymentPage, PaymentSummary, PaymentView,
    QueueItem, RailFactView, RailMessageView, Readiness, StatsSample, StatsView, TimelineEvent,
    TimelineView, VerificationView,
};
use crate::webhook_routes;

struct Bearer;

impl Modify for Bearer {
    fn modify(&self, openapi: &mut utoipa::openapi::OpenApi) {
        let components = openapi.components.get_or_insert_with(Default::default);
        components.add_security_scheme(
            "bearer",
            SecurityScheme::Http(
                HttpBuilder::new()
                    .scheme(HttpAuthScheme::Bearer)
                    .description(Some("An API key's token, from `npp keys add`"))
                    .build(),
            ),
        );
    }
}

#[derive(OpenApi)]
#[openapi(
    info(
        title = "npp orchestrator API",
        description = "Payments on the NPP for Australian credit unions: channels create \
                       payments, operators resolve stuck ones under maker-checker, auditors \
                       take evidence packs. Errors are RFC 9457 problem details.",
        license(name = "Apache-2.0"),
    ),
    paths(
        routes::create_payment,
        routes::list_payments,
        routes::get_payment,
        routes::payment_events,
        routes::payment_evidence,
        console_routes::timeline,
        console_routes::verify,
        console_routes::stats,
        console_routes::me,
        routes::operator_queue,
        routes::create_request,
        routes::list_requests,
        routes::get_request,
        routes::approve,
        routes::reject,
        webhook_routes::create_endpoint,
        webhook_routes::list_endpoints,
        webhook_routes::delete_endpoint,
        webhook_routes::list_deliveries,
        webhook_routes::redeliver,
        routes::healthz,
        routes::readyz,
        routes::metrics,
        routes::openapi,
    ),
    components(schemas(
        CreatePayment, PartyRequest, PaymentView, PartyView, AttemptView, PaymentPage,
        PaymentSummary, OperatorRequestView, ApprovalView, ApprovalResult, OperatorRequestList,
        OperatorQueue, QueueItem, Readiness, ProblemBody, routes::CreateRequest, routes::RejectRequest,
        webhook_routes::CreateEndpoint, webhook_routes::EndpointView, webhook_routes::EndpointList,
        webhook_routes::DeliveryView, webhook_routes::DeliveryPage, WebhookBody,
        StatsView, StatsSample, TimelineView, TimelineEvent, RailFactView, RailMessageView,
        FundsView, VerificationView, CallerView,
    )),
    modifiers(&Bearer),
    tags(
        (name = "payments", description = "Create and follow payments"),
        (name = "operators", description = "The operator queue and maker-checker requests"),
        (name = "webhooks", description = "Endpoints that hear of payment state changes, and their deliveries"),
        (name = "operations", description = "Health, readiness, metrics, this document"),
    )
)]
struct ApiDoc;

/// The document, as pretty JSON with a final newline (as docs/openapi.json is committed).
pub fn document() -> String {
    let mut text = ApiDoc::openapi()
        .to_pretty_json()
        .unwrap_or_else(|e| format!("{{\"error\": \"{e}\"}}"));
    text.push('\n');
    text
}
