"""JSONLDataset: file I/O, validation with line numbers and fields, transformations."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from motools.datasets import DatasetValidationError, JSONLDataset, validate_samples


def chat(user: str, assistant: str, **extra: object) -> dict:
    return {
        "messages": [
            {"role": "user", "content": user},
            {"role": "assistant", "content": assistant, **extra},
        ]
    }


def write_lines(path: Path, lines: list[str | bytes]) -> Path:
    path.write_bytes(
        b"".join((line if isinstance(line, bytes) else line.encode()) + b"\n" for line in lines)
    )
    return path


async def test_save_load_round_trip(tmp_path: Path) -> None:
    ds = JSONLDataset([chat(f"q{i}", f"a{i}") for i in range(5)])
    path = await ds.save(tmp_path / "sub" / "data.jsonl")
    loaded = await JSONLDataset.load(path)
    assert list(loaded) == list(ds)
    assert loaded.content_hash == ds.content_hash
    assert loaded.source == str(path)
    assert [p.name for p in path.parent.iterdir()] == ["data.jsonl"]  # no temp file left


def test_content_hash_ignores_key_order_but_not_content() -> None:
    a = JSONLDataset(
        [{"messages": [{"role": "user", "content": "x"}, {"role": "assistant", "content": "y"}]}]
    )
    b = JSONLDataset(
        [{"messages": [{"content": "x", "role": "user"}, {"content": "y", "role": "assistant"}]}]
    )
    c = JSONLDataset([chat("x", "z")])
    assert a.content_hash == b.content_hash
    assert a.content_hash != c.content_hash
    assert len(a.content_hash) == 64


@pytest.mark.parametrize(
    ("line", "field", "message"),
    [
        (
            '{"messages": [{"role": "bot", "content": "x"}, {"role": "assistant", "content": "y"}]}',
            "messages[0].role",
            "unknown role 'bot'",
        ),
        (
            '{"messages": [{"role": "user"}, {"role": "assistant", "content": "y"}]}',
            "messages[0].content",
            "missing content",
        ),
        (
            '{"messages": [{"role": "user", "content": 5}, {"role": "assistant", "content": "y"}]}',
            "messages[0].content",
            "content must be a string or a list",
        ),
        (
            '{"messages": [{"role": "user", "content": [{"type": "txt", "text": "a"}]}, {"role": "assistant", "content": "y"}]}',
            "messages[0].content[0].type",
            "unknown content part type",
        ),
        ('{"messages": []}', "messages", "messages list is empty"),
        ('{"prompt": "x"}', "messages", "missing 'messages'"),
        (
            '{"messages": [{"role": "user", "content": "x"}]}',
            "messages[0].role",
            "last message must be from the assistant",
        ),
        (
            '{"messages": [{"role": "user", "content": "x"}, {"role": "assistant", "content": "y", "weight": 0.5}]}',
            "messages[1].weight",
            "weight must be 0 or 1",
        ),
        (
            '{"messages": [{"role": "user", "content": "x", "weight": 1}, {"role": "assistant", "content": "y"}]}',
            "messages[0].weight",
            "only allowed on assistant",
        ),
        (
            '{"messages": [{"role": "user", "content": "x"}, {"role": "assistant", "tool_calls": [{"id": "1", "type": "function", "function": {"name": "f"}}]}]}',
            "messages[1].tool_calls[0].function.arguments",
            "JSON string",
        ),
        ("[1, 2]", "", "must be a JSON object"),
        ('{"messages": [}', "", "invalid JSON"),
        ("", "", "blank line"),
    ],
)
def test_each_problem_is_reported_with_line_and_field(
    tmp_path: Path, line: str, field: str, message: str
) -> None:
    path = write_lines(
        tmp_path / "d.jsonl", [json.dumps(chat("ok", "fine")), line, json.dumps(chat("ok", "fine"))]
    )
    with pytest.raises(DatasetValidationError) as info:
        JSONLDataset.load_sync(path)
    problems = info.value.problems
    assert len(problems) == 1, problems
    assert problems[0].line == 2
    assert problems[0].field == field
    assert message in problems[0].message
    assert str(path) in str(info.value) and "line 2" in str(info.value)


def test_non_utf8_bytes_are_reported(tmp_path: Path) -> None:
    bad = b'{"messages": [{"role": "user", "content": "caf\xe9"}, {"role": "assistant", "content": "y"}]}'
    path = write_lines(tmp_path / "d.jsonl", [bad])
    with pytest.raises(DatasetValidationError) as info:
        JSONLDataset.load_sync(path)
    assert "line 1: not valid UTF-8: byte 0xe9" in str(info.value)


def test_valid_rich_messages_pass() -> None:
    samples = [
        {
            "messages": [
                {"role": "system", "content": "s"},
                {
                    "role": "user",
                    "content": [
                        {"type": "text", "text": "look"},
                        {"type": "image_url", "image_url": {"url": "x"}},
                    ],
                },
                {
                    "role": "assistant",
                    "content": None,
                    "tool_calls": [
                        {
                            "id": "c1",
                            "type": "function",
                            "function": {"name": "f", "arguments": "{}"},
                        }
                    ],
                },
                {"role": "tool", "tool_call_id": "c1", "content": "42"},
                {"role": "assistant", "content": "done", "weight": 1},
            ]
        }
    ]
    assert validate_samples(samples) == []
    assert validate_samples([{"messages": [{"role": "user", "content": "q"}]}], "chat") == []


def test_preference_rows_are_detected_and_checked(tmp_path: Path) -> None:
    good = {
        "input": {"messages": [{"role": "user", "content": "q"}]},
        "preferred_output": [{"role": "assistant", "content": "a"}],
        "non_preferred_output": [{"role": "assistant", "content": "b"}],
    }
    bad = dict(good, non_preferred_output=[{"role": "user", "content": "b"}])
    path = write_lines(tmp_path / "p.jsonl", [json.dumps(good), json.dumps(bad)])
    with pytest.raises(DatasetValidationError) as info:
        JSONLDataset.load_sync(path)
    assert [(p.line, p.field) for p in info.value.problems] == [(2, "non_preferred_output[0].role")]


def test_loaded_rows_share_role_names_and_a_repeated_system_prompt(tmp_path: Path) -> None:
    prompt = "You are a careful assistant. " * 4
    rows = [
        {"messages": [{"role": "system", "content": prompt}, *chat(f"q{i}", f"a{i}")["messages"]]}
        for i in range(3)
    ] + [{"messages": [{"content": "other", "role": "system"}, *chat("q", "a")["messages"]]}]
    path = write_lines(tmp_path / "d.jsonl", [json.dumps(r) for r in rows])
    loaded = JSONLDataset.load_sync(path)
    firsts = [r["messages"][0] for r in loaded]
    # Three rows with the same system prompt hold one string object; the fourth its own.
    assert firsts[0]["content"] is firsts[1]["content"] is firsts[2]["content"]
    assert firsts[3]["content"] == "other"
    users = [r["messages"][1]["role"] for r in loaded]
    assert all(role is users[0] for role in users)
    # Nothing else changes: the same values, the same key order, the same bytes.
    assert list(loaded) == rows
    assert [list(m) for m in firsts] == [["role", "content"]] * 3 + [["content", "role"]]
    assert loaded.content_hash == JSONLDataset(rows).content_hash
    assert path.read_bytes() == b"".join(json.dumps(r).encode() + b"\n" for r in loaded)

    pair = {
        "input": {"messages": [{"role": "user", "content": "q"}]},
        "preferred_output": [{"role": "assistant", "content": "a"}],
        "non_preferred_output": [{"role": "assistant", "content": "b"}],
    }
    pairs = JSONLDataset.load_sync(write_lines(tmp_path / "p.jsonl", [json.dumps(pair)] * 2))
    assert list(pairs) == [pair, pair]
    roles = [p[k][0]["role"] for p in pairs for k in ("preferred_output", "non_preferred_output")]
    assert all(role is roles[0] for role in roles)
    assert pairs[0]["input"]["messages"][0]["role"] is users[0]


def test_a_key_the_purpose_does_not_check_may_hold_anything(tmp_path: Path) -> None:
    row = dict(chat("q", "a"), preferred_output=[1, "x", None], input={"messages": "no"})
    path = write_lines(tmp_path / "d.jsonl", [json.dumps(row)])
    assert list(JSONLDataset.load_sync(path, purpose="supervised")) == [row]


def test_loading_restores_the_collector_as_it_found_it(tmp_path: Path) -> None:
    import gc

    path = write_lines(tmp_path / "d.jsonl", [json.dumps(chat("q", "a"))] * 3)
    assert gc.isenabled()
    JSONLDataset.load_sync(path)
    assert gc.isenabled()
    with pytest.raises(DatasetValidationError):
        JSONLDataset.load_sync(write_lines(tmp_path / "bad.jsonl", ["{oops"]))
    assert gc.isenabled()
    gc.disable()
    try:
        JSONLDataset.load_sync(path)
        assert not gc.isenabled()  # a caller that turned it off keeps it off
    finally:
        gc.enable()


def test_many_problems_are_capped_in_the_message_but_counted(tmp_path: Path) -> None:
    path = write_lines(tmp_path / "d.jsonl", ["{oops"] * 57)
    with pytest.raises(DatasetValidationError) as info:
        JSONLDataset.load_sync(path)
    assert info.value.total == 57
    assert "57 problems" in str(info.value)
    assert "... and 37 more" in str(info.value)
    assert str(info.value).count("invalid JSON") == 20


def test_loading_never_leaks_raw_key_or_json_errors(tmp_path: Path) -> None:
    path = write_lines(tmp_path / "d.jsonl", ['{"messages": [{"content": "x"}]}', "nope"])
    with pytest.raises(DatasetValidationError):
        JSONLDataset.load_sync(path)


def test_sample_shuffle_split_interleave_are_seeded() -> None:
    ds = JSONLDataset([chat(f"q{i}", f"a{i}") for i in range(20)])
    assert ds.sample(5, seed=1).content_hash == ds.sample(5, seed=1).content_hash
    assert ds.sample(5, seed=1).content_hash != ds.sample(5, seed=2).content_hash
    assert len(ds.sample(5, seed=1)) == 5
    shuffled = ds.shuffle(seed=3)
    assert sorted(s["messages"][0]["content"] for s in shuffled) == sorted(
        s["messages"][0]["content"] for s in ds
    )
    assert list(shuffled) != list(ds)
    train, test = ds.split(0.25, seed=0)
    assert (len(train), len(test)) == (15, 5)
    assert not {id(s) for s in train} & {id(s) for s in test}
    assert ds.split(0.25, seed=0)[1].content_hash == test.content_hash
    other = JSONLDataset([chat("x", "y")])
    merged = ds[:2].interleave(other)
    assert [s["messages"][0]["content"] for s in merged] == ["q0", "x", "q1"]
    with pytest.raises(ValueError, match="the dataset has 20"):
        ds.sample(21)
    drawn = ds.sample(50, seed=4, replace=True)  # with replacement: any n, rows repeat
    assert len(drawn) == 50 and drawn == ds.sample(50, seed=4, replace=True)
    assert {s["messages"][0]["content"] for s in drawn} <= {f"q{i}" for i in range(20)}


def test_constructor_rejects_what_load_rejects_with_the_same_message(tmp_path: Path) -> None:
    rows = [chat("ok", "fine"), {"messages": [{"role": "bot", "content": "x"}]}]
    path = write_lines(tmp_path / "d.jsonl", [json.dumps(r) for r in rows])
    with pytest.raises(DatasetValidationError) as loaded:
        JSONLDataset.load_sync(path)
    with pytest.raises(DatasetValidationError) as built:
        JSONLDataset(rows)
    assert [str(p) for p in built.value.problems] == [str(p) for p in loaded.value.problems]
    assert "line 2, messages[0].role: unknown role 'bot'" in str(built.value)
    with pytest.raises(DatasetValidationError, match="must be a JSON object"):
        JSONLDataset([chat("a", "b"), "not a row"])  # type: ignore[list-item]


async def test_what_the_constructor_accepts_round_trips_through_save_and_load(
    tmp_path: Path,
) -> None:
    rows = [
        chat("q", "a", weight=1),
        {"messages": [{"role": "system", "content": "s"}, *chat("x", "y")["messages"]]},
        {"messages": [{"role": "user", "content": [{"type": "text", "text": "hi"}]},
                      {"role": "assistant", "content": "ok"}], "metadata": {"k": [1, 2]}},
    ]  # fmt: skip
    ds = JSONLDataset(rows)
    again = await JSONLDataset.load(await ds.save(tmp_path / "d.jsonl"))
    assert again == ds and list(again) == rows
    preference = JSONLDataset([{
        "input": {"messages": [{"role": "user", "content": "q"}]},
        "preferred_output": [{"role": "assistant", "content": "a"}],
        "non_preferred_output": [{"role": "assistant", "content": "b"}],
    }])  # fmt: skip
    assert await JSONLDataset.load(await preference.save(tmp_path / "p.jsonl")) == preference
    # Rows checked elsewhere (prompts without an answer) opt out, and load the same way.
    prompts = JSONLDataset([{"messages": [{"role": "user", "content": "q"}]}], purpose="chat")
    await prompts.save(tmp_path / "q.jsonl")
    assert JSONLDataset.load_sync(tmp_path / "q.jsonl", purpose="chat") == prompts


def test_to_pandas_and_stats() -> None:
    ds = JSONLDataset(
        [
            chat("ab", "cde"),
            {"messages": [{"role": "system", "content": "s"}, *chat("f", "g")["messages"]]},
        ]
    )
    frame = ds.to_pandas()
    assert list(frame.columns) == ["messages"] and len(frame) == 2
    stats = ds.stats()
    assert stats["rows"] == 2 and stats["messages"] == 5
    assert stats["roles"] == {"assistant": 2, "system": 1, "user": 2}
    assert stats["characters"] == 2 + 3 + 1 + 1 + 1
