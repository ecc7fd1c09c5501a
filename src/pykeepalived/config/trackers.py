"""Tracked objects: the ``vrrp_script``, ``track_file`` and ``vrrp_track_process`` definitions,
and the references to them (with an optional ``weight`` and ``reverse``) in instances and sync
groups.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, TypeVar

from pykeepalived.config import model as m
from pykeepalived.config.parser import Statement
from pykeepalived.config.values import Values, each, line, word_loc

T = TypeVar("T")


def track_ref(v: Values, st: Statement, cls: Callable[..., T], lo: int, hi: int,
              default_weight: int | None) -> T:
    """A reference to a tracked object: its name, then ``weight N`` (`lo`..`hi`) and
    ``reverse`` in any order."""
    words = line(st)
    weight = default_weight
    reverse = False
    given = False
    i = 1
    while i < len(words):
        word = words[i]
        if word == "weight" and i + 1 < len(words):
            try:
                weight = int(words[i + 1])
                if not lo <= weight <= hi:
                    raise ValueError
            except ValueError:
                v.diags.mistake(
                    word_loc(st, i + 1), f"weight for {words[0]} must be {lo}..{hi}"
                )
                weight = default_weight
            i += 2
            continue
        if word == "reverse":
            reverse = given = True
        elif word in ("noreverse", "no_reverse"):
            given = True
        else:
            v.diags.mistake(word_loc(st, i), f"unknown option '{word}' for {words[0]}")
        i += 1
    extra: dict[str, Any] = {} if cls is m.TrackInterface else {"reverse_given": given}
    return cls(name=words[0], weight=weight, reverse=reverse, loc=st.loc, **extra)


def vrrp_script(v: Values, st: Statement) -> m.VrrpScript | None:
    name = st.words[0] if st.words else None
    if name is None:
        v.diags.mistake(st.loc, "vrrp_script needs a name")
        return None
    opts: dict[str, Any] = {}
    for s in each(st.block):
        k = s.keyword
        val: Any = None
        if k == "script":
            val = v.command(s)
        elif k in ("interval", "timeout"):
            val = v.number(s, 0.000001, 2**31)
        elif k == "weight":
            val = v.integer(s, -253, 253)
            if len(s.words) > 1:
                if s.words[1] == "reverse":
                    opts["reverse"] = True
                elif s.words[1] not in ("noreverse", "no_reverse"):
                    v.diags.mistake(s.arg_loc(1), f"unknown weight option '{s.words[1]}'")
        elif k in ("rise", "fall"):
            val = v.integer(s, 1, 2**31 - 1)
        elif k == "user":
            val = v.string(s)
            if len(s.words) > 1:
                opts["group"] = s.words[1]
        elif k == "init_fail":
            val = True
        if val is not None:
            opts[k] = val
    if not opts.get("script"):
        # keepalived removes such a script at the end of its block and says so there.
        v.diags.mistake(st.end_loc, f"no script set for vrrp_script {name} - removing")
        return None
    return m.VrrpScript(name=name, loc=st.loc, **opts)


def track_file_def(v: Values, st: Statement) -> m.TrackFileDef | None:
    if not st.words:
        v.diags.mistake(st.loc, f"{st.keyword} needs a name")
        return None
    name = st.words[0]
    opts: dict[str, Any] = {}
    for s in each(st.block):
        if s.keyword == "file":
            opts["file"] = v.string(s)
        elif s.keyword == "weight":
            w = v.integer(s, -254, 254)
            if w is not None:
                opts["weight"] = w
            opts["reverse"] = "reverse" in s.words[1:]
        elif s.keyword == "init_file":
            words = s.words
            value = 0
            if words and words[0] != "overwrite":
                value = v.integer(s, -2**31, 2**31 - 1) or 0
            opts["init_file"] = value
            opts["init_file_overwrite"] = "overwrite" in words
    if not opts.get("file"):
        v.diags.mistake(st.end_loc, f"no file set for track_file {name} - removing")
        return None
    return m.TrackFileDef(name=name, loc=st.loc, **opts)


def track_process_def(v: Values, st: Statement) -> m.TrackProcessDef | None:
    if not st.words:
        v.diags.mistake(st.loc, "vrrp_track_process needs a name")
        return None
    name = st.words[0]
    opts: dict[str, Any] = {}
    for s in each(st.block):
        k = s.keyword
        if k == "process":
            opts["process"] = v.string(s)
        elif k == "param_match":
            opts["param_match"] = v.string(s)
        elif k == "weight":
            w = v.integer(s, -254, 254)
            if w is not None:
                opts["weight"] = w
            opts["reverse"] = "reverse" in s.words[1:]
        elif k in ("quorum", "quorum_max"):
            q = v.integer(s, 0, 65535)
            if q is not None:
                opts[k] = q
        elif k in ("delay", "terminate_delay", "fork_delay"):
            delay = v.number(s, 0, 3600)
            if delay is not None:
                opts[k] = delay
                # keepalived: ``delay`` sets both, a later terminate_/fork_delay one of them.
                if k == "delay":
                    opts["terminate_delay"] = opts["fork_delay"] = delay
        elif k == "full_command":
            opts[k] = True
    if not opts.get("process"):
        v.diags.mistake(st.end_loc, f"no process set for vrrp_track_process {name}")
        return None
    return m.TrackProcessDef(name=name, loc=st.loc, **opts)
