//! The schemas RFC 7643 defines: core User (§4.1), Group (§4.2), the
//! Enterprise User extension (§4.3) and the common attributes (§3.1), with
//! the characteristics of §8.7.1.

use super::{AttributeDef, SchemaDef, Uniqueness, ENTERPRISE_USER_URN, GROUP_URN, USER_URN};
use crate::scim::attributes::{AttrType, Mutability, Returned};

fn string(name: &str, description: &str) -> AttributeDef {
    AttributeDef::new(name, AttrType::String).describe(description)
}

fn read_only(attr: AttributeDef) -> AttributeDef {
    attr.mutability(Mutability::ReadOnly)
}

/// The `value`/`display`/`type`/`primary` shape that RFC 7643 §2.4 gives most
/// multi-valued attributes; only the type of `value` and the canonical
/// `type` values differ between them.
fn multi_valued_complex(
    name: &str,
    description: &str,
    value: AttributeDef,
    type_values: &[&str],
) -> AttributeDef {
    AttributeDef::new(name, AttrType::Complex)
        .describe(description)
        .multi_valued()
        .sub_attributes(vec![
            value,
            string(
                "display",
                "A human-readable name, primarily used for display purposes.",
            ),
            string("type", "A label indicating the attribute's function.")
                .canonical_values(type_values),
            AttributeDef::new("primary", AttrType::Boolean)
                .describe("Whether this value is the preferred one; at most one value is primary."),
        ])
}

fn multi_valued_strings(name: &str, description: &str, value_description: &str) -> AttributeDef {
    multi_valued_complex(name, description, string("value", value_description), &[])
}

/// `id`, `externalId` and `meta` (RFC 7643 §3.1), shared by every resource type.
pub fn common_attributes() -> Vec<AttributeDef> {
    let date_time = |name: &str, description: &str| {
        read_only(AttributeDef::new(name, AttrType::DateTime).describe(description))
    };
    vec![
        read_only(string(
            "id",
            "Unique identifier of the resource, assigned by the service provider.",
        ))
        .case_exact()
        .returned(Returned::Always)
        .uniqueness(Uniqueness::Server),
        string(
            "externalId",
            "Identifier of the resource as defined by the provisioning client.",
        )
        .case_exact(),
        read_only(AttributeDef::new("meta", AttrType::Complex))
            .describe("Resource metadata.")
            .sub_attributes(vec![
                read_only(string(
                    "resourceType",
                    "The name of the resource type of the resource.",
                ))
                .case_exact(),
                date_time(
                    "created",
                    "When the resource was added to the service provider.",
                ),
                date_time("lastModified", "When the resource was last modified."),
                read_only(AttributeDef::new("location", AttrType::Reference))
                    .describe("The URI of the resource.")
                    .case_exact()
                    .reference_types(&["uri"]),
                read_only(string(
                    "version",
                    "The version (entity tag) of the resource.",
                ))
                .case_exact(),
            ]),
    ]
}

impl SchemaDef {
    /// `urn:ietf:params:scim:schemas:core:2.0:User` (RFC 7643 §4.1).
    pub fn user() -> Self {
        SchemaDef {
            id: USER_URN.into(),
            name: "User".into(),
            description: "User Account".into(),
            attributes: user_attributes(),
        }
    }

    /// `urn:ietf:params:scim:schemas:extension:enterprise:2.0:User` (RFC 7643 §4.3).
    pub fn enterprise_user() -> Self {
        SchemaDef {
            id: ENTERPRISE_USER_URN.into(),
            name: "EnterpriseUser".into(),
            description: "Enterprise User".into(),
            attributes: vec![
                string(
                    "employeeNumber",
                    "Numeric or alphanumeric identifier assigned to a person by the organization.",
                ),
                string("costCenter", "Identifies the name of a cost center."),
                string("organization", "Identifies the name of an organization."),
                string("division", "Identifies the name of a division."),
                string("department", "Identifies the name of a department."),
                AttributeDef::new("manager", AttrType::Complex)
                    .describe("The User's manager.")
                    .sub_attributes(vec![
                        string(
                            "value",
                            "The id of the SCIM resource representing the User's manager.",
                        ),
                        AttributeDef::new("$ref", AttrType::Reference)
                            .describe(
                                "The URI of the SCIM resource representing the User's manager.",
                            )
                            .reference_types(&["User"]),
                        read_only(string(
                            "displayName",
                            "The displayName of the User's manager.",
                        )),
                    ]),
            ],
        }
    }

    /// `urn:ietf:params:scim:schemas:core:2.0:Group` (RFC 7643 §4.2).
    /// `displayName` is required as §4.2 says (the §8.7.1 listing disagrees)
    /// and unique on the server, as identity providers expect. `members`
    /// has the sub-attributes of §8.7.1: `value`, `$ref` and `type`, no
    /// `display` (a client's is accepted and ignored).
    pub fn group() -> Self {
        let member_field = |attr: AttributeDef| attr.mutability(Mutability::Immutable);
        SchemaDef {
            id: GROUP_URN.into(),
            name: "Group".into(),
            description: "Group".into(),
            attributes: vec![
                string("displayName", "A human-readable name for the Group.")
                    .required()
                    .uniqueness(Uniqueness::Server),
                AttributeDef::new("members", AttrType::Complex)
                    .describe("A list of members of the Group.")
                    .multi_valued()
                    .sub_attributes(vec![
                        member_field(string("value", "Identifier of the member of this Group.")),
                        member_field(AttributeDef::new("$ref", AttrType::Reference))
                            .describe("The URI of the member resource.")
                            .reference_types(&["User", "Group"]),
                        member_field(string("type", "The type of the member."))
                            .canonical_values(&["User", "Group"]),
                    ]),
            ],
        }
    }
}

fn user_attributes() -> Vec<AttributeDef> {
    vec![
        string(
            "userName",
            "Unique identifier for the User, used to authenticate.",
        )
        .required()
        .uniqueness(Uniqueness::Server),
        AttributeDef::new("name", AttrType::Complex)
            .describe("The components of the user's real name.")
            .sub_attributes(vec![
                string("formatted", "The full name, formatted for display."),
                string("familyName", "The family name of the User."),
                string("givenName", "The given name of the User."),
                string("middleName", "The middle name(s) of the User."),
                string("honorificPrefix", "The honorific prefix(es) of the User."),
                string("honorificSuffix", "The honorific suffix(es) of the User."),
            ]),
        string(
            "displayName",
            "The name of the User, suitable for display to end-users.",
        ),
        string("nickName", "The casual way to address the user."),
        AttributeDef::new("profileUrl", AttrType::Reference)
            .describe("A fully qualified URL pointing to the User's online profile.")
            .reference_types(&["external"]),
        string("title", "The user's title, such as \"Vice President\"."),
        string(
            "userType",
            "The relationship between the organization and the user.",
        ),
        string(
            "preferredLanguage",
            "The User's preferred written or spoken language.",
        ),
        string(
            "locale",
            "The User's default location, for localizing items.",
        ),
        string(
            "timezone",
            "The User's time zone in the IANA Time Zone database format.",
        ),
        AttributeDef::new("active", AttrType::Boolean)
            .describe("The User's administrative status."),
        string(
            "password",
            "The User's cleartext password, used to set or compare it.",
        )
        .mutability(Mutability::WriteOnly)
        .returned(Returned::Never),
        multi_valued_complex(
            "emails",
            "Email addresses for the user.",
            string("value", "Email address for the user."),
            &["work", "home", "other"],
        ),
        multi_valued_complex(
            "phoneNumbers",
            "Phone numbers for the User.",
            string("value", "Phone number of the User."),
            &["work", "home", "mobile", "fax", "pager", "other"],
        ),
        multi_valued_complex(
            "ims",
            "Instant messaging addresses for the User.",
            string("value", "Instant messaging address for the User."),
            &["aim", "gtalk", "icq", "xmpp", "msn", "skype", "qq", "yahoo"],
        ),
        multi_valued_complex(
            "photos",
            "URLs of photos of the User.",
            AttributeDef::new("value", AttrType::Reference)
                .describe("URL of a photo of the User.")
                .reference_types(&["external"]),
            &["photo", "thumbnail"],
        ),
        addresses(),
        groups(),
        multi_valued_strings(
            "entitlements",
            "A list of entitlements for the User.",
            "The value of an entitlement.",
        ),
        multi_valued_strings(
            "roles",
            "A list of roles for the User.",
            "The value of a role.",
        ),
        multi_valued_complex(
            "x509Certificates",
            "A list of certificates issued to the User.",
            AttributeDef::new("value", AttrType::Binary)
                .describe("The value of an X.509 certificate.")
                .case_exact(),
            &[],
        ),
    ]
}

fn addresses() -> AttributeDef {
    AttributeDef::new("addresses", AttrType::Complex)
        .describe("A physical mailing address for this User.")
        .multi_valued()
        .sub_attributes(vec![
            string(
                "formatted",
                "The full mailing address, formatted for display.",
            ),
            string("streetAddress", "The full street address component."),
            string("locality", "The city or locality component."),
            string("region", "The state or region component."),
            string("postalCode", "The zip code or postal code component."),
            string("country", "The country name component."),
            string("type", "A label indicating the attribute's function.")
                .canonical_values(&["work", "home", "other"]),
            AttributeDef::new("primary", AttrType::Boolean)
                .describe("Whether this is the preferred mailing address."),
        ])
}

/// Group memberships are derived from the Groups' `members`, hence read-only.
fn groups() -> AttributeDef {
    read_only(AttributeDef::new("groups", AttrType::Complex))
        .describe("A list of groups to which the user belongs.")
        .multi_valued()
        .sub_attributes(vec![
            read_only(string("value", "The identifier of the User's group.")),
            read_only(AttributeDef::new("$ref", AttrType::Reference))
                .describe("The URI of the corresponding Group resource.")
                .reference_types(&["User", "Group"]),
            read_only(string("display", "A human-readable name of the group.")),
            read_only(string("type", "How the membership was derived."))
                .canonical_values(&["direct", "indirect"]),
        ])
}
