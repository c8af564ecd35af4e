"""A node's log: text by default, or one JSON object per line (`log_format: "json"`,
`lichen node run --log-format json`) for a log shipper.

A JSON line is {"time": ISO 8601 UTC, "level", "node", "event", "logger", "message",
"fields": {...}}. What an operator alerts on carries an event name, given as a `logging` extra
(`extra={"event": "peer_refused", "fields": {...}}`; `note()` below keeps call sites short):

  peer_refused        a peer's handshake, link or Raft message refused (fields: peer, reason)
  peer_up, peer_down  a peer link came up or went down
  peer_unreachable    dialling a peer failed (once per outage at INFO)
  connection_refused  a client connection over the connection limits
  leader_elected      this node became the leader
  stepped_down        this node was the leader and is no longer
  role_changed        any other change of role (follower, candidate, observer, ...)
  membership_proposed, membership_changed, membership_skipped   Raft membership (voters, learners)
  faults_set, faults_cleared   devnet faults on this node's peer links
  store_recovered     the node restarted from its store at a height (recovery of a crash too)
  catch_up_started, catch_up_failed, caught_up   fetching blocks beyond the Raft log
  resync_started      a node wiped by `lichen node resync` starts refetching the chain
  resync_done         a wiped node holds what was committed and votes again
  node_started, node_stopping

Lines without one have the event "log". Strings are clipped: a peer may put anything in
what it sends, and a log line must stay a line of bounded size.
"""
from __future__ import annotations

import json
import logging
import sys
from datetime import UTC, datetime
from typing import Any

FORMATS = ("text", "json")
MAX_FIELD_CHARS = 300
MAX_MESSAGE_CHARS = 2_000

# The attributes every LogRecord has: anything else on a record came in as an extra.
_STANDARD = frozenset(vars(logging.LogRecord("", 0, "", 0, "", (), None))) | {
    "message", "asctime", "event", "fields", "taskName"}


def note(logger: logging.Logger, level: int, event: str, message: str, *args: Any,
         **fields: Any) -> None:
    """Log `message % args` with an event name and structured fields."""
    logger.log(level, message, *args, extra={"event": event, "fields": fields})


def clip(value: Any, limit: int = MAX_FIELD_CHARS) -> Any:
    """Strings cut to `limit` characters; containers clipped element by element."""
    if isinstance(value, str):
        return value if len(value) <= limit else value[:limit] + "…"
    if isinstance(value, bytes):
        return clip(value.hex(), limit)
    if isinstance(value, dict):
        return {clip(str(k), 64): clip(v, limit) for k, v in list(value.items())[:50]}
    if isinstance(value, (list, tuple, set, frozenset)):
        items = sorted(value, key=str) if isinstance(value, (set, frozenset)) else list(value)
        return [clip(v, limit) for v in items[:50]]
    if value is None or isinstance(value, (bool, int, float)):
        return value
    return clip(str(value), limit)


class JsonFormatter(logging.Formatter):
    """One JSON object per line."""

    def __init__(self, node: str):
        super().__init__()
        self.node = node

    def format(self, record: logging.LogRecord) -> str:
        fields = dict(getattr(record, "fields", None) or {})
        fields.update({k: v for k, v in vars(record).items() if k not in _STANDARD})
        if record.exc_info:
            fields["exception"] = self.formatException(record.exc_info)
        doc = {
            "time": datetime.fromtimestamp(record.created, UTC).isoformat(timespec="milliseconds")
                    .replace("+00:00", "Z"),
            "level": record.levelname,
            "node": self.node,
            "event": getattr(record, "event", None) or "log",
            "logger": record.name,
            "message": clip(record.getMessage(), MAX_MESSAGE_CHARS),
            "fields": {k: clip(v, MAX_FIELD_CHARS if k != "exception" else MAX_MESSAGE_CHARS)
                       for k, v in fields.items()},
        }
        return json.dumps(doc, ensure_ascii=False)


def text_formatter(node: str) -> logging.Formatter:
    return logging.Formatter(f"%(asctime)s {node} %(levelname)s %(name)s: %(message)s")


def configure(node: str, level: str = "INFO", fmt: str = "text", stream=None) -> None:
    """The process's root logger writes `fmt` lines for node `node` to `stream` (stderr)."""
    if fmt not in FORMATS:
        raise ValueError(f"log_format is one of {', '.join(FORMATS)}, not {fmt!r}")
    handler = logging.StreamHandler(stream or sys.stderr)
    handler.setFormatter(JsonFormatter(node) if fmt == "json" else text_formatter(node))
    root = logging.getLogger()
    for old in list(root.handlers):
        root.removeHandler(old)
    root.addHandler(handler)
    root.setLevel(level.upper())
    logging.captureWarnings(True)  # a Python warning is a log line too, not a stray stderr one
