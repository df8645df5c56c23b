//! A one-off task's output, read back from CloudWatch Logs: the `awslogs` driver writes a
//! container's output to the stream `<awslogs-stream-prefix>/<container>/<task id>` of
//! the group `awslogs-group` (its own options in the task definition).

use anyhow::Result;
use serde_json::{json, Value};

use super::api::Aws;
use super::model;

/// Where the `awslogs` driver puts `container`'s output for the task `task_id`, as the
/// task definition `definition` (JSON) configures it; `None` for another log driver or
/// none.
pub fn stream_of(definition: &Value, container: &str, task_id: &str) -> Option<(String, String)> {
    let containers = definition.get("containerDefinitions")?.as_array()?;
    let ours = containers
        .iter()
        .find(|c| c.get("name").and_then(Value::as_str) == Some(container))?;
    let config = ours.get("logConfiguration")?;
    if config.get("logDriver").and_then(Value::as_str) != Some("awslogs") {
        return None;
    }
    let option = |name: &str| {
        config
            .pointer(&format!("/options/{name}"))
            .and_then(Value::as_str)
            .map(str::to_owned)
    };
    let group = option("awslogs-group")?;
    let prefix = option("awslogs-stream-prefix")?;
    Some((group, format!("{prefix}/{container}/{task_id}")))
}

/// The messages of `stream` in `group`, oldest first (`GetLogEvents` from the head, page
/// after page until the token stops moving; at most 50 pages).
pub fn read(aws: &Aws, group: &str, stream: &str) -> Result<Vec<String>> {
    let mut messages = Vec::new();
    let mut token: Option<String> = None;
    for _ in 0..50 {
        let mut body = json!({ "logGroupName": group, "logStreamName": stream, "startFromHead": true });
        if let Some(token) = &token {
            body["nextToken"] = json!(token);
        }
        let page: model::LogEvents = aws.logs("GetLogEvents", &body)?;
        let empty = page.events.is_empty();
        messages.extend(page.events.into_iter().map(|e| e.message));
        if empty || page.next_forward_token.is_none() || page.next_forward_token == token {
            break;
        }
        token = page.next_forward_token;
    }
    Ok(messages)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_awslogs_stream_is_named_by_prefix_container_and_task() {
        let definition = json!({"containerDefinitions": [
            {"name": "log-router", "image": "x"},
            {"name": "web", "logConfiguration": {"logDriver": "awslogs", "options": {
                "awslogs-group": "/ecs/oc-lettings", "awslogs-region": "eu-west-1", "awslogs-stream-prefix": "ecs"}}}
        ]});
        assert_eq!(
            stream_of(&definition, "web", "0123abcd"),
            Some(("/ecs/oc-lettings".to_owned(), "ecs/web/0123abcd".to_owned()))
        );
        assert_eq!(stream_of(&definition, "log-router", "0123abcd"), None);
        let firelens =
            json!({"containerDefinitions": [{"name": "web", "logConfiguration": {"logDriver": "awsfirelens"}}]});
        assert_eq!(stream_of(&firelens, "web", "x"), None);
    }
}
