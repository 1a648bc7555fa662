//! Request ids and access logs: every request runs in a `request` span carrying its id (taken
//! from a well-formed `X-Request-Id` header, or a new UUIDv7), and the id is echoed back.
//! Only method, path, status and latency are logged: never headers, query strings or bodies.

use std::time::Instant;

use actix_web::body::MessageBody;
use actix_web::dev::{ServiceRequest, ServiceResponse};
use actix_web::http::header::{HeaderName, HeaderValue};
use actix_web::middleware::Next;
use tracing::Instrument;

pub const REQUEST_ID: HeaderName = HeaderName::from_static("x-request-id");

/// The id of the request being served (in the request's extensions).
#[derive(Debug, Clone)]
pub struct RequestId(pub String);

pub async fn request_context(
    req: ServiceRequest,
    next: Next<impl MessageBody + 'static>,
) -> Result<ServiceResponse<impl MessageBody>, actix_web::Error> {
    let request_id = req
        .headers()
        .get(&REQUEST_ID)
        .and_then(|v| v.to_str().ok())
        .filter(|v| !v.is_empty() && v.len() <= 64 && v.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-'))
        .map(str::to_owned)
        .unwrap_or_else(|| uuid::Uuid::now_v7().to_string());
    let span = tracing::info_span!(
        "request",
        request_id = %request_id,
        method = %req.method(),
        path = %req.path(),
    );
    let started = Instant::now();
    actix_web::HttpMessage::extensions_mut(&req).insert(RequestId(request_id.clone()));
    if has_nul(&req) {
        let problem = crate::error::AppError::BadRequest {
            detail: "the URL contains a NUL character".into(),
            errors: Vec::new(),
        };
        let response = actix_web::ResponseError::error_response(&problem);
        return Ok(req.into_response(response).map_into_right_body());
    }
    // The route template is looked up only when metrics are on.
    let (method, route) = (
        req.method().clone(),
        crate::metrics::enabled().then(|| req.match_pattern()),
    );
    let result = next.call(req).instrument(span.clone()).await;
    let _entered = span.enter();
    match result {
        Ok(mut res) => {
            if let Some(route) = route {
                let route = route.unwrap_or_else(|| "unmatched".to_owned());
                crate::metrics::http_request(method.as_str(), route, res.status().as_u16(), started.elapsed());
            }
            tracing::info!(
                status = res.status().as_u16(),
                latency_us = started.elapsed().as_micros() as u64,
                "request finished"
            );
            if let Ok(value) = HeaderValue::from_str(&request_id) {
                res.headers_mut().insert(REQUEST_ID, value);
            }
            Ok(res.map_into_left_body())
        }
        Err(e) => {
            tracing::warn!(error = %e, "request failed before a response");
            Err(e)
        }
    }
}

/// The client's address for throttling: the TCP peer, or, when the peer is a trusted proxy,
/// the nearest untrusted address in `X-Forwarded-For`. IPv6 addresses are grouped by /64 (one
/// host usually holds a whole /64).
pub fn client_address(req: &actix_web::HttpRequest, trusted_proxies: &[std::net::IpAddr]) -> String {
    use std::net::IpAddr;
    let mut address = req.peer_addr().map(|a| a.ip());
    if address.is_some_and(|peer| trusted_proxies.contains(&peer)) {
        let forwarded: Vec<IpAddr> = req
            .headers()
            .get_all("x-forwarded-for")
            .filter_map(|v| v.to_str().ok())
            .flat_map(|v| v.split(','))
            .filter_map(|part| part.trim().parse().ok())
            .collect();
        if let Some(client) = forwarded.iter().rev().find(|ip| !trusted_proxies.contains(ip)) {
            address = Some(*client);
        }
    }
    match address {
        Some(IpAddr::V6(v6)) => match v6.to_ipv4_mapped() {
            Some(v4) => v4.to_string(),
            None => {
                let s = v6.segments();
                format!("{:x}:{:x}:{:x}:{:x}::/64", s[0], s[1], s[2], s[3])
            }
        },
        Some(ip) => ip.to_string(),
        None => "unknown".into(),
    }
}

/// PostgreSQL cannot store the NUL character in text, so a NUL anywhere in the URL is refused
/// here, once for every route (the JSON extractor refuses it in bodies).
pub fn has_nul(req: &ServiceRequest) -> bool {
    req.path().contains("%00") || req.query_string().contains("%00") || req.path().contains('\0')
}

#[cfg(test)]
mod tests {
    use super::*;
    use actix_web::test::TestRequest;

    #[test]
    fn the_client_is_the_peer_unless_the_peer_is_a_trusted_proxy() {
        let proxy: std::net::IpAddr = "10.0.0.1".parse().unwrap();
        let direct = TestRequest::default()
            .peer_addr("192.0.2.7:5000".parse().unwrap())
            .insert_header(("x-forwarded-for", "203.0.113.9"))
            .to_http_request();
        assert_eq!(client_address(&direct, &[proxy]), "192.0.2.7");
        let proxied = TestRequest::default()
            .peer_addr("10.0.0.1:5000".parse().unwrap())
            .insert_header(("x-forwarded-for", "198.51.100.1, 203.0.113.9, 10.0.0.1"))
            .to_http_request();
        // The nearest address the trusted proxy saw, not whatever the client claimed first.
        assert_eq!(client_address(&proxied, &[proxy]), "203.0.113.9");
        let v6 = TestRequest::default()
            .peer_addr("[2001:db8:1:2:3:4:5:6]:443".parse().unwrap())
            .to_http_request();
        assert_eq!(client_address(&v6, &[]), "2001:db8:1:2::/64");
    }
}
