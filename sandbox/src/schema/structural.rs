//! The structural view of an `openAPIV3Schema` (what pruning and defaulting walk) and the admission pipeline.

use std::collections::HashMap;
use std::fmt;
use std::sync::OnceLock;

use serde_json::Value;

use super::{defaults, prune, validate, AdmitError, Admitted, FieldValidation};

/// What an object schema says about keys not listed in `properties`.
#[derive(Debug, Default)]
pub(crate) enum Additional {
    /// Unknown keys are pruned.
    #[default]
    None,
    /// `additionalProperties: true`: any key, value kept as is.
    Any,
    /// `additionalProperties: {schema}`: any key, value follows the schema.
    Schema(Box<Node>),
}

/// One node of a structural schema: the parts pruning and defaulting need.
#[derive(Debug, Default)]
pub(crate) struct Node {
    pub properties: HashMap<String, Node>,
    pub items: Option<Box<Node>>,
    pub additional: Additional,
    pub preserve_unknown: bool,
    pub embedded: bool,
    pub nullable: bool,
    pub default: Option<Value>,
}

impl Node {
    fn parse(v: &Value) -> Result<Node, String> {
        let Some(obj) = v.as_object() else {
            return Err(format!("schema must be an object, got {v}"));
        };
        let flag = |k: &str| obj.get(k).and_then(Value::as_bool) == Some(true);
        let mut node = Node {
            preserve_unknown: flag("x-kubernetes-preserve-unknown-fields"),
            embedded: flag("x-kubernetes-embedded-resource"),
            nullable: flag("nullable"),
            default: obj.get("default").cloned(),
            ..Node::default()
        };
        if let Some(props) = obj.get("properties").and_then(Value::as_object) {
            for (k, p) in props {
                node.properties.insert(k.clone(), Node::parse(p)?);
            }
        }
        match obj.get("items") {
            Some(items @ Value::Object(_)) => node.items = Some(Box::new(Node::parse(items)?)),
            Some(Value::Array(_)) => return Err("tuple `items` are not structural".into()),
            _ => {}
        }
        node.additional = match obj.get("additionalProperties") {
            Some(Value::Bool(true)) => Additional::Any,
            Some(s @ Value::Object(_)) => Additional::Schema(Box::new(Node::parse(s)?)),
            _ => Additional::None,
        };
        Ok(node)
    }

    /// The schema of `key` in an object described by this node, if the key is allowed.
    pub fn child(&self, key: &str) -> Option<&Node> {
        match self.properties.get(key) {
            Some(n) => Some(n),
            None => match &self.additional {
                Additional::Schema(n) => Some(n),
                _ => None,
            },
        }
    }
}

/// A CRD version's `openAPIV3Schema`, ready to admit custom resources.
pub struct StructuralSchema {
    raw: Value,
    root: Node,
    validator: OnceLock<Result<jsonschema::Validator, String>>,
}

impl fmt::Debug for StructuralSchema {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("StructuralSchema")
            .field("compiled", &self.validator.get().is_some())
            .finish_non_exhaustive()
    }
}

impl StructuralSchema {
    /// Builds the structural view of an `openAPIV3Schema`; the validator is compiled on first use.
    pub fn new(open_api_v3_schema: Value) -> Result<StructuralSchema, String> {
        let root = Node::parse(&open_api_v3_schema)?;
        Ok(StructuralSchema {
            raw: open_api_v3_schema,
            root,
            validator: OnceLock::new(),
        })
    }

    /// The raw `openAPIV3Schema`, for serving `/openapi/v3`.
    pub fn openapi_v3(&self) -> &Value {
        &self.raw
    }

    /// Compiles the JSON Schema validator now rather than on the first [`admit`](Self::admit).
    pub fn compile(&self) -> Result<(), String> {
        self.validator().map(|_| ())
    }

    fn validator(&self) -> Result<&jsonschema::Validator, String> {
        self.validator
            .get_or_init(|| validate::compile(&self.raw))
            .as_ref()
            .map_err(Clone::clone)
    }

    /// Admits `object` as kube-apiserver does for a custom resource create/update:
    /// prune unknown fields (per `fv`), drop non-nullable nulls, apply defaults, validate.
    pub fn admit(&self, mut object: Value, fv: FieldValidation) -> Result<Admitted, AdmitError> {
        let mut unknown = prune::prune_root(&mut object, &self.root);
        unknown.sort();
        unknown.dedup();
        let warnings = match fv {
            FieldValidation::Strict if !unknown.is_empty() => {
                return Err(AdmitError::UnknownFields(unknown))
            }
            FieldValidation::Warn => unknown
                .iter()
                .map(|p| format!("unknown field \"{p}\""))
                .collect(),
            _ => Vec::new(),
        };
        defaults::prune_nulls(&mut object, &self.root);
        defaults::normalize_numbers(&mut object);
        defaults::apply(&mut object, &self.root);
        let validator = self.validator().map_err(|e| {
            AdmitError::Invalid(vec![super::Cause {
                reason: "InternalError".into(),
                message: format!("Internal error: cannot compile the schema: {e}"),
                field: String::new(),
            }])
        })?;
        let causes = validate::validate(validator, &object);
        if causes.is_empty() {
            Ok(Admitted { object, warnings })
        } else {
            Err(AdmitError::Invalid(causes))
        }
    }
}
