//! Dashboard bodies checked as Datadog checks them, into the canonical JSON the store keeps: required
//! fields, `layout_type`, widget definitions per known type (unknown types are kept verbatim), metric
//! queries parsed with `ddlab-query`, template variables, and integer widget ids (nested ones too).
//!
//! Errors are Datadog's texts where they are known (API reference §4.1): `Invalid widget at position N.
//! Error: ...`, `Invalid query in widget at position N. Error: ...`, and the `is_read_only` deprecation.

use serde_json::{Map, Value, json};

/// What a checked body contributes to the stored dashboard: every field the client may set, canonical.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct DashboardBody {
    pub(crate) title: String,
    pub(crate) layout_type: LayoutType,
    /// The fields of the answer that come from the body, in Datadog's names (`widgets` with their ids).
    pub(crate) fields: Map<String, Value>,
}

/// `ordered` (a timeboard: widgets flow in a grid) or `free` (a screenboard: every widget placed).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum LayoutType {
    Ordered,
    Free,
}

impl LayoutType {
    pub(crate) fn as_str(self) -> &'static str {
        match self {
            LayoutType::Ordered => "ordered",
            LayoutType::Free => "free",
        }
    }

    pub(crate) fn parse(text: &str) -> Option<Self> {
        match text {
            "ordered" => Some(LayoutType::Ordered),
            "free" => Some(LayoutType::Free),
            _ => None,
        }
    }

    /// The `dashboard_type` of shared dashboards and dashboard list items.
    pub(crate) fn dashboard_type(self) -> &'static str {
        match self {
            LayoutType::Ordered => "custom_timeboard",
            LayoutType::Free => "custom_screenboard",
        }
    }
}

/// The deprecation answer to `is_read_only: true` (API reference §4.1, datadog-operator#1707).
pub(crate) const READ_ONLY_DEPRECATED: &str = "The is_read_only attribute is no longer supported. https://docs.datadoghq.com/dashboards/guide/is-read-only-deprecation/";

/// Which kind of element the position in an error names: `widget`, or `graph` for legacy timeboards.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Noun(pub(crate) &'static str);

/// Checks a `POST`/`PUT /api/v1/dashboard` body. `new_id` draws ids for widgets that carry none.
pub(crate) fn dashboard_body(body: &Value, new_id: &mut dyn FnMut() -> i64) -> Result<DashboardBody, String> {
    checked_body(body, Noun("widget"), new_id)
}

/// The same for a body converted from a legacy API, whose errors name `noun`s.
pub(crate) fn checked_body(
    body: &Value,
    noun: Noun,
    new_id: &mut dyn FnMut() -> i64,
) -> Result<DashboardBody, String> {
    let object = body.as_object().ok_or("The request body must be a JSON object")?;
    let title = match object.get("title") {
        Some(Value::String(title)) if !title.trim().is_empty() => title.clone(),
        Some(Value::String(_)) => return Err("'title' must not be empty".to_owned()),
        Some(other) => return Err(format!("'title' must be a string, got {other}")),
        None => return Err("'title' is a required property".to_owned()),
    };
    let layout_type = match object.get("layout_type") {
        Some(Value::String(text)) => LayoutType::parse(text)
            .ok_or_else(|| format!("'layout_type' must be one of 'ordered', 'free', got '{text}'"))?,
        Some(other) => return Err(format!("'layout_type' must be a string, got {other}")),
        None => return Err("'layout_type' is a required property".to_owned()),
    };
    match object.get("is_read_only") {
        None | Some(Value::Null | Value::Bool(false)) => {}
        Some(Value::Bool(true)) => return Err(READ_ONLY_DEPRECATED.to_owned()),
        Some(other) => return Err(format!("'is_read_only' must be a boolean, got {other}")),
    }
    let widgets = match object.get("widgets") {
        Some(Value::Array(widgets)) => widgets,
        Some(other) => return Err(format!("'widgets' must be an array, got {other}")),
        None => return Err("'widgets' is a required property".to_owned()),
    };
    let widgets = checked_widgets(widgets, layout_type, noun, new_id)?;

    let mut fields = Map::new();
    fields.insert("title".to_owned(), Value::String(title.clone()));
    fields.insert(
        "description".to_owned(),
        optional_string(object, "description")?.map_or(Value::Null, Value::String),
    );
    fields.insert("layout_type".to_owned(), json!(layout_type.as_str()));
    fields.insert("widgets".to_owned(), Value::Array(widgets));
    fields.insert(
        "template_variables".to_owned(),
        template_variables(object.get("template_variables"))?,
    );
    fields.insert(
        "notify_list".to_owned(),
        string_list(object, "notify_list", 100)?.map_or(Value::Null, Value::from),
    );
    fields.insert(
        "restricted_roles".to_owned(),
        Value::from(string_list(object, "restricted_roles", usize::MAX)?.unwrap_or_default()),
    );
    if let Some(reflow) = object.get("reflow_type").filter(|v| !v.is_null()) {
        match (reflow.as_str(), layout_type) {
            (Some("auto" | "fixed"), LayoutType::Ordered) => {}
            (Some("auto" | "fixed"), LayoutType::Free) => {
                return Err("'reflow_type' is only valid for layout_type 'ordered'".to_owned());
            }
            _ => {
                return Err(format!(
                    "'reflow_type' must be one of 'auto', 'fixed', got {reflow}"
                ));
            }
        }
        fields.insert("reflow_type".to_owned(), reflow.clone());
    }
    if let Some(tags) = string_list(object, "tags", 5)? {
        if let Some(bad) = tags.iter().find(|t| !t.starts_with("team:")) {
            return Err(format!(
                "Invalid tag '{bad}' in 'tags': dashboard tags must be team tags, 'team:<name>'"
            ));
        }
        fields.insert("tags".to_owned(), Value::from(tags));
    }
    // Fields the lab does not interpret are kept as sent, so the answer and the UI see them.
    for key in ["template_variable_presets", "default_timeframe", "tabs"] {
        if let Some(value) = object.get(key).filter(|v| !v.is_null()) {
            fields.insert(key.to_owned(), value.clone());
        }
    }
    Ok(DashboardBody {
        title,
        layout_type,
        fields,
    })
}

/// Checks a list of widgets and gives each an id; `layout_type` decides whether `layout` is required.
pub(crate) fn checked_widgets(
    widgets: &[Value],
    layout_type: LayoutType,
    noun: Noun,
    new_id: &mut dyn FnMut() -> i64,
) -> Result<Vec<Value>, String> {
    widgets
        .iter()
        .enumerate()
        .map(|(position, widget)| {
            checked_widget(widget, layout_type, new_id).map_err(|error| error.at(noun, position))
        })
        .collect()
}

/// Why a widget was refused, before its position is known.
#[derive(Debug, Clone, PartialEq, Eq)]
enum WidgetError {
    Invalid(String),
    Query(String),
}

impl WidgetError {
    fn at(self, Noun(noun): Noun, position: usize) -> String {
        match self {
            WidgetError::Invalid(error) => format!("Invalid {noun} at position {position}. Error: {error}"),
            WidgetError::Query(error) => {
                format!("Invalid query in {noun} at position {position}. Error: {error}")
            }
        }
    }

    /// The same error inside a group widget: it names the nested position.
    fn nested(self, position: usize) -> Self {
        match self {
            WidgetError::Invalid(error) => {
                WidgetError::Invalid(format!("widgets[{position}] of the group: {error}"))
            }
            WidgetError::Query(error) => {
                WidgetError::Query(format!("widgets[{position}] of the group: {error}"))
            }
        }
    }
}

fn invalid(message: impl Into<String>) -> WidgetError {
    WidgetError::Invalid(message.into())
}

fn checked_widget(
    widget: &Value,
    layout_type: LayoutType,
    new_id: &mut dyn FnMut() -> i64,
) -> Result<Value, WidgetError> {
    let object = widget
        .as_object()
        .ok_or_else(|| invalid(format!("{widget} is not of type 'object'")))?;
    let definition = object
        .get("definition")
        .ok_or_else(|| invalid("'definition' is a required property"))?;
    let definition = definition
        .as_object()
        .ok_or_else(|| invalid(format!("'definition' must be an object, got {definition}")))?;
    let mut out = object.clone();
    match object.get("layout") {
        Some(layout) => check_layout(layout)?,
        None if layout_type == LayoutType::Free => {
            return Err(invalid("'layout' is a required property"));
        }
        None => {}
    }
    let id = match object.get("id") {
        Some(Value::Number(n)) => n
            .as_i64()
            .ok_or_else(|| invalid(format!("'id' must be an integer, got {n}")))?,
        None | Some(Value::Null) => new_id(),
        Some(other) => return Err(invalid(format!("'id' must be an integer, got {other}"))),
    };
    out.insert("id".to_owned(), json!(id));
    out.insert(
        "definition".to_owned(),
        Value::Object(checked_definition(definition, new_id)?),
    );
    Ok(Value::Object(out))
}

fn check_layout(layout: &Value) -> Result<(), WidgetError> {
    let layout = layout
        .as_object()
        .ok_or_else(|| invalid(format!("'layout' must be an object, got {layout}")))?;
    for key in ["x", "y", "width", "height"] {
        match layout.get(key) {
            Some(Value::Number(n)) if n.as_u64().is_some() => {}
            Some(other) => {
                return Err(invalid(format!(
                    "'layout.{key}' must be a non-negative integer, got {other}"
                )));
            }
            None => return Err(invalid(format!("'{key}' is a required property of 'layout'"))),
        }
    }
    Ok(())
}

/// Required fields of the widget types the lab knows; any other type is kept as sent.
const REQUIRED: &[(&str, &[&str])] = &[
    ("timeseries", &["requests"]),
    ("query_value", &["requests"]),
    ("toplist", &["requests"]),
    ("heatmap", &["requests"]),
    ("distribution", &["requests"]),
    ("change", &["requests"]),
    ("query_table", &["requests"]),
    ("sunburst", &["requests"]),
    ("treemap", &["requests"]),
    ("scatterplot", &["requests"]),
    ("hostmap", &["requests"]),
    ("geomap", &["requests", "style", "view"]),
    ("note", &["content"]),
    ("free_text", &["text"]),
    ("image", &["url"]),
    ("iframe", &["url"]),
    ("check_status", &["check", "grouping"]),
    ("alert_graph", &["alert_id", "viz_type"]),
    ("alert_value", &["alert_id"]),
    ("event_stream", &["query"]),
    ("event_timeline", &["query"]),
    ("manage_status", &["query"]),
    ("trace_service", &["env", "service", "span_name"]),
    ("servicemap", &["service", "filters"]),
    ("slo", &["view_type"]),
    ("group", &["layout_type", "widgets"]),
];

/// Request-based types whose `requests` is a list (scatterplot and hostmap have one object instead).
const LIST_REQUESTS: &[&str] = &[
    "timeseries",
    "query_value",
    "toplist",
    "heatmap",
    "distribution",
    "change",
    "query_table",
    "sunburst",
    "treemap",
    "geomap",
];

fn checked_definition(
    definition: &Map<String, Value>,
    new_id: &mut dyn FnMut() -> i64,
) -> Result<Map<String, Value>, WidgetError> {
    let kind = match definition.get("type") {
        Some(Value::String(kind)) => kind.as_str(),
        Some(other) => return Err(invalid(format!("'type' must be a string, got {other}"))),
        None => return Err(invalid("'type' is a required property")),
    };
    let Some((_, required)) = REQUIRED.iter().find(|(name, _)| *name == kind) else {
        // Unknown types are stored and echoed, never refused: Datadog has more than the lab draws.
        return Ok(definition.clone());
    };
    for field in *required {
        if definition.get(*field).is_none_or(Value::is_null) {
            return Err(invalid(format!("'{field}' is a required property")));
        }
    }
    for field in ["title", "title_size", "title_align", "content", "text", "url"] {
        if let Some(value) = definition.get(field).filter(|v| !v.is_string() && !v.is_null()) {
            return Err(invalid(format!("'{field}' must be a string, got {value}")));
        }
    }
    let mut out = definition.clone();
    if LIST_REQUESTS.contains(&kind) {
        let requests = definition["requests"].as_array().ok_or_else(|| {
            invalid(format!(
                "'requests' must be an array, got {}",
                definition["requests"]
            ))
        })?;
        if requests.is_empty() {
            return Err(invalid("'requests' must contain at least 1 item"));
        }
        if kind == "query_value" && requests.len() > 1 {
            return Err(invalid("'requests' must contain at most 1 item"));
        }
        for (index, request) in requests.iter().enumerate() {
            check_request(kind, request).map_err(|error| match error {
                WidgetError::Invalid(e) => WidgetError::Invalid(format!("requests[{index}]: {e}")),
                query => query,
            })?;
        }
    } else if matches!(kind, "scatterplot" | "hostmap") {
        let requests = definition["requests"].as_object().ok_or_else(|| {
            invalid(format!(
                "'requests' must be an object, got {}",
                definition["requests"]
            ))
        })?;
        for (key, request) in requests {
            check_request(kind, request).map_err(|error| match error {
                WidgetError::Invalid(e) => WidgetError::Invalid(format!("requests.{key}: {e}")),
                query => query,
            })?;
        }
    } else if kind == "group" {
        // Groups flow their widgets in a grid whatever the dashboard's layout (`WidgetLayoutType` has only
        // `ordered`), so nested widgets need no `layout`.
        if definition["layout_type"] != "ordered" {
            return Err(invalid(format!(
                "'layout_type' of a group must be 'ordered', got {}",
                definition["layout_type"]
            )));
        }
        let widgets = definition["widgets"].as_array().ok_or_else(|| {
            invalid(format!(
                "'widgets' must be an array, got {}",
                definition["widgets"]
            ))
        })?;
        let mut checked = Vec::with_capacity(widgets.len());
        for (position, widget) in widgets.iter().enumerate() {
            if widget
                .get("definition")
                .and_then(|d| d.get("type"))
                .and_then(Value::as_str)
                == Some("group")
            {
                return Err(invalid(format!(
                    "widgets[{position}] of the group: a group cannot contain another group"
                )));
            }
            checked
                .push(checked_widget(widget, LayoutType::Ordered, new_id).map_err(|e| e.nested(position))?);
        }
        out.insert("widgets".to_owned(), Value::Array(checked));
    }
    Ok(out)
}

/// One request: its metric queries parse, and the fields the lab reads have the right shape.
fn check_request(kind: &str, request: &Value) -> Result<(), WidgetError> {
    let request = request
        .as_object()
        .ok_or_else(|| invalid(format!("{request} is not of type 'object'")))?;
    if kind == "timeseries"
        && let Some(display) = request.get("display_type").filter(|v| !v.is_null())
        && !matches!(display.as_str(), Some("line" | "area" | "bars" | "overlay"))
    {
        return Err(invalid(format!(
            "'display_type' must be one of 'line', 'area', 'bars', 'overlay', got {display}"
        )));
    }
    if let Some(q) = request.get("q").filter(|v| !v.is_null()) {
        let q = q
            .as_str()
            .ok_or_else(|| invalid(format!("'q' must be a string, got {q}")))?;
        ddlab_query::parse(q).map_err(|err| WidgetError::Query(err.to_string()))?;
    }
    let mut names = Vec::new();
    if let Some(queries) = request.get("queries").filter(|v| !v.is_null()) {
        let queries = queries
            .as_array()
            .ok_or_else(|| invalid(format!("'queries' must be an array, got {queries}")))?;
        for (index, query) in queries.iter().enumerate() {
            let name = query
                .get("name")
                .and_then(Value::as_str)
                .ok_or_else(|| invalid(format!("'name' is a required property of queries[{index}]")))?;
            let data_source = query.get("data_source").and_then(Value::as_str).ok_or_else(|| {
                invalid(format!(
                    "'data_source' is a required property of queries[{index}]"
                ))
            })?;
            if matches!(data_source, "metrics" | "cloud_cost") {
                let text = query
                    .get("query")
                    .and_then(Value::as_str)
                    .ok_or_else(|| invalid(format!("'query' is a required property of queries[{index}]")))?;
                if data_source == "metrics" {
                    ddlab_query::parse(text).map_err(|err| WidgetError::Query(err.to_string()))?;
                }
            }
            names.push(name);
        }
    }
    if let Some(formulas) = request.get("formulas").filter(|v| !v.is_null()) {
        let formulas = formulas
            .as_array()
            .ok_or_else(|| invalid(format!("'formulas' must be an array, got {formulas}")))?;
        for (index, formula) in formulas.iter().enumerate() {
            let text = formula
                .get("formula")
                .and_then(Value::as_str)
                .ok_or_else(|| invalid(format!("'formula' is a required property of formulas[{index}]")))?;
            ddlab_query::parse_formula(text, &names).map_err(|err| WidgetError::Query(err.to_string()))?;
        }
    }
    Ok(())
}

/// `template_variables`: a list of `{name, prefix, default, defaults, available_values, type}`; `null`
/// when absent.
pub(crate) fn template_variables(value: Option<&Value>) -> Result<Value, String> {
    let variables = match value {
        None | Some(Value::Null) => return Ok(Value::Null),
        Some(Value::Array(variables)) => variables,
        Some(_) => return Err("'template_variables' is invalid".to_owned()),
    };
    let mut names: Vec<&str> = Vec::new();
    for (index, variable) in variables.iter().enumerate() {
        let invalid =
            |why: &str| format!("'template_variables' is invalid: template_variables[{index}]: {why}");
        let object = variable.as_object().ok_or_else(|| invalid("not an object"))?;
        let name = match object.get("name") {
            Some(Value::String(name)) if !name.is_empty() => name.as_str(),
            Some(_) => return Err(invalid("'name' must be a non-empty string")),
            None => return Err(invalid("'name' is a required property")),
        };
        if !name
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '_' | '-' | '.'))
        {
            return Err(invalid(&format!(
                "'name' may hold letters, digits, '_', '-' and '.', got '{name}'"
            )));
        }
        if names.contains(&name) {
            return Err(invalid(&format!("the name '{name}' is used twice")));
        }
        names.push(name);
        for key in ["prefix", "default", "type"] {
            if object.get(key).is_some_and(|v| !v.is_string() && !v.is_null()) {
                return Err(invalid(&format!("'{key}' must be a string or null")));
            }
        }
        for key in ["defaults", "available_values"] {
            match object.get(key) {
                None | Some(Value::Null) => {}
                Some(Value::Array(items)) if items.iter().all(Value::is_string) => {
                    if key == "defaults" && items.iter().any(|v| v.as_str() == Some("")) {
                        return Err("Minimum length of parameter 'defaults' should be 1".to_owned());
                    }
                }
                Some(_) => return Err(invalid(&format!("'{key}' must be a list of strings"))),
            }
        }
    }
    Ok(Value::Array(variables.clone()))
}

fn optional_string(object: &Map<String, Value>, key: &str) -> Result<Option<String>, String> {
    match object.get(key) {
        None | Some(Value::Null) => Ok(None),
        Some(Value::String(text)) => Ok(Some(text.clone())),
        Some(other) => Err(format!("'{key}' must be a string, got {other}")),
    }
}

fn string_list(object: &Map<String, Value>, key: &str, max: usize) -> Result<Option<Vec<String>>, String> {
    match object.get(key) {
        None | Some(Value::Null) => Ok(None),
        Some(Value::Array(items)) => {
            if items.len() > max {
                return Err(format!("'{key}' must contain at most {max} items"));
            }
            items
                .iter()
                .map(|item| {
                    item.as_str()
                        .map(str::to_owned)
                        .ok_or_else(|| format!("'{key}' must be a list of strings, got {item}"))
                })
                .collect::<Result<Vec<_>, _>>()
                .map(Some)
        }
        Some(other) => Err(format!("'{key}' must be a list of strings, got {other}")),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ids() -> impl FnMut() -> i64 {
        let mut next = 100;
        move || {
            next += 1;
            next
        }
    }

    fn check(body: Value) -> Result<DashboardBody, String> {
        dashboard_body(&body, &mut ids())
    }

    fn timeseries(q: &str) -> Value {
        json!({"definition": {"type": "timeseries", "requests": [{"q": q, "display_type": "line"}]}})
    }

    #[test]
    fn widgets_get_ids_and_unknown_types_are_kept_verbatim() {
        let body = json!({
            "title": "t", "layout_type": "ordered",
            "widgets": [
                timeseries("avg:my_metric{host:$host}"),
                {"id": 7, "definition": {"type": "sparkle_chart", "anything": {"goes": [1, 2]}}},
                {"definition": {"type": "group", "layout_type": "ordered", "title": "g",
                    "widgets": [{"definition": {"type": "note", "content": "hi"}}]}}
            ]
        });
        let checked = check(body).unwrap();
        let widgets = checked.fields["widgets"].as_array().unwrap();
        assert_eq!(widgets[0]["id"], 101);
        assert_eq!(
            widgets[1],
            json!({"id": 7, "definition": {"type": "sparkle_chart", "anything": {"goes": [1, 2]}}})
        );
        assert_eq!(widgets[2]["id"], 102);
        assert_eq!(widgets[2]["definition"]["widgets"][0]["id"], 103);
        assert_eq!(checked.fields["template_variables"], Value::Null);
        assert_eq!(checked.fields["description"], Value::Null);
        assert_eq!(checked.fields["restricted_roles"], json!([]));
        assert!(!checked.fields.contains_key("reflow_type"));
    }

    #[test]
    fn errors_name_the_field_and_the_widget_position() {
        let cases: &[(Value, &str)] = &[
            (json!([]), "The request body must be a JSON object"),
            (
                json!({"layout_type": "ordered", "widgets": []}),
                "'title' is a required property",
            ),
            (
                json!({"title": "t", "widgets": []}),
                "'layout_type' is a required property",
            ),
            (
                json!({"title": "t", "layout_type": "grid", "widgets": []}),
                "'layout_type' must be one of 'ordered', 'free', got 'grid'",
            ),
            (
                json!({"title": "t", "layout_type": "ordered"}),
                "'widgets' is a required property",
            ),
            (
                json!({"title": "t", "layout_type": "free", "widgets": [timeseries("avg:m{*}")]}),
                "Invalid widget at position 0. Error: 'layout' is a required property",
            ),
            (
                json!({"title": "t", "layout_type": "ordered", "widgets": [timeseries("avg:m{*}"),
                    {"definition": {"type": "timeseries"}}]}),
                "Invalid widget at position 1. Error: 'requests' is a required property",
            ),
            (
                json!({"title": "t", "layout_type": "ordered", "widgets": [
                    {"definition": {"type": "timeseries", "requests": [{"q": "avg:m{*}", "display_type": "pie"}]}}]}),
                "Invalid widget at position 0. Error: requests[0]: 'display_type' must be one of 'line', 'area', 'bars', 'overlay', got \"pie\"",
            ),
            (
                json!({"title": "t", "layout_type": "ordered", "widgets": [timeseries("avg:m{*}"), timeseries("avg:m{*}"),
                    timeseries("anomalies(avg:mysql.performance.cpu_time{*}, basic, 2)")]}),
                "Invalid query in widget at position 2. Error: unable to parse anomalies(avg:mysql.performance.cpu_time{*}, basic, 2): Rule 'scope_expr' didn't match at ', 2)' (line 1, column 51).",
            ),
            (
                json!({"title": "t", "layout_type": "ordered", "widgets": [
                    {"definition": {"type": "group", "layout_type": "ordered", "widgets": [
                        {"definition": {"type": "note"}}]}}]}),
                "Invalid widget at position 0. Error: widgets[0] of the group: 'content' is a required property",
            ),
            (
                json!({"title": "t", "layout_type": "free", "widgets": [
                    {"layout": {"x": 0, "y": 0, "width": 4, "height": 4},
                     "definition": {"type": "group", "layout_type": "free", "widgets": []}}]}),
                "Invalid widget at position 0. Error: 'layout_type' of a group must be 'ordered', got \"free\"",
            ),
            (
                json!({"title": "t", "layout_type": "ordered", "is_read_only": true, "widgets": []}),
                READ_ONLY_DEPRECATED,
            ),
            (
                json!({"title": "t", "layout_type": "ordered", "widgets": [], "template_variables": {"name": "x"}}),
                "'template_variables' is invalid",
            ),
            (
                json!({"title": "t", "layout_type": "ordered", "widgets": [], "template_variables": [{"prefix": "x"}]}),
                "'template_variables' is invalid: template_variables[0]: 'name' is a required property",
            ),
            (
                json!({"title": "t", "layout_type": "ordered", "widgets": [], "template_variables": [{"name": "x", "defaults": [""]}]}),
                "Minimum length of parameter 'defaults' should be 1",
            ),
            (
                json!({"title": "t", "layout_type": "free", "reflow_type": "auto", "widgets": []}),
                "'reflow_type' is only valid for layout_type 'ordered'",
            ),
        ];
        for (body, expected) in cases {
            assert_eq!(check(body.clone()).unwrap_err(), *expected, "{body}");
        }
    }

    #[test]
    fn formulas_and_template_variables_parse() {
        let body = json!({
            "title": "Checkout", "layout_type": "ordered", "is_read_only": false,
            "template_variables": [{"name": "env", "prefix": "env", "available_values": [], "defaults": ["dev"]}],
            "widgets": [{"definition": {"type": "timeseries", "requests": [{
                "response_format": "timeseries",
                "queries": [{"data_source": "metrics", "name": "q1", "query": "sum:trace.errors{service:checkout,$env.value}.as_count()"},
                            {"data_source": "logs", "name": "q2", "search": {"query": "status:error"}}],
                "formulas": [{"formula": "q1 / q2"}]}]}}]
        });
        let checked = check(body).unwrap();
        assert_eq!(
            checked.fields["template_variables"][0]["defaults"],
            json!(["dev"])
        );
        let bad = json!({"title": "t", "layout_type": "ordered", "widgets": [{"definition": {"type": "timeseries",
            "requests": [{"queries": [{"data_source": "metrics", "name": "a", "query": "avg:m{*}"}],
                          "formulas": [{"formula": "a + b"}]}]}}]});
        let error = check(bad).unwrap_err();
        assert!(
            error.starts_with("Invalid query in widget at position 0. Error: "),
            "{error}"
        );
    }
}
