//! Lists: label and field selectors, and pages with `limit` and
//! `continue` tokens (which page through the current state).

use serde_json::Value;

use super::Cluster;
use crate::error::ApiError;
use crate::resources::ResourceType;
use crate::selectors::{FieldSelector, LabelSelector};

pub struct ListResult {
    pub items: Vec<Value>,
    pub rv: u64,
    pub continue_token: Option<String>,
    pub remaining: Option<usize>,
}

impl Cluster {
    pub fn list(
        &self,
        rt: &ResourceType,
        ns: Option<&str>,
        labels: &LabelSelector,
        fields: &FieldSelector,
        limit: Option<usize>,
        continue_token: Option<&str>,
    ) -> Result<ListResult, ApiError> {
        let state = self.lock();
        let start = match continue_token {
            Some(token) => Some(
                decode_continue(token)
                    .ok_or_else(|| ApiError::bad_request("invalid continue token"))?,
            ),
            None => None,
        };
        // Every match after the continue point, in key order; one more than
        // the limit tells whether another page follows.
        let matching: Vec<(&(String, String), &Value)> = state
            .objects
            .get(&rt.key())
            .into_iter()
            .flatten()
            .filter(|((object_ns, _), _)| !rt.namespaced || ns.is_none_or(|ns| ns == object_ns))
            .filter(|(k, _)| start.as_ref().is_none_or(|s| *k > s))
            .filter(|(_, object)| {
                labels.matches(object["metadata"]["labels"].as_object()) && fields.matches(object)
            })
            .collect();
        let take = limit.unwrap_or(matching.len()).min(matching.len());
        let items: Vec<Value> = matching[..take]
            .iter()
            .map(|(_, object)| (*object).clone())
            .collect();
        let rest = matching.len() - take;
        let (continue_token, remaining) = match (rest, take.checked_sub(1).map(|i| matching[i].0)) {
            (0, _) | (_, None) => (None, None),
            (rest, Some(last)) => (Some(encode_continue(last)), Some(rest)),
        };
        Ok(ListResult {
            items,
            rv: state.rv,
            continue_token,
            remaining,
        })
    }
}

fn encode_continue(key: &(String, String)) -> String {
    let raw = format!("{}\u{0}{}", key.0, key.1);
    raw.bytes().map(|b| format!("{b:02x}")).collect()
}

fn decode_continue(token: &str) -> Option<(String, String)> {
    if !token.len().is_multiple_of(2) {
        return None;
    }
    let bytes: Option<Vec<u8>> = (0..token.len())
        .step_by(2)
        .map(|i| u8::from_str_radix(token.get(i..i + 2)?, 16).ok())
        .collect();
    let raw = String::from_utf8(bytes?).ok()?;
    let (ns, name) = raw.split_once('\u{0}')?;
    Some((ns.to_owned(), name.to_owned()))
}
