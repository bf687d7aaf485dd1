//! What the protocol core needs to know about one attribute, and the narrow
//! trait through which filters, PATCH and resource parsing look attributes up.
//! The schema registry implements it; tests can implement it with a few lines.

/// RFC 7643 §2.3 data types.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AttrType {
    String,
    Boolean,
    Decimal,
    Integer,
    DateTime,
    Binary,
    Reference,
    Complex,
}

impl AttrType {
    /// RFC 7643 §2.3 spelling of the type, as `/Schemas` shows it.
    pub fn name(self) -> &'static str {
        match self {
            AttrType::String => "string",
            AttrType::Boolean => "boolean",
            AttrType::Decimal => "decimal",
            AttrType::Integer => "integer",
            AttrType::DateTime => "dateTime",
            AttrType::Binary => "binary",
            AttrType::Reference => "reference",
            AttrType::Complex => "complex",
        }
    }
}

/// RFC 7643 §7 `mutability`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Mutability {
    ReadOnly,
    ReadWrite,
    Immutable,
    WriteOnly,
}

/// RFC 7643 §7 `returned`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Returned {
    Always,
    Never,
    Default,
    Request,
}

/// The facts about one attribute (or sub-attribute) that protocol logic needs.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AttrMeta {
    /// The attribute's name as the schema spells it (`userName`, not `username`).
    pub name: String,
    pub kind: AttrType,
    pub multi_valued: bool,
    pub case_exact: bool,
    pub mutability: Mutability,
    pub returned: Returned,
    pub required: bool,
}

/// Case-insensitive attribute lookup for one resource type: its core schema
/// plus the extension schemas the resource type allows.
pub trait AttributeResolver {
    /// The URN of the resource type's core schema.
    fn core_schema(&self) -> &str;

    /// Resolves a top-level attribute. `schema` is the URN when the path was
    /// URN-qualified; `None` means the core schema. Returns the canonical URN
    /// of the schema it belongs to, with its metadata.
    fn resolve(&self, schema: Option<&str>, attr: &str) -> Option<(String, AttrMeta)>;

    /// Resolves a sub-attribute of a complex attribute of `schema`.
    fn resolve_sub(&self, schema: &str, attr: &str, sub: &str) -> Option<AttrMeta>;
}
