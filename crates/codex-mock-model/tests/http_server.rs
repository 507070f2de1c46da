//! The mock model over real HTTP on loopback, with a minimal raw HTTP/1.1 client.

use std::net::SocketAddr;
use std::time::Duration;

use codex_mock_model::{MockError, MockModel, MockOptions, Reply, Scenario, UserInputQuestion};
use serde_json::{json, Value};
use tokio::io::{AsyncBufReadExt, AsyncReadExt, AsyncWriteExt, BufReader};
use tokio::net::TcpStream;

const WAIT: Duration = Duration::from_secs(5);

/// A response whose body is read incrementally (chunked or close-delimited).
struct Response {
    status: u16,
    headers: Vec<(String, String)>,
    reader: BufReader<TcpStream>,
    chunked: bool,
    content_length: Option<usize>,
    pending: String,
    finished: bool,
}

async fn send(addr: SocketAddr, method: &str, path: &str, body: Option<&[u8]>) -> Response {
    let mut stream = TcpStream::connect(addr).await.unwrap();
    let body = body.unwrap_or_default();
    let head = format!(
        "{method} {path} HTTP/1.1\r\nhost: {addr}\r\ncontent-type: application/json\r\nx-test: yes\r\n\
         content-length: {}\r\nconnection: close\r\n\r\n",
        body.len()
    );
    stream.write_all(head.as_bytes()).await.unwrap();
    stream.write_all(body).await.unwrap();
    let mut reader = BufReader::new(stream);
    let mut status_line = String::new();
    reader.read_line(&mut status_line).await.unwrap();
    let status: u16 = status_line
        .split_whitespace()
        .nth(1)
        .unwrap()
        .parse()
        .unwrap();
    let mut headers = Vec::new();
    loop {
        let mut line = String::new();
        reader.read_line(&mut line).await.unwrap();
        let line = line.trim_end();
        if line.is_empty() {
            break;
        }
        let (name, value) = line.split_once(':').unwrap();
        headers.push((name.trim().to_ascii_lowercase(), value.trim().to_owned()));
    }
    let header = |name: &str| {
        headers
            .iter()
            .find(|(k, _)| k == name)
            .map(|(_, v)| v.clone())
    };
    let chunked = header("transfer-encoding").is_some_and(|v| v.contains("chunked"));
    let content_length = header("content-length").map(|v| v.parse().unwrap());
    Response {
        status,
        headers,
        reader,
        chunked,
        content_length,
        pending: String::new(),
        finished: false,
    }
}

async fn post(addr: SocketAddr, path: &str, body: &Value) -> Response {
    send(addr, "POST", path, Some(body.to_string().as_bytes())).await
}

impl Response {
    fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(k, _)| k == name)
            .map(|(_, v)| v.as_str())
    }

    /// The next piece of body, `None` at the end.
    async fn next_piece(&mut self) -> Option<Vec<u8>> {
        if self.finished {
            return None;
        }
        if self.chunked {
            let mut size_line = String::new();
            if self.reader.read_line(&mut size_line).await.unwrap() == 0 {
                self.finished = true;
                return None;
            }
            let size = usize::from_str_radix(size_line.trim(), 16).unwrap();
            let mut data = vec![0; size + 2];
            self.reader.read_exact(&mut data).await.unwrap();
            data.truncate(size);
            if size == 0 {
                self.finished = true;
                return None;
            }
            Some(data)
        } else {
            let mut data = vec![0; self.content_length.unwrap_or(64 * 1024)];
            let n = match self.content_length {
                Some(len) => {
                    self.reader.read_exact(&mut data[..len]).await.unwrap();
                    len
                }
                None => self.reader.read(&mut data).await.unwrap(),
            };
            if self.content_length.is_some() || n == 0 {
                self.finished = true;
            }
            data.truncate(n);
            (n > 0).then_some(data)
        }
    }

    async fn text(mut self) -> String {
        let mut out = Vec::new();
        while let Some(piece) = self.next_piece().await {
            out.extend(piece);
        }
        String::from_utf8(out).unwrap()
    }

    async fn json(self) -> Value {
        serde_json::from_str(&self.text().await).unwrap()
    }

    /// The next SSE frame (without its trailing blank line), `None` at the end of the stream.
    async fn next_frame(&mut self) -> Option<String> {
        loop {
            if let Some(end) = self.pending.find("\n\n") {
                let frame = self.pending[..end].to_owned();
                self.pending.drain(..end + 2);
                return Some(frame);
            }
            let piece = self.next_piece().await?;
            self.pending.push_str(std::str::from_utf8(&piece).unwrap());
        }
    }

    /// Reads every remaining frame; parses each `event:`/`data:` frame (comments kept as-is).
    async fn events(&mut self) -> Vec<Value> {
        let mut out = Vec::new();
        while let Some(frame) = self.next_frame().await {
            out.push(parse_frame(&frame));
        }
        out
    }
}

/// Parses `event: T\ndata: J`, checking that the event name equals the data's `type`.
fn parse_frame(frame: &str) -> Value {
    let mut lines = frame.lines();
    let event = lines
        .next()
        .unwrap()
        .strip_prefix("event: ")
        .unwrap_or_else(|| panic!("frame {frame:?}"));
    let data = lines.next().unwrap().strip_prefix("data: ").unwrap();
    assert!(lines.next().is_none(), "one data line per frame: {frame:?}");
    let data: Value = serde_json::from_str(data).unwrap();
    assert_eq!(data["type"], event);
    data
}

fn types(events: &[Value]) -> Vec<&str> {
    events.iter().map(|e| e["type"].as_str().unwrap()).collect()
}

async fn stream_of(reply: Reply) -> Vec<Value> {
    let mock = MockModel::start(Scenario::new([reply])).await.unwrap();
    let mut response = post(mock.addr(), "/v1/responses", &json!({"input": []})).await;
    assert_eq!(response.status, 200);
    assert_eq!(response.header("content-type"), Some("text/event-stream"));
    let events = response.events().await;
    check_envelope(&events);
    events
}

/// created first, completed last with the usage shape codex expects.
fn check_envelope(events: &[Value]) {
    assert_eq!(events.first().unwrap()["type"], "response.created");
    assert_eq!(events.first().unwrap()["response"]["id"], "resp_1");
    let completed = events.last().unwrap();
    assert_eq!(completed["type"], "response.completed");
    let usage = &completed["response"]["usage"];
    assert!(usage["input_tokens"].as_u64().unwrap() > 0);
    assert!(usage["input_tokens_details"].is_null() && usage.get("input_tokens_details").is_some());
    assert!(
        usage["output_tokens_details"].is_null() && usage.get("output_tokens_details").is_some()
    );
    assert_eq!(
        usage["total_tokens"].as_u64().unwrap(),
        usage["input_tokens"].as_u64().unwrap() + usage["output_tokens"].as_u64().unwrap()
    );
}

fn function_call(events: &[Value]) -> (String, Value) {
    assert_eq!(
        types(events),
        [
            "response.created",
            "response.output_item.done",
            "response.completed"
        ]
    );
    let item = &events[1]["item"];
    assert_eq!(item["type"], "function_call");
    assert_eq!(item["call_id"], "call_1");
    let arguments: Value = serde_json::from_str(item["arguments"].as_str().unwrap()).unwrap();
    (item["name"].as_str().unwrap().to_owned(), arguments)
}

#[tokio::test]
async fn text_reply_is_one_message() {
    let events = stream_of(Reply::text("hello")).await;
    assert_eq!(
        types(&events),
        [
            "response.created",
            "response.output_item.done",
            "response.completed"
        ]
    );
    assert_eq!(
        events[1]["item"],
        json!({"type": "message", "role": "assistant", "id": "msg_1",
               "content": [{"type": "output_text", "text": "hello"}]})
    );
}

#[tokio::test]
async fn frames_are_event_then_data_lines() {
    let mock = MockModel::start(Scenario::new([Reply::text("x")]))
        .await
        .unwrap();
    let body = post(mock.addr(), "/v1/responses", &json!({}))
        .await
        .text()
        .await;
    assert!(
        body.starts_with("event: response.created\ndata: {"),
        "{body:?}"
    );
    assert!(body.ends_with("}\n\n"), "{body:?}");
    assert_eq!(body.matches("\n\n").count(), 3);
}

#[tokio::test]
async fn deltas_stream_then_the_concatenated_message() {
    let events = stream_of(Reply::deltas(["a", "b", "c"])).await;
    assert_eq!(
        types(&events),
        [
            "response.created",
            "response.output_item.added",
            "response.output_text.delta",
            "response.output_text.delta",
            "response.output_text.delta",
            "response.output_item.done",
            "response.completed"
        ]
    );
    let deltas: Vec<&str> = events[2..5]
        .iter()
        .map(|e| e["delta"].as_str().unwrap())
        .collect();
    assert_eq!(deltas, ["a", "b", "c"]);
    assert_eq!(events[1]["item"]["type"], "message");
    assert_eq!(events[5]["item"]["content"][0]["text"], "abc");
}

#[tokio::test]
async fn slow_stream_sends_every_delta() {
    let events = stream_of(Reply::slow(["x", "y"], Duration::from_millis(5))).await;
    let deltas: Vec<&str> = events.iter().filter_map(|e| e["delta"].as_str()).collect();
    assert_eq!(deltas, ["x", "y"]);
    assert_eq!(events[events.len() - 2]["item"]["content"][0]["text"], "xy");
}

#[tokio::test]
async fn reasoning_summary_precedes_the_message() {
    let events = stream_of(Reply::reasoning(["plan ", "it"], "answer")).await;
    assert_eq!(
        types(&events),
        [
            "response.created",
            "response.output_item.added",
            "response.reasoning_summary_text.delta",
            "response.reasoning_summary_text.delta",
            "response.output_item.done",
            "response.output_item.done",
            "response.completed"
        ]
    );
    assert_eq!(
        events[4]["item"]["summary"],
        json!([{"type": "summary_text", "text": "plan "}, {"type": "summary_text", "text": "it"}])
    );
    assert_eq!(events[5]["item"]["content"][0]["text"], "answer");
}

#[tokio::test]
async fn shell_is_an_exec_command_call() {
    let (name, arguments) = function_call(&stream_of(Reply::shell("ls -la")).await);
    assert_eq!(name, "exec_command");
    assert_eq!(arguments, json!({"cmd": "ls -la"}));

    let (name, arguments) =
        function_call(&stream_of(Reply::shell_escalated("rm x", "clean up")).await);
    assert_eq!(name, "exec_command");
    assert_eq!(
        arguments,
        json!({"cmd": "rm x", "sandbox_permissions": "require_escalated", "justification": "clean up"})
    );
}

#[tokio::test]
async fn apply_patch_is_a_heredoc_exec_command() {
    let (name, arguments) =
        function_call(&stream_of(Reply::apply_patch("*** Add File: x.txt\n+hi\n")).await);
    assert_eq!(name, "exec_command");
    assert_eq!(
        arguments["cmd"],
        "apply_patch <<'EOF'\n*** Begin Patch\n*** Add File: x.txt\n+hi\n*** End Patch\nEOF\n"
    );
    // Markers already present are not doubled.
    let full = "*** Begin Patch\n*** Delete File: y\n*** End Patch";
    let (_, arguments) = function_call(&stream_of(Reply::apply_patch(full)).await);
    assert_eq!(
        arguments["cmd"],
        "apply_patch <<'EOF'\n*** Begin Patch\n*** Delete File: y\n*** End Patch\nEOF\n"
    );
}

#[tokio::test]
async fn request_user_input_call_has_codex_question_shape() {
    let question = UserInputQuestion::new("db", "Which database?", ["sqlite", "postgres"]);
    let (name, arguments) = function_call(&stream_of(Reply::request_user_input([question])).await);
    assert_eq!(name, "request_user_input");
    assert_eq!(
        arguments,
        json!({"questions": [{"id": "db", "header": "db", "question": "Which database?",
            "options": [{"label": "sqlite", "description": ""}, {"label": "postgres", "description": ""}]}]})
    );
}

#[tokio::test]
async fn generic_function_call_keeps_name_and_arguments() {
    let (name, arguments) = function_call(
        &stream_of(Reply::function_call("view_image", json!({"path": "a.png"}))).await,
    );
    assert_eq!(name, "view_image");
    assert_eq!(arguments, json!({"path": "a.png"}));
}

#[tokio::test]
async fn json_reply_is_a_message_holding_the_value() {
    let events = stream_of(Reply::json(json!({"ok": true, "n": [1, 2]}))).await;
    let text = events[1]["item"]["content"][0]["text"].as_str().unwrap();
    assert_eq!(
        serde_json::from_str::<Value>(text).unwrap(),
        json!({"ok": true, "n": [1, 2]})
    );
}

#[tokio::test]
async fn json_from_schema_answers_a_nested_schema_from_the_request() {
    let schema = json!({
        "type": "object",
        "properties": {
            "name": {"type": "string", "minLength": 2},
            "count": {"type": "integer", "minimum": 1},
            "ratio": {"type": ["number", "null"]},
            "ok": {"type": "boolean"},
            "kind": {"enum": ["first", "second"]},
            "owner": {"$ref": "#/$defs/person"},
            "tags": {"type": "array", "items": {"type": "string"}},
            "people": {"type": "array", "minItems": 1, "items": {"$ref": "#/$defs/person"}},
            "choice": {"anyOf": [{"type": "null"}, {"type": "string", "format": "date-time"}]}
        },
        "required": ["name", "count", "ratio", "ok", "kind", "owner", "tags", "people", "choice"],
        "additionalProperties": false,
        "$defs": {"person": {"type": "object", "properties": {"id": {"type": "integer"},
            "address": {"type": "object", "properties": {"city": {"const": "Paris"}}, "required": ["city"]}},
            "required": ["id", "address"]}}
    });
    let mock = MockModel::start(Scenario::new([
        Reply::json_from_schema(),
        Reply::json_from_schema(),
    ]))
    .await
    .unwrap();
    let request =
        json!({"text": {"format": {"type": "json_schema", "strict": true, "schema": schema}}});
    let mut response = post(mock.addr(), "/v1/responses", &request).await;
    let events = response.events().await;
    let text = events[1]["item"]["content"][0]["text"].as_str().unwrap();
    let person = json!({"id": 0, "address": {"city": "Paris"}});
    assert_eq!(
        serde_json::from_str::<Value>(text).unwrap(),
        json!({"name": "xx", "count": 1, "ratio": 0.0, "ok": false, "kind": "first", "owner": person,
               "tags": [], "people": [person], "choice": "1970-01-01T00:00:00Z"})
    );

    // A request without a schema gets a clear 500.
    let response = post(mock.addr(), "/v1/responses", &json!({"input": []})).await;
    assert_eq!(response.status, 500);
    let body = response.json().await;
    let message = body["error"]["message"].as_str().unwrap();
    assert!(
        message.contains("request #2 has no text.format.schema"),
        "{message}"
    );
}

#[tokio::test]
async fn requests_are_recorded_in_order_with_models_and_404() {
    let mock = MockModel::start(Scenario::new([Reply::text("one"), Reply::text("two")]))
        .await
        .unwrap();
    let addr = mock.addr();
    post(addr, "/v1/responses", &json!({"turn": 1}))
        .await
        .text()
        .await;
    let models = send(addr, "GET", "/v1/models", None).await;
    assert_eq!(models.status, 200);
    assert_eq!(models.json().await, json!({"models": []}));
    let missing = send(addr, "GET", "/v1/nope", None).await;
    assert_eq!(missing.status, 404);
    let body = missing.json().await;
    assert!(body["error"]["message"]
        .as_str()
        .unwrap()
        .contains("no route for GET /v1/nope"));
    post(addr, "/v1/responses", &json!({"turn": 2}))
        .await
        .text()
        .await;

    let requests = mock.requests();
    let summary: Vec<(&str, &str)> = requests
        .iter()
        .map(|r| (r.method.as_str(), r.path.as_str()))
        .collect();
    assert_eq!(
        summary,
        [
            ("POST", "/v1/responses"),
            ("GET", "/v1/models"),
            ("GET", "/v1/nope"),
            ("POST", "/v1/responses")
        ]
    );
    assert_eq!(requests[0].body, json!({"turn": 1}));
    assert_eq!(requests[1].body, Value::Null);
    assert_eq!(requests[0].header("X-Test"), Some("yes"));
    assert_eq!(
        mock.response_requests(),
        [json!({"turn": 1}), json!({"turn": 2})]
    );
    assert_eq!(mock.wait_for_requests(2, WAIT).await.unwrap().len(), 2);
}

#[tokio::test]
async fn wait_for_requests_times_out_with_a_count() {
    let mock = MockModel::start(Scenario::empty()).await.unwrap();
    let err = mock
        .wait_for_requests(1, Duration::from_millis(20))
        .await
        .unwrap_err();
    assert!(matches!(err, MockError::Timeout { .. }), "{err}");
    assert!(err.to_string().contains("got 0"), "{err}");
}

#[tokio::test]
async fn exhausted_queue_is_a_500_naming_the_request() {
    let mock = MockModel::start(Scenario::new([Reply::text("only")]))
        .await
        .unwrap();
    post(mock.addr(), "/v1/responses", &json!({}))
        .await
        .text()
        .await;
    let response = post(mock.addr(), "/v1/responses", &json!({})).await;
    assert_eq!(response.status, 500);
    let body = response.json().await;
    assert_eq!(
        body["error"]["message"],
        "mock model: no scripted reply left for request #2"
    );
}

#[tokio::test]
async fn fallback_serves_every_request_after_the_queue() {
    let mock =
        MockModel::start(Scenario::new([Reply::text("first")]).with_fallback(Reply::text("again")))
            .await
            .unwrap();
    let mut texts = Vec::new();
    for _ in 0..3 {
        let mut response = post(mock.addr(), "/v1/responses", &json!({})).await;
        let events = response.events().await;
        texts.push(
            events[1]["item"]["content"][0]["text"]
                .as_str()
                .unwrap()
                .to_owned(),
        );
    }
    assert_eq!(texts, ["first", "again", "again"]);
}

#[tokio::test]
async fn pushed_replies_are_served_after_the_script() {
    let mock = MockModel::start(Scenario::empty()).await.unwrap();
    mock.push(Reply::text("pushed"));
    assert_eq!(mock.remaining_replies(), 1);
    let mut response = post(mock.addr(), "/v1/responses", &json!({})).await;
    assert_eq!(
        response.events().await[1]["item"]["content"][0]["text"],
        "pushed"
    );
    assert_eq!(mock.remaining_replies(), 0);
}

#[tokio::test]
async fn http_errors_carry_status_and_body() {
    let mock = MockModel::start(Scenario::new([
        Reply::http_error(
            429,
            json!({"error": {"message": "slow down", "type": "rate_limit"}}),
        ),
        Reply::HttpError {
            status: 500,
            body: None,
        },
    ]))
    .await
    .unwrap();
    let response = post(mock.addr(), "/v1/responses", &json!({})).await;
    assert_eq!(response.status, 429);
    assert_eq!(response.json().await["error"]["message"], "slow down");
    let response = post(mock.addr(), "/v1/responses", &json!({})).await;
    assert_eq!(response.status, 500);
    assert!(response.json().await["error"]["message"]
        .as_str()
        .unwrap()
        .contains("scripted HTTP 500"));
}

#[tokio::test]
async fn pushed_non_error_status_is_refused_at_serve_time() {
    let mock = MockModel::start(Scenario::empty()).await.unwrap();
    mock.push(Reply::HttpError {
        status: 200,
        body: None,
    });
    let response = post(mock.addr(), "/v1/responses", &json!({})).await;
    assert_eq!(response.status, 500);
    let message = response.json().await["error"]["message"]
        .as_str()
        .unwrap()
        .to_owned();
    assert!(
        message.contains("status 200; expected 400..=599"),
        "{message}"
    );
}

#[tokio::test]
async fn non_json_body_is_a_400_and_keeps_the_reply() {
    let mock = MockModel::start(Scenario::new([Reply::text("kept")]))
        .await
        .unwrap();
    let response = send(mock.addr(), "POST", "/v1/responses", Some(b"{not json")).await;
    assert_eq!(response.status, 400);
    assert!(response.json().await["error"]["message"]
        .as_str()
        .unwrap()
        .contains("not JSON"));
    assert_eq!(mock.remaining_replies(), 1);
    assert_eq!(mock.response_requests(), [json!("{not json")]);
}

#[tokio::test]
async fn stall_holds_with_keepalives_until_released() {
    let options = MockOptions::default().keepalive_interval(Duration::from_millis(10));
    let mock = MockModel::start_with(Scenario::new([Reply::stall(["par", "tial"])]), options)
        .await
        .unwrap();
    let mut response = post(mock.addr(), "/v1/responses", &json!({})).await;
    let mut head = Vec::new();
    for _ in 0..4 {
        head.push(parse_frame(&response.next_frame().await.unwrap()));
    }
    assert_eq!(
        types(&head),
        [
            "response.created",
            "response.output_item.added",
            "response.output_text.delta",
            "response.output_text.delta"
        ]
    );
    mock.wait_for_stall(WAIT).await.unwrap();
    assert_eq!(mock.stalls_held(), 1);
    assert_eq!(response.next_frame().await.unwrap(), ": keepalive");
    mock.release_stall();
    let mut rest = Vec::new();
    while let Some(frame) = response.next_frame().await {
        if frame != ": keepalive" {
            rest.push(parse_frame(&frame));
        }
    }
    assert_eq!(
        types(&rest),
        ["response.output_item.done", "response.completed"]
    );
    assert_eq!(rest[0]["item"]["content"][0]["text"], "partial");
    assert_eq!(mock.stalls_held(), 0);
}

#[tokio::test]
async fn release_before_the_stall_lets_it_finish_at_once() {
    let mock = MockModel::start(Scenario::new([Reply::stall(["x"])]))
        .await
        .unwrap();
    mock.release_stall();
    let mut response = post(mock.addr(), "/v1/responses", &json!({})).await;
    let events = response.events().await;
    check_envelope(&events);
    assert_eq!(events.len(), 5);
}

#[tokio::test]
async fn stalled_stream_ends_when_the_client_disconnects() {
    let options = MockOptions::default().keepalive_interval(Duration::from_millis(10));
    let mock = MockModel::start_with(Scenario::new([Reply::stall(["x"])]), options)
        .await
        .unwrap();
    let mut response = post(mock.addr(), "/v1/responses", &json!({})).await;
    response.next_frame().await.unwrap();
    mock.wait_for_stall(WAIT).await.unwrap();
    drop(response);
    let mut held = mock.stalls_held();
    for _ in 0..500 {
        if held == 0 {
            break;
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
        held = mock.stalls_held();
    }
    assert_eq!(held, 0, "the stall must end once the client is gone");
}

#[tokio::test]
async fn shutdown_ends_a_stalled_stream() {
    let mock = MockModel::start(Scenario::new([Reply::stall(["x"])]))
        .await
        .unwrap();
    let addr = mock.addr();
    let mut response = post(addr, "/v1/responses", &json!({})).await;
    response.next_frame().await.unwrap();
    mock.wait_for_stall(WAIT).await.unwrap();
    mock.shutdown().await;
    // The stream ends without a response.completed, and the port no longer accepts.
    let rest = response.events().await;
    assert!(
        rest.iter().all(|e| e["type"] != "response.completed"),
        "{rest:?}"
    );
    assert!(TcpStream::connect(addr).await.is_err());
}
