"""The pure parts: the tolerant parser, template rendering and checks, key encryption and redaction."""

from __future__ import annotations

from pathlib import Path

import pytest

from app.synthesis.parsing import ParseError, parse_conversations
from app.synthesis.prompts import DEFAULT_TEMPLATE, TemplateError, check_template, render_messages
from app.synthesis.secrets import SecretUnreadable, decrypt, encrypt, redact

PAIR = [{"role": "user", "content": "q"}, {"role": "assistant", "content": "a"}]
U, A = '{"role": "user", "content": "q"}', '{"role": "assistant", "content": "a"}'


@pytest.mark.parametrize(
    "text",
    [
        '{"messages": [{"role": "user", "content": "q"}, {"role": "assistant", "content": "a"}]}',
        '```json\n{"messages": [' + U + ", " + A + ",]}\n```",
        'Here you go: {"question": "q", "answer": "a"} Hope it helps!',
        '{"conversations": [{"from": "human", "value": "q"}, {"from": "gpt", "value": "a"}]}',
        "Q: q\nA: a",
        "问：q\n答：a",
        "用户：q\n助手：a",
        "[" + U + ", " + A + ', {"role": "user", "content": "x"}]',
    ],
)
def test_tolerant_parser_reads_common_forms(text: str) -> None:
    assert parse_conversations(text) == [PAIR]


def test_parser_keeps_several_conversations_and_multi_turn() -> None:
    text = '[{"question": "1", "answer": "2"}, {"question": "3", "answer": "4"}]'
    turns = [("user", "1"), ("assistant", "2"), ("user", "3"), ("assistant", "4")]
    assert parse_conversations(text) == [[{"role": r, "content": c} for r, c in turns]]
    one = '{"messages": [' + U + ", " + A + "]}"
    many = '{"data": [' + one + ", " + one + "]}"
    assert len(parse_conversations(many)) == 2


@pytest.mark.parametrize(
    "text", ["", "just prose", '{"answer": "no question"}', "A: only an answer\nA: again"]
)
def test_unusable_answers_raise_parse_error(text: str) -> None:
    with pytest.raises(ParseError):
        parse_conversations(text)


def test_render_fills_variables_and_keeps_json_examples() -> None:
    messages = render_messages(DEFAULT_TEMPLATE, {"topic": "睡眠", "n": 1, "turns": 2, "seed": ""})
    assert messages[1] == {"role": "user", "content": "主题：睡眠"}
    system = messages[0]["content"]
    assert DEFAULT_TEMPLATE["role"] in system and "Limits:" in system and "共 2 轮" in system
    assert '{"messages": [{"role": "user"' in system  # braces of the JSON example are not variables


def test_unknown_variable_is_named() -> None:
    with pytest.raises(TemplateError, match="mood"):
        check_template({**DEFAULT_TEMPLATE, "prompt": "{topic} in a {mood} tone"})
    check_template({**DEFAULT_TEMPLATE, "prompt": "{topic} in a {mood} tone", "variables": {"mood": "calm"}})


def test_keys_round_trip_and_need_the_server_secret(tmp_path: Path) -> None:
    token = encrypt("sk-abcdefghijklmnop", tmp_path / "a")
    assert "abcdefgh" not in token and decrypt(token, tmp_path / "a") == "sk-abcdefghijklmnop"
    assert (tmp_path / "a" / "server_secret.key").stat().st_mode & 0o077 == 0
    with pytest.raises(SecretUnreadable):
        decrypt(token, tmp_path / "b")


def test_redact_removes_the_key_and_echoed_pieces() -> None:
    key = "sk-proj-1234567890abcdefXYZ"
    message = f"Incorrect API key provided: sk-proj-********abcdefXYZ; full {key}"
    cleaned = redact(message, key)
    assert key not in cleaned and "abcdefXYZ" not in cleaned


def test_an_endpoint_answering_a_page_is_reported_not_crashed_on() -> None:
    """Found wiring the studio's own deployments: a sign-in page (HTML, 200) came back where a completion
    was expected, the client handed it over as text, and the child crashed with an AttributeError."""
    import threading
    from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

    from app.synthesis.caller import Caller, EndpointError

    class Page(BaseHTTPRequestHandler):
        def do_POST(self) -> None:  # noqa: N802
            self.rfile.read(int(self.headers.get("content-length") or 0))
            body = b"<html><body>Sign in</body></html>"
            self.send_response(200)
            self.send_header("Content-Type", "text/html")
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, *args: object) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Page)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        caller = Caller(base_url=f"http://127.0.0.1:{server.server_port}/v1", api_key="k" * 20, model="m")
        with pytest.raises(EndpointError) as raised:
            caller.chat([{"role": "user", "content": "hi"}])
        assert raised.value.fatal and "not answer with an OpenAI chat completion" in str(raised.value)
        assert "Sign in" in str(raised.value)
    finally:
        server.shutdown()
        server.server_close()
