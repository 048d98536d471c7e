"""Properties of the Wyoming server's input side: the event reader takes any bytes a peer may send, and the text
stream buffer hands back exactly the text it was given."""

import asyncio

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from wyoming.event import Event  # noqa: E402

from luxtts.wyoming.events import BadEvent, read_event  # noqa: E402
from luxtts.wyoming.sentences import MAX_PENDING, SentenceBuffer  # noqa: E402


def read_all(data: bytes):
    """Every event in ``data``, until the end or the first BadEvent (returned last)."""

    async def run():
        reader = asyncio.StreamReader(limit=1024)
        reader.feed_data(data)
        reader.feed_eof()
        got = []
        for _ in range(len(data) + 1):
            try:
                event = await read_event(reader)
            except BadEvent as exc:
                return got + [exc]
            if event is None:
                return got
            got.append(event)
        raise AssertionError("the reader did not advance")

    return asyncio.run(run())


HEADERS = st.one_of(
    st.binary(max_size=200),
    st.builds(lambda t, d: (('{"type": %s, "data": %s}' % (t, d)) + "\n").encode(),
              st.sampled_from(['"synthesize"', '"describe"', "5", "null", '""']),
              st.sampled_from(["{}", '{"text": "hi"}', "[]", "null", '"x"'])),
    st.builds(lambda n, tail: b'{"type": "x", "data_length": %d}\n' % n + tail,
              st.integers(-5, 3000), st.binary(max_size=50)),
)


@settings(max_examples=300, deadline=None)
@given(st.lists(HEADERS, max_size=4))
def test_any_bytes_give_events_or_one_bad_event_never_another_exception(parts):
    got = read_all(b"".join(parts))
    assert all(isinstance(e, Event) for e in got[:-1])
    if got and isinstance(got[-1], BadEvent):
        assert str(got[-1]) and got[-1].code


@settings(max_examples=300, deadline=None)
@given(st.lists(st.text(alphabet=st.sampled_from(list("ab .!?,\n3。")), max_size=30), max_size=12))
def test_the_sentence_buffer_loses_and_invents_nothing(pieces):
    buffer = SentenceBuffer()
    out = [buffer.add(p) for p in pieces] + [buffer.finish()]
    text = "".join(pieces)
    # the sentences handed out are the text's own slices, in order, stripped of the whitespace between them
    assert "".join("".join(out).split()) == "".join(text.split())
    assert all(o == o.strip() for o in out)


def test_a_sentence_is_complete_only_once_something_follows_it():
    buffer = SentenceBuffer()
    assert buffer.add("It costs 3.") == ""  # may still become 3.5
    assert buffer.add("5 euros. Then") == "It costs 3.5 euros."
    assert buffer.finish() == "Then"


def test_text_that_never_ends_a_sentence_is_still_spoken_in_bounded_pieces():
    buffer = SentenceBuffer()
    said = buffer.add("word " * (MAX_PENDING // 4))
    assert said and len(said) <= MAX_PENDING
