//! Admin forms: what each field accepts, cleaning submitted text into typed values
//! (errors kept beside their field), and what a template needs to draw a field.

use std::collections::BTreeMap;

use serde::Serialize;

/// What a field accepts.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FieldKind {
    /// Text of `min..=max` characters, no control characters.
    Text {
        min: usize,
        max: usize,
    },
    /// Exactly `len` ASCII letters (state, country code); stored upper-case.
    Letters {
        len: usize,
    },
    /// A whole number in `min..=max`.
    Integer {
        min: i32,
        max: i32,
    },
    /// An email address of at most `max` characters, or empty.
    Email {
        max: usize,
    },
    /// Django's username rule: 1–150 letters, digits and `@ . + - _`.
    Username,
    Checkbox,
    /// The id of a row of another model, the admin's `app`/`model` (Django's `ForeignKey`
    /// with `raw_id_fields` and `autocomplete_fields`): drawn as an id input with the
    /// row's name beside it, and a search over that model when JavaScript runs. Its one
    /// option, when the form has a value, is that row (`(id, name)`).
    ForeignKey {
        app: &'static str,
        model: &'static str,
    },
    /// Any number of the model's options (a user's groups, a group's permissions): sent
    /// as the same name repeated, drawn as a list of checkboxes. The model checks each
    /// value against its options when it saves.
    MultipleChoice,
    /// A new password (checked against the password rules).
    NewPassword,
    /// Must equal the named field.
    Confirm(&'static str),
}

#[derive(Debug, Clone, Copy)]
pub struct FieldSpec {
    pub name: &'static str,
    pub label: &'static str,
    pub kind: FieldKind,
    pub help: &'static str,
}

/// Submitted (or loaded) values, as text; a name sent more than once keeps every value
/// (a list of checkboxes), in order.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Form {
    values: BTreeMap<String, Vec<String>>,
}

impl Form {
    pub fn from_pairs(pairs: impl IntoIterator<Item = (String, String)>) -> Self {
        let mut values: BTreeMap<String, Vec<String>> = BTreeMap::new();
        for (name, value) in pairs {
            values.entry(name).or_default().push(value);
        }
        Form { values }
    }

    /// Whether the field was sent at all (a pressed submit button arrives empty).
    pub fn has(&self, name: &str) -> bool {
        self.values.contains_key(name)
    }

    /// The field's value; its last one when it was sent more than once (as Django's
    /// `QueryDict.get`).
    pub fn get(&self, name: &str) -> &str {
        self.values
            .get(name)
            .and_then(|values| values.last())
            .map_or("", String::as_str)
    }

    /// Every value sent under `name`, in order.
    pub fn get_all(&self, name: &str) -> &[String] {
        self.values.get(name).map_or(&[], Vec::as_slice)
    }

    pub fn set(&mut self, name: &str, value: impl Into<String>) {
        self.values.insert(name.to_owned(), vec![value.into()]);
    }

    pub fn set_all(&mut self, name: &str, values: Vec<String>) {
        self.values.insert(name.to_owned(), values);
    }

    /// The values under `prefix` (`address-0-street` as `street`): an inline's form.
    pub fn prefixed(&self, prefix: &str) -> Form {
        Form {
            values: self
                .values
                .iter()
                .filter_map(|(name, values)| Some((name.strip_prefix(prefix)?.to_owned(), values.clone())))
                .collect(),
        }
    }

    /// `other`'s values, each under `prefix` (the reverse of [`Form::prefixed`]).
    pub fn put_prefixed(&mut self, prefix: &str, other: &Form) {
        for (name, values) in &other.values {
            self.values.insert(format!("{prefix}{name}"), values.clone());
        }
    }

    /// Without the values under `prefix` (an inline the viewer may not use).
    pub fn drop_prefixed(&mut self, prefix: &str) {
        self.values.retain(|name, _| !name.starts_with(prefix));
    }

    /// Whether any value (but those named in `except`) holds more than blanks.
    pub fn any_filled(&self, except: &[&str]) -> bool {
        self.values
            .iter()
            .any(|(name, values)| !except.contains(&name.as_str()) && values.iter().any(|v| !v.trim().is_empty()))
    }

    /// Whether the field holds the same value(s) in both forms: text compared trimmed,
    /// a multiple choice as a set.
    pub fn same_value(&self, other: &Form, spec: &FieldSpec) -> bool {
        if spec.kind == FieldKind::MultipleChoice {
            let set = |form: &Form| -> std::collections::BTreeSet<String> {
                form.get_all(spec.name).iter().map(|v| v.trim().to_owned()).collect()
            };
            set(self) == set(other)
        } else {
            self.get(spec.name).trim() == other.get(spec.name).trim()
        }
    }
}

/// Errors beside each field, and errors about the whole form.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct FormErrors {
    pub fields: BTreeMap<String, Vec<String>>,
    pub form: Vec<String>,
}

impl FormErrors {
    pub fn is_empty(&self) -> bool {
        self.fields.is_empty() && self.form.is_empty()
    }

    pub fn field(name: &str, message: impl Into<String>) -> Self {
        let mut errors = FormErrors::default();
        errors.add(name, message);
        errors
    }

    pub fn add(&mut self, name: &str, message: impl Into<String>) {
        self.fields.entry(name.to_owned()).or_default().push(message.into());
    }

    /// The same errors with each field's name under `prefix` (an inline's, on its parent
    /// form); the form's own errors stay the form's.
    pub fn prefixed(self, prefix: &str) -> FormErrors {
        FormErrors {
            fields: self
                .fields
                .into_iter()
                .map(|(name, messages)| (format!("{prefix}{name}"), messages))
                .collect(),
            form: self.form,
        }
    }

    /// The errors of the fields under `prefix`, named without it.
    pub fn under(&self, prefix: &str) -> FormErrors {
        FormErrors {
            fields: self
                .fields
                .iter()
                .filter_map(|(name, messages)| Some((name.strip_prefix(prefix)?.to_owned(), messages.clone())))
                .collect(),
            form: Vec::new(),
        }
    }
}

/// A cleaned value.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Value {
    Text(String),
    Int(i32),
    Bool(bool),
    List(Vec<String>),
}

/// Cleaned values by field name.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Cleaned(BTreeMap<&'static str, Value>);

impl Cleaned {
    pub fn text(&self, name: &str) -> String {
        match self.0.get(name) {
            Some(Value::Text(text)) => text.clone(),
            _ => String::new(),
        }
    }

    pub fn int(&self, name: &str) -> i32 {
        match self.0.get(name) {
            Some(Value::Int(n)) => *n,
            _ => 0,
        }
    }

    pub fn bool(&self, name: &str) -> bool {
        matches!(self.0.get(name), Some(Value::Bool(true)))
    }
}

const REQUIRED: &str = "This field is required.";

/// Django's message for a choice that is not among the options.
pub const NOT_A_CHOICE: &str = "Select a valid choice. That choice is not one of the available choices.";

/// Django's message for one value of a multiple choice that is not among the options.
pub fn not_a_choice(value: &str) -> String {
    let shown: String = value.chars().filter(|c| !c.is_control()).take(150).collect();
    format!("Select a valid choice. {shown} is not one of the available choices.")
}

fn clean_text(raw: &str, min: usize, max: usize) -> Result<String, String> {
    let text = raw.trim();
    let length = text.chars().count();
    if text.chars().any(char::is_control) {
        return Err("Control characters are not allowed.".into());
    }
    if length == 0 && min > 0 {
        return Err(REQUIRED.into());
    }
    if length > max {
        return Err(format!(
            "Ensure this value has at most {max} characters (it has {length})."
        ));
    }
    if length < min {
        return Err(format!(
            "Ensure this value has at least {min} characters (it has {length})."
        ));
    }
    Ok(text.to_owned())
}

/// `text` without what would make it display as something else: control characters and
/// the bidirectional embedding, override and isolate characters (U+202A–U+202E,
/// U+2066–U+2069), with which a name can read backwards ("Trojan Source").
pub fn displayable(text: &str) -> String {
    text.chars()
        .filter(|c| !c.is_control() && !matches!(c, '\u{202A}'..='\u{202E}' | '\u{2066}'..='\u{2069}'))
        .collect()
}

/// Django's password validators (`password_rules`) against the username.
pub fn check_password_rules(password: &str, username: &str) -> Result<(), Vec<String>> {
    crate::password_rules::validate(
        password,
        &crate::password_rules::UserAttributes {
            username,
            ..Default::default()
        },
    )
}

/// The field's cleaned value, or its errors (a new password may break several rules).
fn clean_field(spec: &FieldSpec, form: &Form) -> Result<Value, Vec<String>> {
    let raw = form.get(spec.name);
    if spec.kind != FieldKind::NewPassword {
        return clean_one(spec, form).map_err(|message| vec![message]);
    }
    if raw.is_empty() {
        return Err(vec![REQUIRED.into()]);
    }
    if raw.contains('\0') {
        return Err(vec!["Null characters are not allowed.".into()]);
    }
    crate::password_rules::validate(
        raw,
        &crate::password_rules::UserAttributes {
            username: form.get("username"),
            first_name: form.get("first_name"),
            last_name: form.get("last_name"),
            email: form.get("email"),
        },
    )
    .map(|()| Value::Text(raw.to_owned()))
}

fn clean_one(spec: &FieldSpec, form: &Form) -> Result<Value, String> {
    let raw = form.get(spec.name);
    match spec.kind {
        FieldKind::Text { min, max } => clean_text(raw, min, max).map(Value::Text),
        FieldKind::Letters { len } => {
            let text = raw.trim();
            if text.is_empty() {
                Err(REQUIRED.into())
            } else if text.chars().count() != len || !text.chars().all(|c| c.is_ascii_alphabetic()) {
                Err(format!("Enter exactly {len} letters."))
            } else {
                Ok(Value::Text(text.to_ascii_uppercase()))
            }
        }
        FieldKind::Integer { min, max } => {
            let text = raw.trim();
            if text.is_empty() {
                return Err(REQUIRED.into());
            }
            match text.parse::<i64>() {
                Ok(n) if n < i64::from(min) => Err(format!("Ensure this value is greater than or equal to {min}.")),
                Ok(n) if n > i64::from(max) => Err(format!("Ensure this value is less than or equal to {max}.")),
                Ok(n) => i32::try_from(n)
                    .map(Value::Int)
                    .map_err(|_| "Enter a whole number.".into()),
                Err(_) => Err("Enter a whole number.".into()),
            }
        }
        FieldKind::Email { max } => {
            let text = clean_text(raw, 0, max)?;
            let valid = text.is_empty()
                || text.split_once('@').is_some_and(|(local, domain)| {
                    !local.is_empty() && domain.contains('.') && !domain.starts_with('.') && !domain.ends_with('.')
                }) && !text.contains(char::is_whitespace);
            if valid {
                Ok(Value::Text(text))
            } else {
                Err("Enter a valid email address.".into())
            }
        }
        FieldKind::Username => {
            let text = clean_text(raw, 1, 150)?;
            if text.chars().all(|c| c.is_alphanumeric() || "@.+-_".contains(c)) {
                Ok(Value::Text(text))
            } else {
                Err(
                    "Enter a valid username. This value may contain only letters, numbers, and @/./+/-/_ characters."
                        .into(),
                )
            }
        }
        FieldKind::Checkbox => Ok(Value::Bool(matches!(raw, "on" | "true" | "1"))),
        FieldKind::MultipleChoice => {
            let mut chosen: Vec<String> = Vec::new();
            for value in form.get_all(spec.name) {
                let value = value.trim();
                if value.is_empty() || value.chars().any(char::is_control) || value.len() > 150 {
                    return Err(not_a_choice(value));
                }
                if !chosen.iter().any(|c| c == value) {
                    chosen.push(value.to_owned());
                }
            }
            Ok(Value::List(chosen))
        }
        FieldKind::ForeignKey { .. } => match raw.trim().parse::<i32>() {
            Ok(id) if id > 0 => Ok(Value::Int(id)),
            _ if raw.trim().is_empty() => Err(REQUIRED.into()),
            _ => Err("Select a valid choice.".into()),
        },
        FieldKind::NewPassword => Err("a new password is cleaned by clean_field".into()),
        FieldKind::Confirm(other) => {
            if raw.is_empty() {
                Err(REQUIRED.into())
            } else if raw != form.get(other) {
                Err("The two password fields didn’t match.".into())
            } else {
                Ok(Value::Text(String::new()))
            }
        }
    }
}

/// Cleans a model's typed form field by field: each getter takes the field's `FieldSpec`
/// constant (a misspelled field is a compile error, not an empty string) and returns its
/// cleaned value, or a placeholder with the error recorded beside the field; `finish`
/// gives the typed form, or every error at once.
pub struct Cleaner<'f> {
    form: &'f Form,
    errors: FormErrors,
}

impl<'f> Cleaner<'f> {
    pub fn new(form: &'f Form) -> Self {
        Cleaner {
            form,
            errors: FormErrors::default(),
        }
    }

    fn value(&mut self, spec: &FieldSpec) -> Option<Value> {
        match clean_field(spec, self.form) {
            Ok(value) => Some(value),
            Err(messages) => {
                for message in messages {
                    self.errors.add(spec.name, message);
                }
                None
            }
        }
    }

    pub fn text(&mut self, spec: &FieldSpec) -> String {
        match self.value(spec) {
            Some(Value::Text(text)) => text,
            _ => String::new(),
        }
    }

    pub fn int(&mut self, spec: &FieldSpec) -> i32 {
        match self.value(spec) {
            Some(Value::Int(n)) => n,
            _ => 0,
        }
    }

    pub fn bool(&mut self, spec: &FieldSpec) -> bool {
        matches!(self.value(spec), Some(Value::Bool(true)))
    }

    /// A multiple choice's values, each once, in the order sent.
    pub fn list(&mut self, spec: &FieldSpec) -> Vec<String> {
        match self.value(spec) {
            Some(Value::List(values)) => values,
            _ => Vec::new(),
        }
    }

    /// Records an error beside `spec`'s field (a check the model makes, such as a choice
    /// that is not among its options).
    pub fn reject(&mut self, spec: &FieldSpec, message: impl Into<String>) {
        self.errors.add(spec.name, message);
    }

    /// `typed` if every field was valid, else every error.
    pub fn finish<T>(self, typed: T) -> Result<T, FormErrors> {
        if self.errors.is_empty() {
            Ok(typed)
        } else {
            Err(self.errors)
        }
    }
}

/// Cleans every field; all errors at once, each beside its field.
pub fn clean(specs: &[FieldSpec], form: &Form) -> Result<Cleaned, FormErrors> {
    let mut cleaned = Cleaned::default();
    let mut errors = FormErrors::default();
    for spec in specs {
        match clean_field(spec, form) {
            Ok(value) => {
                cleaned.0.insert(spec.name, value);
            }
            Err(messages) => {
                for message in messages {
                    errors.add(spec.name, message);
                }
            }
        }
    }
    if errors.is_empty() {
        Ok(cleaned)
    } else {
        Err(errors)
    }
}

/// The options of each choice field: (value, label) pairs by field name.
pub type Choices = BTreeMap<&'static str, Vec<(String, String)>>;

/// One `<option>`.
#[derive(Debug, Clone, Serialize)]
pub struct OptionView {
    pub value: String,
    pub label: String,
    pub selected: bool,
}

/// What a template needs to draw one field.
#[derive(Debug, Clone, Serialize)]
pub struct FieldView {
    pub name: &'static str,
    pub label: &'static str,
    pub help: &'static str,
    /// `text`, `number`, `email`, `checkbox`, `checkboxes`, `raw_id` (a foreign key) or
    /// `password`.
    pub input: &'static str,
    pub value: String,
    pub checked: bool,
    pub required: bool,
    pub max_length: Option<usize>,
    pub min: Option<i32>,
    pub max: Option<i32>,
    pub options: Vec<OptionView>,
    pub errors: Vec<String>,
    /// The value as a read-only page shows it (a choice's label, Yes/No, a list of labels).
    pub display: String,
    /// A foreign key's model, as the admin names it (`lettings`, `address`).
    pub related: Option<RelatedModel>,
    /// That model's list, when the viewer may search it (the "Look up" link, and the
    /// widget's search): set by the admin, which knows the viewer's permissions and URLs.
    pub lookup: Option<String>,
    /// Django's `RelatedFieldWidgetWrapper` links, set by the admin as the viewer may:
    /// add a new related row (and come back with it chosen), change or view the chosen one.
    pub add_related: Option<String>,
    pub change_related: Option<String>,
    pub view_related: Option<String>,
    /// The related row's change page with `__fk__` for its id, when the viewer may
    /// change (or view) it: the popup's script points the link at a row just chosen.
    pub related_template: Option<String>,
    /// `change` or `view`: what the viewer may do with the chosen related row.
    pub related_kind: Option<&'static str>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub struct RelatedModel {
    pub app: &'static str,
    pub model: &'static str,
}

/// Field views for `specs` filled from `form`; `choices` gives each choice field's options.
pub fn field_views(specs: &[FieldSpec], form: &Form, errors: &FormErrors, choices: &Choices) -> Vec<FieldView> {
    specs
        .iter()
        .map(|spec| {
            let value = form.get(spec.name).to_owned();
            let (input, required, max_length, min, max) = match spec.kind {
                FieldKind::Text { min, max } => ("text", min > 0, Some(max), None, None),
                FieldKind::Letters { len } => ("text", true, Some(len), None, None),
                FieldKind::Integer { min, max } => ("number", true, None, Some(min), Some(max)),
                FieldKind::Email { max } => ("email", false, Some(max), None, None),
                FieldKind::Username => ("text", true, Some(150), None, None),
                FieldKind::Checkbox => ("checkbox", false, None, None, None),
                FieldKind::ForeignKey { .. } => ("raw_id", true, None, None, None),
                FieldKind::MultipleChoice => ("checkboxes", false, None, None, None),
                FieldKind::NewPassword | FieldKind::Confirm(_) => ("password", true, None, None, None),
            };
            let options: Vec<OptionView> = choices
                .get(spec.name)
                .map(|options| {
                    options
                        .iter()
                        .map(|(id, label)| OptionView {
                            selected: if spec.kind == FieldKind::MultipleChoice {
                                form.get_all(spec.name).contains(id)
                            } else {
                                *id == value
                            },
                            value: id.clone(),
                            label: label.clone(),
                        })
                        .collect()
                })
                .unwrap_or_default();
            let checked = matches!(value.as_str(), "on" | "true" | "1");
            let display = match input {
                "checkbox" => if checked { "Yes" } else { "No" }.to_owned(),
                "password" => String::new(),
                "raw_id" | "checkboxes" => {
                    let labels: Vec<&str> = options
                        .iter()
                        .filter(|o| o.selected)
                        .map(|o| o.label.as_str())
                        .collect();
                    if labels.is_empty() {
                        "-".to_owned()
                    } else {
                        labels.join(", ")
                    }
                }
                _ => value.clone(),
            };
            FieldView {
                name: spec.name,
                label: spec.label,
                help: spec.help,
                input,
                checked,
                display,
                // A password is never sent back to the browser.
                value: if input == "password" { String::new() } else { value },
                required,
                max_length,
                min,
                max,
                options,
                errors: errors.fields.get(spec.name).cloned().unwrap_or_default(),
                related: match spec.kind {
                    FieldKind::ForeignKey { app, model } => Some(RelatedModel { app, model }),
                    _ => None,
                },
                lookup: None,
                add_related: None,
                related_template: None,
                related_kind: None,
                change_related: None,
                view_related: None,
            }
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    const SPECS: &[FieldSpec] = &[
        FieldSpec {
            name: "number",
            label: "Number",
            kind: FieldKind::Integer { min: 0, max: 9999 },
            help: "",
        },
        FieldSpec {
            name: "street",
            label: "Street",
            kind: FieldKind::Text { min: 1, max: 64 },
            help: "",
        },
        FieldSpec {
            name: "state",
            label: "State",
            kind: FieldKind::Letters { len: 2 },
            help: "",
        },
        FieldSpec {
            name: "email",
            label: "Email",
            kind: FieldKind::Email { max: 254 },
            help: "",
        },
        FieldSpec {
            name: "staff",
            label: "Staff",
            kind: FieldKind::Checkbox,
            help: "",
        },
    ];

    fn form(pairs: &[(&str, &str)]) -> Form {
        Form::from_pairs(pairs.iter().map(|(k, v)| ((*k).to_owned(), (*v).to_owned())))
    }

    #[test]
    fn valid_input_is_cleaned_into_typed_values() {
        let cleaned = clean(
            SPECS,
            &form(&[
                ("number", " 42 "),
                ("street", " Main St "),
                ("state", "ga"),
                ("staff", "on"),
            ]),
        )
        .unwrap();
        assert_eq!(cleaned.int("number"), 42);
        assert_eq!(cleaned.text("street"), "Main St");
        assert_eq!(cleaned.text("state"), "GA");
        assert_eq!(cleaned.text("email"), "");
        assert!(cleaned.bool("staff"));
    }

    #[test]
    fn every_bad_field_gets_its_own_error() {
        let long = "x".repeat(65);
        let errors = clean(
            SPECS,
            &form(&[
                ("number", "10000"),
                ("street", &long),
                ("state", "G1"),
                ("email", "nope"),
            ]),
        )
        .unwrap_err();
        assert_eq!(
            errors.fields["number"],
            ["Ensure this value is less than or equal to 9999."]
        );
        assert_eq!(
            errors.fields["street"],
            ["Ensure this value has at most 64 characters (it has 65)."]
        );
        assert_eq!(errors.fields["state"], ["Enter exactly 2 letters."]);
        assert_eq!(errors.fields["email"], ["Enter a valid email address."]);
        let errors = clean(SPECS, &form(&[("number", "abc"), ("street", " "), ("state", "")])).unwrap_err();
        assert_eq!(errors.fields["number"], ["Enter a whole number."]);
        assert_eq!(errors.fields["street"], ["This field is required."]);
        assert_eq!(errors.fields["state"], ["This field is required."]);
        let errors = clean(
            SPECS,
            &form(&[
                ("number", "99999999999999999999"),
                ("street", "a\u{0}b"),
                ("state", "GA"),
            ]),
        )
        .unwrap_err();
        assert!(errors.fields.contains_key("number") && errors.fields.contains_key("street"));
    }

    #[test]
    fn displayable_text_loses_controls_and_bidi_overrides() {
        assert_eq!(displayable("Cozy\u{202E}txt.exe"), "Cozytxt.exe");
        assert_eq!(displayable("a\u{2066}b\u{2069}c\u{0}d\u{1b}[31me\u{85}"), "abcd[31me");
        assert_eq!(displayable("Ünïcødé – “fine” 🏠"), "Ünïcødé – “fine” 🏠");
    }

    #[test]
    fn password_rules() {
        assert!(check_password_rules("short", "bob").is_err());
        assert!(check_password_rules("12345678901", "bob").is_err());
        assert!(check_password_rules("Bobbobbob", "bobbobbob").is_err());
        assert!(check_password_rules("a good passphrase", "bob").is_ok());
    }

    #[test]
    fn passwords_are_never_echoed_back() {
        let specs = [FieldSpec {
            name: "password1",
            label: "Password",
            kind: FieldKind::NewPassword,
            help: "",
        }];
        let views = field_views(
            &specs,
            &form(&[("password1", "secret-secret")]),
            &FormErrors::default(),
            &BTreeMap::new(),
        );
        assert_eq!(views[0].value, "");
        assert_eq!(views[0].input, "password");
    }
}
