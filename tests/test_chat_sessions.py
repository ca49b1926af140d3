"""The caller's sessions through the edge: listing with filters and signed page tokens, one session with its message
history in pages, full-text search over the caller's own messages with <mark> snippets, and handoff to another
agent (the marker message, later turns answered by the target, the refusals)."""

from __future__ import annotations

import random
import string
import uuid
from typing import Any

import aiohttp
import pytest

from tests.harness import GatewayThread
from tests.helpers.accounts import register_users
from tests.helpers.agents import new_agent
from tests.helpers.chat import chat, messages_of, sse, turn
from tests.helpers.http import api
from tests.helpers.workspaces import add_member, new_workspace_id


@pytest.fixture(scope="module")
def users(gateway: GatewayThread) -> list[dict]:
    return register_users(gateway, 2)


def tamper(token: str) -> str:
    """The same token with one character changed."""
    middle = len(token) // 2
    return token[:middle] + ("A" if token[middle] != "A" else "B") + token[middle + 1 :]


def rare_word() -> str:
    """A made-up word no other test writes (letters only, so the English parser keeps it whole)."""
    return "zq" + "".join(random.choice(string.ascii_lowercase) for _ in range(9))


async def said(http: aiohttp.ClientSession, account: dict, body: dict[str, Any], workspace: str | None = None) -> dict:
    status, answer, _ = await chat(http, account, body, workspace=workspace)
    assert status == 200, answer
    return answer


async def sessions_page(
    http: aiohttp.ClientSession, account: dict, workspace: str | None = None, **params: Any
) -> tuple[int, Any]:
    status, body, _ = await api(
        http, "GET", "/sessions", account, workspace=workspace, params={k: str(v) for k, v in params.items()}
    )
    return status, body


# ---------------------------------------------------------------------------------------------------------------
# GET /sessions


async def test_list_filters_by_status_agent_and_surface_most_recent_first(
    http: aiohttp.ClientSession, users: list[dict]
) -> None:
    owner = users[0]
    team = await new_workspace_id(http, owner, "Sessions list")
    first_agent, second_agent = await new_agent(http, owner, team), await new_agent(http, owner, team)
    s1 = (await said(http, owner, turn(first_agent, "one"), team))["sessionId"]
    s2 = (await said(http, owner, turn(first_agent, "two"), team))["sessionId"]
    s3 = (await said(http, owner, turn(second_agent, "three", surface="web"), team))["sessionId"]
    s4 = (await said(http, owner, turn(first_agent, "four", surface="slack"), team))["sessionId"]
    status, body, _ = await api(http, "POST", "/agent/reset", owner, workspace=team, json={"sessionId": s2})
    assert body["reset"] is True

    status, body = await sessions_page(http, owner, team)
    assert status == 200, body
    assert [s["id"] for s in body["sessions"]] == [s4, s3, s2, s1]
    assert body["nextPageToken"] == ""
    latest = body["sessions"][0]
    assert {k: latest[k] for k in ("agentId", "workspaceId", "userId", "surface", "status", "messageCount")} == {
        "agentId": first_agent,
        "workspaceId": team,
        "userId": owner["user"]["id"],
        "surface": "slack",
        "status": "active",
        "messageCount": 2,
    }
    assert latest["surfaceId"] and latest["createdAt"] <= latest["lastActivityAt"]

    for params, expected in [
        ({"status": "active"}, [s4, s3, s1]),
        ({"status": "archived"}, [s2]),
        ({"agentId": second_agent}, [s3]),
        ({"surface": "slack"}, [s4]),
        ({"status": "active", "agentId": first_agent}, [s4, s1]),
        ({"status": "archived", "surface": "web"}, []),
    ]:
        status, body = await sessions_page(http, owner, team, **params)
        assert (status, [s["id"] for s in body["sessions"]]) == (200, expected), params

    # Another member of the workspace sees none of them; in their own workspace the owner's are absent too.
    other = users[1]
    await add_member(http, owner, team, other, "member")
    status, body = await sessions_page(http, other, team)
    assert (status, body["sessions"]) == (200, [])
    status, body = await sessions_page(http, owner)
    assert not {s1, s2, s3, s4} & {s["id"] for s in body["sessions"]}


async def test_list_pages_with_signed_tokens(http: aiohttp.ClientSession, users: list[dict]) -> None:
    owner = users[0]
    team = await new_workspace_id(http, owner, "Sessions pages")
    agent = await new_agent(http, owner, team)
    created = [(await said(http, owner, turn(agent, f"m{i}"), team))["sessionId"] for i in range(5)]

    seen: list[str] = []
    token = ""
    for _ in range(10):
        status, body = await sessions_page(http, owner, team, limit=2, pageToken=token)
        assert status == 200, body
        assert len(body["sessions"]) <= 2
        seen += [s["id"] for s in body["sessions"]]
        token = body["nextPageToken"]
        if not token:
            break
    assert seen == created[::-1]

    status, body = await sessions_page(http, owner, team, limit=2)
    token = body["nextPageToken"]
    for bad in (tamper(token), token + "x", "not-a-token"):
        status, answer = await sessions_page(http, owner, team, limit=2, pageToken=bad)
        assert (status, answer["error"]["code"]) == (400, "INVALID_ARGUMENT"), (bad, answer)
    # A token is bound to its list: other filters or another workspace refuse it.
    status, answer = await sessions_page(http, owner, team, limit=2, pageToken=token, status="active")
    assert status == 400, answer
    status, answer = await sessions_page(http, owner, None, limit=2, pageToken=token)
    assert status == 400, answer

    for params in ({"status": "bogus"}, {"limit": -1}):
        status, answer = await sessions_page(http, owner, team, **params)
        assert status == 400, (params, answer)
    status, body = await sessions_page(http, owner, team, limit=1000)  # capped, not refused
    assert (status, len(body["sessions"])) == (200, 5)


# ---------------------------------------------------------------------------------------------------------------
# GET /sessions/:id


async def test_get_returns_the_session_and_its_history_in_pages(http: aiohttp.ClientSession, users: list[dict]) -> None:
    owner, other = users
    agent = await new_agent(http, owner)
    surface_id = uuid.uuid4().hex
    for text in ("first words", "second words", "third words"):
        session_id = (await said(http, owner, turn(agent, text, surface_id)))["sessionId"]
    expected = [
        ("user", "first words"),
        ("assistant", "Echo: first words"),
        ("user", "second words"),
        ("assistant", "Echo: second words"),
        ("user", "third words"),
        ("assistant", "Echo: third words"),
    ]

    status, body, _ = await api(http, "GET", f"/sessions/{session_id}", owner)
    assert status == 200, body
    assert body["session"]["id"] == session_id and body["session"]["messageCount"] == 6
    assert [(m["role"], m["content"]) for m in body["messages"]] == expected
    assert body["nextPageToken"] == ""
    user_message, answer = body["messages"][0], body["messages"][1]
    assert user_message["id"].startswith("msg_") and user_message["sessionId"] == session_id
    assert "usage" not in user_message
    assert answer["agentId"] == agent
    assert answer["usage"] == {"promptTokens": 2, "completionTokens": 3, "totalTokens": 5, "costUsd": 0}
    assert answer["toolCalls"] == [] and answer["createdAt"] >= user_message["createdAt"]

    pages: list[list[tuple[str, str]]] = []
    token = ""
    for _ in range(5):
        params = {"limit": "4", **({"pageToken": token} if token else {})}
        status, body, _ = await api(http, "GET", f"/sessions/{session_id}", owner, params=params)
        assert status == 200, body
        pages.append([(m["role"], m["content"]) for m in body["messages"]])
        token = body["nextPageToken"]
        if not token:
            break
    assert [len(p) for p in pages] == [4, 2]
    assert sorted(m for page in pages for m in page) == sorted(expected)  # each once, whichever way pages run
    assert all(p == sorted(p, key=expected.index) for p in pages)  # oldest first within a page

    status, body, _ = await api(http, "GET", f"/sessions/{session_id}", owner, params={"limit": "4"})
    token = body["nextPageToken"]
    status, answer, _ = await api(http, "GET", f"/sessions/{session_id}", owner, params={"pageToken": tamper(token)})
    assert status == 400, answer
    other_session = (await said(http, owner, turn(agent, "elsewhere")))["sessionId"]
    status, answer, _ = await api(http, "GET", f"/sessions/{other_session}", owner, params={"pageToken": token})
    assert status == 400, answer  # a token is bound to its session

    status, answer, _ = await api(http, "GET", f"/sessions/{session_id}", other)
    assert (status, answer["error"]["code"]) == (404, "NOT_FOUND"), answer
    status, answer, _ = await api(http, "GET", "/sessions/ses_doesnotexist", owner)
    assert status == 404, answer


async def test_the_first_history_page_holds_the_latest_messages(http: aiohttp.ClientSession, users: list[dict]) -> None:
    owner = users[0]
    agent = await new_agent(http, owner)
    surface_id = uuid.uuid4().hex
    for text in ("oldest", "middle", "newest"):
        session_id = (await said(http, owner, turn(agent, text, surface_id)))["sessionId"]
    status, body, _ = await api(http, "GET", f"/sessions/{session_id}", owner, params={"limit": "2"})
    assert status == 200, body
    assert [m["content"] for m in body["messages"]] == ["newest", "Echo: newest"]
    status, body, _ = await api(
        http, "GET", f"/sessions/{session_id}", owner, params={"limit": "2", "pageToken": body["nextPageToken"]}
    )
    assert [m["content"] for m in body["messages"]] == ["middle", "Echo: middle"]


# ---------------------------------------------------------------------------------------------------------------
# GET /sessions/search/messages


async def search(
    http: aiohttp.ClientSession, account: dict, workspace: str | None = None, **params: Any
) -> tuple[int, Any]:
    status, body, _ = await api(
        http,
        "GET",
        "/sessions/search/messages",
        account,
        workspace=workspace,
        params={k: str(v) for k, v in params.items()},
    )
    return status, body


async def test_search_ranks_and_marks_matches_in_the_callers_messages_only(
    http: aiohttp.ClientSession, users: list[dict]
) -> None:
    owner, other = users
    word = rare_word()
    team = await new_workspace_id(http, owner, "Search")
    await add_member(http, owner, team, other, "member")
    mine, theirs = await new_agent(http, owner, team), await new_agent(http, owner, team)
    text = f"The {word} migrates north every spring"
    once = await said(http, owner, turn(mine, text), team)
    thrice = await said(http, owner, turn(mine, f"{word} and {word} and {word} again"), team)
    # The other member says exactly the same, in the same workspace and in their own.
    their_team_session = (await said(http, other, turn(theirs, text), team))["sessionId"]
    their_agent = await new_agent(http, other)
    their_ids = {their_team_session, (await said(http, other, turn(their_agent, text)))["sessionId"]}

    status, body = await search(http, owner, team, q=word)
    assert status == 200, body
    hits = body["hits"]
    assert {h["sessionId"] for h in hits} == {once["sessionId"], thrice["sessionId"]}
    assert not {h["sessionId"] for h in hits} & their_ids
    assert len(hits) == 4  # each turn's user message and its echo
    assert {h["role"] for h in hits} == {"user", "assistant"}
    assert all(f"<mark>{word}</mark>" in h["snippet"] for h in hits), hits
    assert all(h["agentId"] == mine and h["messageId"].startswith("msg_") and h["createdAt"] for h in hits)
    scores = [h["score"] for h in hits]
    assert scores == sorted(scores, reverse=True)
    assert {h["sessionId"] for h in hits[:2]} == {thrice["sessionId"]}  # three matches outrank one
    assert hits[0]["score"] > hits[-1]["score"]
    assert any(h["snippet"].count("<mark>") == 3 for h in hits[:2])

    # The other member finds only their own copy of the same text.
    status, body = await search(http, other, team, q=word)
    assert {h["sessionId"] for h in body["hits"]} == {their_team_session}
    assert len(body["hits"]) == 2
    # And searching in another workspace finds nothing of the team's.
    status, body = await search(http, owner, None, q=word)
    assert (status, body["hits"]) == (200, [])

    # Filters and the query syntax.
    status, body = await search(http, owner, team, q=word, role="user")
    assert [h["messageId"] for h in body["hits"]] and {h["role"] for h in body["hits"]} == {"user"}
    status, body = await search(http, owner, team, q=f"{word} -north")
    assert {h["sessionId"] for h in body["hits"]} == {thrice["sessionId"]}
    status, body = await search(http, owner, team, q=f'"{word} migrates"')
    assert {h["sessionId"] for h in body["hits"]} == {once["sessionId"]}
    status, body = await search(http, owner, team, q=word, agentId="some-other-agent")
    assert body["hits"] == []


async def test_search_snippets_escape_html_and_keep_only_the_mark_tags(
    http: aiohttp.ClientSession, users: list[dict]
) -> None:
    owner = users[0]
    word = rare_word()
    agent = await new_agent(http, owner)
    # ts_headline drops the tags its parser knows, but passes these (and any text) through as they were written.
    text = f"<img src=x onerror=alert(1)> {word} & <img/src/onerror=alert(2)> \x02 {word}"
    await said(http, owner, turn(agent, text))
    status, body = await search(http, owner, q=word, role="user")
    assert status == 200, body
    [hit] = body["hits"]
    snippet = hit["snippet"]
    assert "<img" not in snippet, snippet
    assert "&lt;img src=x onerror=alert(1)&gt;" in snippet, snippet
    assert "&amp; &lt;img/src/onerror=alert(2)&gt;" in snippet, snippet
    assert snippet.count(f"<mark>{word}</mark>") == 2, snippet
    # No other tag survives: every '<' left in the snippet opens or closes a mark.
    assert snippet.count("<") == snippet.count("<mark>") + snippet.count("</mark>") == 4, snippet


async def test_search_pages_and_validates(http: aiohttp.ClientSession, users: list[dict]) -> None:
    owner = users[0]
    word = rare_word()
    agent = await new_agent(http, owner)
    for i in range(3):
        await said(http, owner, turn(agent, f"{word} number {i}"))
    seen: list[str] = []
    token = ""
    for _ in range(10):
        status, body = await search(http, owner, q=word, limit=4, **({"pageToken": token} if token else {}))
        assert status == 200, body
        seen += [h["messageId"] for h in body["hits"]]
        token = body["nextPageToken"]
        if not token:
            break
    assert len(seen) == len(set(seen)) == 6

    status, body = await search(http, owner, q=word, limit=4)
    status, answer = await search(http, owner, q=word, limit=4, pageToken=tamper(body["nextPageToken"]))
    assert status == 400, answer
    status, answer = await search(http, owner, q="other words", limit=4, pageToken=body["nextPageToken"])
    assert status == 400, answer  # bound to its query
    for params in ({"q": ""}, {"q": "   "}, {"q": "x" * 501}, {"q": word, "role": "robot"}):
        status, answer = await search(http, owner, **params)
        assert (status, answer["error"]["code"]) == (400, "INVALID_ARGUMENT"), (params, answer)


# ---------------------------------------------------------------------------------------------------------------
# POST /sessions/:id/handoff


async def test_handoff_inserts_a_marker_and_later_turns_go_to_the_target(
    http: aiohttp.ClientSession, gateway: GatewayThread, users: list[dict]
) -> None:
    owner = users[0]
    source = await new_agent(http, owner)
    target = await new_agent(http, owner, skills=["math"])  # only the target can use the calculator
    surface_id = uuid.uuid4().hex
    question = '/tool calculator {"expression": "2+2"}'
    before = await said(http, owner, turn(source, question, surface_id))
    assert before["content"] == f"Echo: {question}"
    session_id = before["sessionId"]

    status, body, _ = await api(
        http,
        "POST",
        f"/sessions/{session_id}/handoff",
        owner,
        json={"targetAgentId": target, "note": "needs arithmetic"},
    )
    assert status == 200, body
    assert body["previousAgentId"] == source
    assert body["session"]["id"] == session_id and body["session"]["agentId"] == target
    assert body["session"]["messageCount"] == 3
    marker_id = body["handoffMessageId"]

    status, history, _ = await api(http, "GET", f"/sessions/{session_id}", owner)
    marker = history["messages"][-1]
    assert marker["id"] == marker_id and marker["role"] == "system"
    assert marker["content"] == f"Handoff from {source} to {target}: needs arithmetic"

    # Continued by id, the session is now the target's: the calculator answers.
    status, events = await sse(http, owner, {"sessionId": session_id, "message": question})
    assert status == 200, events
    assert events[0][1]["agentId"] == target and events[0][1]["created"] is False
    assert events[-1][1]["content"] == "calculator returned: 4"
    rows = await messages_of(gateway, session_id)
    assert {r["agent_id"] for r in rows if r["role"] in ("assistant", "tool")} >= {target}
    assert rows[-1]["agent_id"] == target
    # Naming the original agent with the session id is accepted (it is still the session's origin).
    answer = await said(http, owner, {"sessionId": session_id, "agentId": source, "message": question})
    assert answer["content"] == "calculator returned: 4"
    status, body = await sessions_page(http, owner, agentId=target)
    assert session_id in [s["id"] for s in body["sessions"]]


async def test_after_a_handoff_turns_on_the_same_surface_go_to_the_target(
    http: aiohttp.ClientSession, gateway: GatewayThread, users: list[dict]
) -> None:
    owner = users[0]
    source, target = await new_agent(http, owner), await new_agent(http, owner, skills=["math"])
    surface_id = uuid.uuid4().hex
    question = '/tool calculator {"expression": "3*3"}'
    session_id = (await said(http, owner, turn(source, "hello", surface_id, surface="web")))["sessionId"]
    status, body, _ = await api(http, "POST", f"/sessions/{session_id}/handoff", owner, json={"targetAgentId": target})
    assert status == 200, body
    status, events = await sse(http, owner, turn(source, question, surface_id, surface="web"))
    assert status == 200, events
    assert events[0][1]["sessionId"] == session_id
    assert events[0][1]["agentId"] == target
    assert events[-1][1]["content"] == "calculator returned: 9"


async def test_handoff_refusals(http: aiohttp.ClientSession, users: list[dict]) -> None:
    owner, other = users
    source = await new_agent(http, owner)
    session_id = (await said(http, owner, turn(source, "hi")))["sessionId"]
    path = f"/sessions/{session_id}/handoff"
    foreign = await new_agent(http, other)  # in the other user's workspace, not granted
    restricted_team = await new_workspace_id(http, owner, "Handoff restricted")

    for body, status_code, code in [
        ({"targetAgentId": "no-such-agent-z9"}, 404, "NOT_FOUND"),
        ({"targetAgentId": foreign}, 403, "PERMISSION_DENIED"),
        ({"targetAgentId": source}, 400, "INVALID_ARGUMENT"),
        ({}, 400, "INVALID_ARGUMENT"),
        ({"targetAgentId": foreign, "note": "n" * 2001}, 400, "INVALID_ARGUMENT"),
    ]:
        status, answer, _ = await api(http, "POST", path, owner, json=body)
        assert (status, answer["error"]["code"]) == (status_code, code), (body, answer)

    # Someone else's session does not exist for the caller.
    other_target = await new_agent(http, other)
    status, answer, _ = await api(http, "POST", path, other, json={"targetAgentId": other_target})
    assert status == 404, answer

    # A target whose model the workspace may not use is refused.
    team_source = await new_agent(http, owner, restricted_team)
    team_target = await new_agent(http, owner, restricted_team, model="anthropic/claude-sonnet-4-0")
    status, answer, _ = await api(
        http, "PUT", f"/workspaces/{restricted_team}/restrictions", owner, json={"allowedProviders": ["local"]}
    )
    assert status == 200, answer
    team_session = (await said(http, owner, turn(team_source, "hi"), restricted_team))["sessionId"]
    status, answer, _ = await api(
        http,
        "POST",
        f"/sessions/{team_session}/handoff",
        owner,
        workspace=restricted_team,
        json={"targetAgentId": team_target},
    )
    assert (status, answer["error"]["code"]) == (403, "PERMISSION_DENIED"), answer

    # An archived session cannot be handed off.
    target = await new_agent(http, owner)
    status, answer, _ = await api(http, "POST", "/agent/reset", owner, json={"sessionId": session_id})
    assert answer["reset"] is True
    status, answer, _ = await api(http, "POST", path, owner, json={"targetAgentId": target})
    assert (status, answer["error"]["code"]) == (409, "FAILED_PRECONDITION"), answer


async def test_handoff_to_an_agent_granted_read_only_is_refused(http: aiohttp.ClientSession, users: list[dict]) -> None:
    owner, other = users
    shared = await new_agent(http, other)
    status, body, _ = await api(
        http,
        "POST",
        f"/workspaces/{other['workspaceId']}/grants",
        other,
        json={"receivingWorkspaceId": owner["workspaceId"], "agentId": shared, "readonly": True},
    )
    assert status == 200, body
    status, body, _ = await chat(http, owner, turn(shared, "can I chat?"))
    assert status == 403, body  # read-only grants are for looking, not chatting
    session_id = (await said(http, owner, turn(await new_agent(http, owner), "hi")))["sessionId"]
    status, body, _ = await api(http, "POST", f"/sessions/{session_id}/handoff", owner, json={"targetAgentId": shared})
    assert status == 403, body
