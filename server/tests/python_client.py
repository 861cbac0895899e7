"""A chat client not written in Rust: two Python `websockets` clients join, talk, and resume.

Usage: python3 python_client.py ws://127.0.0.1:PORT/ws   (exit code 0 on success)
"""
import asyncio
import json
import sys

import websockets


async def next_frame(ws, kind):
    while True:
        frame = json.loads(await asyncio.wait_for(ws.recv(), 5))
        if frame["type"] == kind:
            return frame


async def main(url):
    async with websockets.connect(url) as ada, websockets.connect(url) as bob:
        await ada.send(json.dumps({"type": "join", "room": "py", "nick": "ada", "client_id": "py-ada"}))
        welcome = await next_frame(ada, "welcome")
        assert welcome["you"] == "ada", welcome
        await bob.send(json.dumps({"type": "join", "room": "py", "nick": "bob", "client_id": "py-bob"}))
        await next_frame(bob, "welcome")
        await ada.send(json.dumps({"type": "say", "client_msg_id": "1", "text": "hello from python"}))
        ack = await next_frame(ada, "ack")
        assert ack == {"type": "ack", "client_msg_id": "1", "seq": 1}, ack
        message = await next_frame(bob, "message")
        assert message["body"] == {"kind": "text", "text": "hello from python"}, message
        assert message["from"] == "ada" and message["seq"] == 1, message
        await ada.send("ping")
        while (reply := await asyncio.wait_for(ada.recv(), 5)) != "pong":
            assert json.loads(reply)["type"] in ("message", "joined"), reply
    # Resume: a new connection with last_seq 0 gets the message in history.
    async with websockets.connect(url) as carol:
        await carol.send(json.dumps({"type": "join", "room": "py", "nick": "carol", "client_id": "py-carol", "last_seq": 0}))
        welcome = await next_frame(carol, "welcome")
        assert [m["seq"] for m in welcome["history"]] == [1], welcome
    print("python client: ok")


asyncio.run(main(sys.argv[1]))
