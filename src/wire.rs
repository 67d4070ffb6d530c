//! Decoding a JSON object through a flat "wire" struct, then checking it into the real type.
//!
//! Why not serde's `#[serde(flatten)]` or an internally tagged enum: both buffer every input into
//! serde's private `Content` tree first, which costs tens of KB of wasm per type. A wire struct
//! has every field of every variant as an `Option` and `deny_unknown_fields`; its `finish` picks
//! the variant from the tag and refuses fields of another variant, so the accepted inputs and
//! their strictness stay those of the derived enum.

use serde::de::{self, MapAccess, Visitor, value::MapAccessDeserializer};
use std::fmt;
use std::marker::PhantomData;

/// A flat wire form of a type that decodes from a JSON object.
pub(crate) trait Wire<'de>: serde::Deserialize<'de> {
    /// The checked type.
    type Output;
    /// Why a wire value is not a valid `Output` (the message of the decode error).
    type Error: fmt::Display;
    /// What the decoder expected, for serde's messages (`"struct RuleSpec"`).
    const EXPECTING: &'static str;
    /// The checked value.
    fn finish(self) -> Result<Self::Output, Self::Error>;
}

/// Decodes `W::Output` from a JSON object only (a derived struct would take an array too).
pub(crate) fn deserialize_object<'de, D, W>(deserializer: D) -> Result<W::Output, D::Error>
where
    D: serde::Deserializer<'de>,
    W: Wire<'de>,
{
    struct ObjectVisitor<W>(PhantomData<W>);

    impl<'de, W: Wire<'de>> Visitor<'de> for ObjectVisitor<W> {
        type Value = W::Output;

        fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
            f.write_str(W::EXPECTING)
        }

        fn visit_map<A: MapAccess<'de>>(self, map: A) -> Result<W::Output, A::Error> {
            W::deserialize(MapAccessDeserializer::new(map))?.finish().map_err(de::Error::custom)
        }
    }

    deserializer.deserialize_map(ObjectVisitor::<W>(PhantomData))
}
