//! The resource types the world's controllers touch, found by API discovery: (group, plural) and
//! (group, kind) to the `ApiResource` kube-rs needs, and whether the type is namespaced.
use std::collections::HashMap;

use kube::discovery::{ApiCapabilities, ApiResource, Discovery, Scope};
use kube::Client;

use super::error::ApiError;

#[derive(Clone, Debug)]
pub struct ResourceType {
    pub ar: ApiResource,
    pub namespaced: bool,
}

#[derive(Default)]
pub struct Resources {
    by_plural: HashMap<(String, String), ResourceType>,
    by_kind: HashMap<(String, String), ResourceType>,
    /// Every served type (for a dump of everything).
    pub listable: Vec<ResourceType>,
}

impl Resources {
    /// Every served type (the preferred version of each group).
    pub async fn discover(client: &Client) -> Result<Resources, ApiError> {
        let discovery = Discovery::new(client.clone()).run().await?;
        let mut r = Resources::default();
        for group in discovery.groups() {
            for (ar, caps) in group.recommended_resources() {
                r.add(ar, &caps);
            }
        }
        Ok(r)
    }

    fn add(&mut self, ar: ApiResource, caps: &ApiCapabilities) {
        let t = ResourceType {
            namespaced: caps.scope == Scope::Namespaced,
            ar,
        };
        self.by_plural
            .insert((t.ar.group.clone(), t.ar.plural.clone()), t.clone());
        self.by_kind
            .insert((t.ar.group.clone(), t.ar.kind.clone()), t.clone());
        self.listable.push(t);
    }

    pub fn by_plural(&self, group: &str, plural: &str) -> Option<&ResourceType> {
        self.by_plural.get(&(group.to_string(), plural.to_string()))
    }

    pub fn by_kind(&self, group: &str, kind: &str) -> Option<&ResourceType> {
        self.by_kind.get(&(group.to_string(), kind.to_string()))
    }
}
