//! What changed between two schema documents: how users and `cargo xtask regen` see drift.
//!
//! The API adds fields without changing its profile, so comparing the profile string is not
//! enough; comparing the documents is.

use std::collections::HashMap;
use std::fmt;

use serde::Serialize;

use crate::schema::{ArraySchema, FieldSchema, FieldType, SchemaDocument};

/// One change to one field, keyed by its wire key.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(tag = "change", rename_all = "snake_case")]
pub enum FieldChange {
    /// The field is new.
    Added {
        /// The field's wire key.
        wire_key: String,
        /// Its declared type.
        #[serde(rename = "type")]
        field_type: FieldType,
        /// Whether it is required.
        required: bool,
    },
    /// The field is gone.
    Removed {
        /// The field's wire key.
        wire_key: String,
        /// The type it had.
        #[serde(rename = "type")]
        field_type: FieldType,
    },
    /// The declared type differs.
    TypeChanged {
        /// The field's wire key.
        wire_key: String,
        /// The old type.
        from: FieldType,
        /// The new type.
        to: FieldType,
    },
    /// `required` differs.
    RequiredChanged {
        /// The field's wire key.
        wire_key: String,
        /// The old value.
        from: bool,
        /// The new value.
        to: bool,
    },
}

/// The changes within one list of fields (the top level, or one nested array's elements).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct SectionDiff {
    /// Field changes in the new document's order, then removals in the old one's.
    pub changes: Vec<FieldChange>,
}

impl SectionDiff {
    /// Compares two field lists by wire key. A document that repeats a wire key (found by
    /// fuzzing) pairs the n-th occurrence on one side with the n-th on the other. Linear in
    /// the number of fields (an index per side, not a search per field).
    pub fn between(old: &[FieldSchema], new: &[FieldSchema]) -> SectionDiff {
        let (old_index, new_index) = (
            Occurrences::of(old, field_key),
            Occurrences::of(new, field_key),
        );
        let mut changes = Vec::new();
        for (position, field) in new.iter().enumerate() {
            match old_index.get(field_key(field), new_index.occurrence(position)) {
                None => changes.push(FieldChange::Added {
                    wire_key: field.wire_key.clone(),
                    field_type: field.field_type.clone(),
                    required: field.required,
                }),
                Some(previous) => {
                    if previous.field_type != field.field_type {
                        changes.push(FieldChange::TypeChanged {
                            wire_key: field.wire_key.clone(),
                            from: previous.field_type.clone(),
                            to: field.field_type.clone(),
                        });
                    }
                    if previous.required != field.required {
                        changes.push(FieldChange::RequiredChanged {
                            wire_key: field.wire_key.clone(),
                            from: previous.required,
                            to: field.required,
                        });
                    }
                }
            }
        }
        for (position, field) in old.iter().enumerate() {
            if new_index
                .get(field_key(field), old_index.occurrence(position))
                .is_none()
            {
                changes.push(FieldChange::Removed {
                    wire_key: field.wire_key.clone(),
                    field_type: field.field_type.clone(),
                });
            }
        }
        SectionDiff { changes }
    }

    /// Whether nothing changed.
    pub fn is_empty(&self) -> bool {
        self.changes.is_empty()
    }
}

/// Where each key stands in a list, so that "the n-th item with this key" and "which
/// occurrence of its key is the item at this position" are lookups, not searches. Documents
/// may repeat a key (fuzzing found them); occurrences pair the n-th with the n-th.
struct Occurrences<'a, T> {
    by_key: HashMap<&'a str, Vec<&'a T>>,
    /// For each position, which occurrence of its key it is.
    occurrence: Vec<usize>,
}

impl<'a, T> Occurrences<'a, T> {
    fn of(items: &'a [T], key: fn(&T) -> &str) -> Occurrences<'a, T> {
        let mut by_key: HashMap<&'a str, Vec<&'a T>> = HashMap::with_capacity(items.len());
        let mut occurrence = Vec::with_capacity(items.len());
        for item in items {
            let same = by_key.entry(key(item)).or_default();
            occurrence.push(same.len());
            same.push(item);
        }
        Occurrences { by_key, occurrence }
    }

    /// The `n`-th item whose key is `key`.
    fn get(&self, key: &str, n: usize) -> Option<&'a T> {
        self.by_key.get(key).and_then(|items| items.get(n)).copied()
    }

    /// Which occurrence of its key the item at `position` is.
    fn occurrence(&self, position: usize) -> usize {
        self.occurrence.get(position).copied().unwrap_or(0)
    }
}

fn field_key(field: &FieldSchema) -> &str {
    &field.wire_key
}

fn array_key(array: &ArraySchema) -> &str {
    &array.wire_key
}

/// What happened to one nested array.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(tag = "change", rename_all = "snake_case")]
pub enum ArrayChange {
    /// A new nested array, with its element fields.
    Added {
        /// The array's wire key.
        wire_key: String,
        /// Its element fields, each as an addition.
        fields: SectionDiff,
    },
    /// A nested array that is gone.
    Removed {
        /// The array's wire key.
        wire_key: String,
    },
    /// An array present on both sides whose element fields changed.
    Changed {
        /// The array's wire key.
        wire_key: String,
        /// The element field changes.
        fields: SectionDiff,
    },
}

/// The difference between two schema documents of one endpoint.
///
/// ```
/// use kiss_schema::{SchemaDiff, SchemaDocument};
/// let old = SchemaDocument::from_json(r#"{"endpoint":"/stock","apiVersion":"2026-04",
///     "fields":[{"name":"sKU","type":"string","required":true}]}"#).unwrap();
/// let new = SchemaDocument::from_json(r#"{"endpoint":"/stock","apiVersion":"2026-04",
///     "fields":[{"name":"sKU","type":"string","required":true},
///               {"name":"binLocation","type":"string"}]}"#).unwrap();
/// let diff = SchemaDiff::between(&old, &new);
/// assert!(!diff.is_empty());
/// assert!(diff.to_string().contains("+ BinLocation: string"));
/// ```
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct SchemaDiff {
    /// The endpoint of the new document.
    pub endpoint: String,
    /// The old document's profile.
    pub old_profile: String,
    /// The new document's profile.
    pub new_profile: String,
    /// Changes to the top-level fields.
    pub fields: SectionDiff,
    /// Changes to nested arrays, in the new document's order, then removals.
    pub arrays: Vec<ArrayChange>,
}

impl SchemaDiff {
    /// Compares `old` with `new`.
    pub fn between(old: &SchemaDocument, new: &SchemaDocument) -> SchemaDiff {
        let (old_arrays, new_arrays) = (
            Occurrences::of(&old.arrays, array_key),
            Occurrences::of(&new.arrays, array_key),
        );
        let mut arrays = Vec::new();
        for (position, array) in new.arrays.iter().enumerate() {
            match old_arrays.get(array_key(array), new_arrays.occurrence(position)) {
                None => arrays.push(ArrayChange::Added {
                    wire_key: array.wire_key.clone(),
                    fields: SectionDiff::between(&[], &array.fields),
                }),
                Some(previous) => {
                    let fields = SectionDiff::between(&previous.fields, &array.fields);
                    if !fields.is_empty() {
                        arrays.push(ArrayChange::Changed {
                            wire_key: array.wire_key.clone(),
                            fields,
                        });
                    }
                }
            }
        }
        for (position, array) in old.arrays.iter().enumerate() {
            if new_arrays
                .get(array_key(array), old_arrays.occurrence(position))
                .is_none()
            {
                arrays.push(ArrayChange::Removed {
                    wire_key: array.wire_key.clone(),
                });
            }
        }
        SchemaDiff {
            endpoint: new.endpoint.clone(),
            old_profile: old.api_version.clone(),
            new_profile: new.api_version.clone(),
            fields: SectionDiff::between(&old.fields, &new.fields),
            arrays,
        }
    }

    /// Whether the profile changed.
    pub fn profile_changed(&self) -> bool {
        self.old_profile != self.new_profile
    }

    /// Whether the two documents describe the same surface under the same profile.
    pub fn is_empty(&self) -> bool {
        !self.profile_changed() && self.fields.is_empty() && self.arrays.is_empty()
    }

    /// Whether every change is an addition under the same profile (new fields, new nested
    /// arrays, new fields in nested arrays): the changes the API makes without a new profile,
    /// which models generated from the old document absorb (as unknown fields).
    ///
    /// ```
    /// use kiss_schema::{FieldSchema, FieldType, SchemaDiff, SchemaDocument};
    /// let old = SchemaDocument::from_json(r#"{"endpoint":"/stock","apiVersion":"2026-04",
    ///     "fields":[{"name":"sKU","type":"string","required":true}]}"#).unwrap();
    /// let mut grown = old.clone();
    /// grown.fields.push(FieldSchema::new("binLocation", FieldType::String, false));
    /// assert!(SchemaDiff::between(&old, &grown).is_additive());
    /// assert!(!SchemaDiff::between(&grown, &old).is_additive()); // a removal
    /// ```
    pub fn is_additive(&self) -> bool {
        let only_added = |section: &SectionDiff| {
            section
                .changes
                .iter()
                .all(|change| matches!(change, FieldChange::Added { .. }))
        };
        !self.profile_changed()
            && only_added(&self.fields)
            && self.arrays.iter().all(|array| match array {
                ArrayChange::Added { .. } => true,
                ArrayChange::Changed { fields, .. } => only_added(fields),
                ArrayChange::Removed { .. } => false,
            })
    }
}

fn write_section(f: &mut fmt::Formatter<'_>, indent: &str, section: &SectionDiff) -> fmt::Result {
    for change in &section.changes {
        match change {
            FieldChange::Added {
                wire_key,
                field_type,
                required,
            } => {
                let required = if *required { " (required)" } else { "" };
                writeln!(f, "{indent}+ {wire_key}: {field_type}{required}")?;
            }
            FieldChange::Removed {
                wire_key,
                field_type,
            } => writeln!(f, "{indent}- {wire_key}: {field_type}")?,
            FieldChange::TypeChanged { wire_key, from, to } => {
                writeln!(f, "{indent}~ {wire_key}: type {from} -> {to}")?
            }
            FieldChange::RequiredChanged { wire_key, from, to } => {
                writeln!(f, "{indent}~ {wire_key}: required {from} -> {to}")?
            }
        }
    }
    Ok(())
}

/// A readable, line-per-change form: `+` added, `-` removed, `~` changed.
impl fmt::Display for SchemaDiff {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.profile_changed() {
            writeln!(
                f,
                "{}: profile {} -> {}",
                self.endpoint, self.old_profile, self.new_profile
            )?;
        } else {
            writeln!(f, "{}: profile {}", self.endpoint, self.new_profile)?;
        }
        if self.fields.is_empty() && self.arrays.is_empty() {
            return writeln!(f, "  no field changes");
        }
        write_section(f, "  ", &self.fields)?;
        for array in &self.arrays {
            match array {
                ArrayChange::Added { wire_key, fields } => {
                    writeln!(f, "  + {wire_key}[] (new nested array)")?;
                    write_section(f, "      ", fields)?;
                }
                ArrayChange::Removed { wire_key } => {
                    writeln!(f, "  - {wire_key}[] (nested array removed)")?
                }
                ArrayChange::Changed { wire_key, fields } => {
                    writeln!(f, "  {wire_key}[]:")?;
                    write_section(f, "      ", fields)?;
                }
            }
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A hundred thousand fields, half of them moved, changed or replaced: the diff is
    /// linear, so this is instant (it took half a minute when each field searched the other
    /// side).
    #[test]
    fn a_huge_document_diffs_by_index() {
        let field = |i: usize, field_type| FieldSchema::new(format!("f{i}"), field_type, false);
        let old: Vec<FieldSchema> = (0..100_000).map(|i| field(i, FieldType::String)).collect();
        let mut new: Vec<FieldSchema> = (0..100_000)
            .rev()
            .filter(|i| i % 4 != 0)
            .map(|i| {
                field(
                    i,
                    if i % 4 == 1 {
                        FieldType::Integer
                    } else {
                        FieldType::String
                    },
                )
            })
            .collect();
        new.extend((100_000..125_000).map(|i| field(i, FieldType::Date)));
        let diff = SectionDiff::between(&old, &new);
        let count = |f: fn(&FieldChange) -> bool| diff.changes.iter().filter(|c| f(c)).count();
        assert_eq!(count(|c| matches!(c, FieldChange::Removed { .. })), 25_000);
        assert_eq!(count(|c| matches!(c, FieldChange::Added { .. })), 25_000);
        assert_eq!(
            count(|c| matches!(c, FieldChange::TypeChanged { .. })),
            25_000
        );
    }

    const PRODUCTS: &str = crate::contract::PRODUCTS_SCHEMA;

    #[test]
    fn identical_documents_have_an_empty_diff() {
        let doc = SchemaDocument::from_json(PRODUCTS).unwrap();
        let diff = SchemaDiff::between(&doc, &doc);
        assert!(diff.is_empty());
        assert_eq!(
            diff.to_string(),
            "/products: profile 2026-04\n  no field changes\n"
        );
    }

    #[test]
    fn repeated_wire_keys_pair_up_by_occurrence() {
        // Found by fuzzing: a document repeating a key differed from itself.
        let doc = SchemaDocument::from_json(
            r#"{"endpoint":"/x","apiVersion":"1","fields":[{"name":"a","type":"string"},
                {"name":"A","type":"integer"},{"name":"a","type":"date"}]}"#,
        )
        .unwrap();
        assert!(SchemaDiff::between(&doc, &doc).is_empty());
        let mut fewer = doc.clone();
        fewer.fields.pop();
        let diff = SchemaDiff::between(&doc, &fewer);
        assert_eq!(diff.fields.changes.len(), 1);
        assert!(matches!(
            &diff.fields.changes[0],
            FieldChange::Removed {
                field_type: FieldType::Date,
                ..
            }
        ));
    }

    #[test]
    fn reports_every_kind_of_change_top_level_and_nested() {
        let old = SchemaDocument::from_json(PRODUCTS).unwrap();
        let mut new = old.clone();
        new.api_version = "2026-10".into();
        new.fields.retain(|f| f.wire_key != "Theme");
        new.fields
            .push(FieldSchema::new("ecoScore", FieldType::Integer, false));
        new.fields[0].required = false;
        new.fields[1].field_type = FieldType::Other("text".into());
        new.arrays.retain(|a| a.wire_key != "ProductSubstitutions");
        new.arrays[0]
            .fields
            .push(FieldSchema::new("altText", FieldType::String, true));
        new.arrays.push(crate::ArraySchema {
            name: "productVideos".into(),
            wire_key: "ProductVideos".into(),
            fields: vec![FieldSchema::new("uRL", FieldType::String, true)],
        });
        let diff = SchemaDiff::between(&old, &new);
        assert!(diff.profile_changed());
        let text = diff.to_string();
        let expected = "\
/products: profile 2026-04 -> 2026-10
  ~ SKU: required true -> false
  ~ Name: type string -> text
  + EcoScore: integer
  - Theme: string
  ProductImages[]:
      + AltText: string (required)
  + ProductVideos[] (new nested array)
      + URL: string (required)
  - ProductSubstitutions[] (nested array removed)
";
        assert_eq!(text, expected);
        let json = serde_json::to_value(&diff).unwrap();
        assert_eq!(json["fields"]["changes"][2]["change"], "added");
        assert_eq!(json["fields"]["changes"][2]["wire_key"], "EcoScore");
        assert_eq!(json["fields"]["changes"][2]["type"], "integer");
        assert_eq!(json["arrays"][2]["change"], "removed");
        assert_eq!(json["new_profile"], "2026-10");
    }
}
