//! Which objects a list or watch answers with: those of the namespace in the path, of the name
//! asked for, and those the label and field selectors select, all decided on the server.

use crate::error::ApiError;
use crate::negotiate::Query;
use crate::resource::Resource;
use crate::selector::{FieldSelector, LabelSelector};

/// What a list or a watch selects.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Filter {
    namespace: Option<String>,
    name: Option<String>,
    labels: LabelSelector,
    fields: FieldSelector,
}

impl Filter {
    /// The objects of `namespace` (all when `None`), named `name` if given, that `query`'s
    /// selectors select, for resource `R`.
    pub fn new<R: Resource>(
        namespace: Option<&str>,
        name: Option<&str>,
        query: &Query,
    ) -> Result<Filter, ApiError> {
        Ok(Filter {
            namespace: namespace.map(str::to_string),
            name: name.map(str::to_string),
            labels: LabelSelector::parse(&query.label_selector)?,
            fields: FieldSelector::parse(&query.field_selector, R::FIELDS)?,
        })
    }

    /// Whether `object` is selected.
    pub fn matches<R: Resource>(&self, object: &R) -> bool {
        self.namespace
            .as_deref()
            .is_none_or(|ns| ns == object.namespace())
            && self.name.as_deref().is_none_or(|n| n == object.name())
            && self.labels.matches(object.labels())
            && self.fields.matches(|field| object.field(field))
    }
}
