//! A free-form YAML value (a step's `with:`) that remembers where each part came from.

use std::fmt;

use serde::de::{self, Deserialize, Deserializer, MapAccess, SeqAccess, Visitor};
use serde_saphyr::Spanned;

use super::error::Pos;

/// A YAML value with its position; maps keep their order.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct Node {
    pub pos: Pos,
    pub value: NodeValue,
}

/// The value part of a [`Node`].
#[derive(Debug, Clone, PartialEq)]
pub(crate) enum NodeValue {
    Null,
    Bool(bool),
    Int(i64),
    Float(f64),
    String(String),
    List(Vec<Node>),
    Map(Vec<(String, Node)>),
}

impl Node {
    /// An empty map at `pos` (a step without `with:`).
    pub(crate) fn empty_map(pos: Pos) -> Self {
        Self {
            pos,
            value: NodeValue::Map(Vec::new()),
        }
    }

    /// The entries when this is a map.
    pub(crate) fn entries(&self) -> Option<&[(String, Node)]> {
        match &self.value {
            NodeValue::Map(entries) => Some(entries),
            _ => None,
        }
    }

    /// Every string leaf with its position, depth first (templates live there).
    pub(crate) fn strings(&self) -> Vec<(&str, Pos)> {
        let mut out = Vec::new();
        self.collect_strings(&mut out);
        out
    }

    fn collect_strings<'a>(&'a self, out: &mut Vec<(&'a str, Pos)>) {
        match &self.value {
            NodeValue::String(s) => out.push((s, self.pos)),
            NodeValue::List(items) => items.iter().for_each(|n| n.collect_strings(out)),
            NodeValue::Map(entries) => entries.iter().for_each(|(_, n)| n.collect_strings(out)),
            _ => {}
        }
    }

    /// Converts to JSON, passing every string leaf through `render`.
    pub(crate) fn to_json<E>(
        &self,
        render: &mut impl FnMut(&str, Pos) -> Result<serde_json::Value, E>,
    ) -> Result<serde_json::Value, E> {
        use serde_json::Value;
        Ok(match &self.value {
            NodeValue::Null => Value::Null,
            NodeValue::Bool(b) => Value::Bool(*b),
            NodeValue::Int(i) => Value::from(*i),
            NodeValue::Float(f) => Value::from(*f),
            NodeValue::String(s) => render(s, self.pos)?,
            NodeValue::List(items) => Value::Array(
                items
                    .iter()
                    .map(|n| n.to_json(render))
                    .collect::<Result<_, E>>()?,
            ),
            NodeValue::Map(entries) => {
                let mut map = serde_json::Map::new();
                for (k, n) in entries {
                    map.insert(k.clone(), n.to_json(render)?);
                }
                Value::Object(map)
            }
        })
    }
}

impl<'de> Deserialize<'de> for Node {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let spanned = Spanned::<NodeValue>::deserialize(deserializer)?;
        Ok(Node {
            pos: spanned.referenced.into(),
            value: spanned.value,
        })
    }
}

impl<'de> Deserialize<'de> for NodeValue {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        deserializer.deserialize_any(NodeVisitor)
    }
}

struct NodeVisitor;

impl<'de> Visitor<'de> for NodeVisitor {
    type Value = NodeValue;

    fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
        f.write_str("a YAML value")
    }
    fn visit_unit<E: de::Error>(self) -> Result<NodeValue, E> {
        Ok(NodeValue::Null)
    }
    fn visit_none<E: de::Error>(self) -> Result<NodeValue, E> {
        Ok(NodeValue::Null)
    }
    fn visit_bool<E: de::Error>(self, v: bool) -> Result<NodeValue, E> {
        Ok(NodeValue::Bool(v))
    }
    fn visit_i64<E: de::Error>(self, v: i64) -> Result<NodeValue, E> {
        Ok(NodeValue::Int(v))
    }
    fn visit_u64<E: de::Error>(self, v: u64) -> Result<NodeValue, E> {
        i64::try_from(v)
            .map(NodeValue::Int)
            .map_err(|_| E::custom("integer too large"))
    }
    fn visit_f64<E: de::Error>(self, v: f64) -> Result<NodeValue, E> {
        Ok(NodeValue::Float(v))
    }
    fn visit_str<E: de::Error>(self, v: &str) -> Result<NodeValue, E> {
        Ok(NodeValue::String(v.to_string()))
    }
    fn visit_string<E: de::Error>(self, v: String) -> Result<NodeValue, E> {
        Ok(NodeValue::String(v))
    }
    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<NodeValue, A::Error> {
        let mut items = Vec::new();
        while let Some(item) = seq.next_element::<Node>()? {
            items.push(item);
        }
        Ok(NodeValue::List(items))
    }
    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<NodeValue, A::Error> {
        let mut entries: Vec<(String, Node)> = Vec::new();
        while let Some((key, value)) = map.next_entry::<String, Node>()? {
            if entries.iter().any(|(k, _)| *k == key) {
                return Err(de::Error::custom(format!("duplicate key `{key}`")));
            }
            entries.push((key, value));
        }
        Ok(NodeValue::Map(entries))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keeps_positions_of_nested_values() {
        let node: Node = serde_saphyr::from_str("a: 1\nb:\n  - x\n  - {c: \"y\"}\n").unwrap();
        let strings = node.strings();
        assert_eq!(strings[0], ("x", Pos::new(3, 5)));
        assert_eq!(strings[1].0, "y");
        assert_eq!(strings[1].1.line, 4);
    }

    #[test]
    fn converts_to_json_through_the_renderer() {
        let node: Node = serde_saphyr::from_str("n: 2\ns: hi\nl: [true, ~]\n").unwrap();
        let json = node
            .to_json(&mut |s, _| Ok::<_, ()>(serde_json::Value::from(s.to_uppercase())))
            .unwrap();
        assert_eq!(
            json,
            serde_json::json!({"n": 2, "s": "HI", "l": [true, null]})
        );
    }
}
