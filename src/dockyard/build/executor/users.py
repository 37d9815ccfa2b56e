"""Resolve a USER string against an image's /etc/passwd and /etc/group, like runc/BuildKit."""

from __future__ import annotations

from dataclasses import dataclass

from dockyard.errors import BuildError

__all__ = ["ResolvedUser", "resolve_user"]


@dataclass(frozen=True, slots=True)
class ResolvedUser:
    """The numeric identity a process runs as."""

    uid: int
    gid: int
    additional_gids: tuple[int, ...] = ()
    home: str = "/"


@dataclass(frozen=True, slots=True)
class _PasswdEntry:
    name: str
    uid: int
    gid: int
    home: str


@dataclass(frozen=True, slots=True)
class _GroupEntry:
    name: str
    gid: int
    members: tuple[str, ...]


def _number(text: str) -> int | None:
    if text.isascii() and text.isdigit():
        return int(text)
    return None


def _parse_passwd(text: str) -> list[_PasswdEntry]:
    entries = []
    for line in text.splitlines():
        line = line.strip()
        if not line or line.startswith("#"):
            continue
        parts = line.split(":")
        parts += [""] * (7 - len(parts))
        uid, gid = _number(parts[2]), _number(parts[3])
        if uid is None:
            continue
        entries.append(_PasswdEntry(parts[0], uid, gid or 0, parts[5]))
    return entries


def _parse_group(text: str) -> list[_GroupEntry]:
    entries = []
    for line in text.splitlines():
        line = line.strip()
        if not line or line.startswith("#"):
            continue
        parts = line.split(":")
        parts += [""] * (4 - len(parts))
        gid = _number(parts[2])
        if gid is None:
            continue
        members = tuple(m for m in parts[3].split(",") if m)
        entries.append(_GroupEntry(parts[0], gid, members))
    return entries


def resolve_user(spec: str, passwd: str | None, group: str | None) -> ResolvedUser:
    """Resolve ``spec`` (``""``, ``user``, ``uid``, ``user:group``, ``uid:gid``, ...).

    A pure function of the USER string and the two files' contents (``None`` when the
    image has no such file), following runc's ``user.GetExecUser`` as BuildKit calls it:
    ``uid:gid`` in numbers needs no files and gets no supplementary groups; a user name
    must exist in passwd; a numeric uid not in passwd runs with gid 0; the primary group
    comes from passwd unless a group is given; without an explicit group, the groups
    that list the user's name become the additional gids.
    """
    spec = spec.strip()
    if not spec:
        return ResolvedUser(0, 0)
    user_part, _, group_part = spec.partition(":")
    uid_num, gid_num = _number(user_part), _number(group_part)
    if uid_num is not None and gid_num is not None:
        return ResolvedUser(uid_num, gid_num)
    users = _parse_passwd(passwd or "")
    found: _PasswdEntry | None = None
    for entry in users:
        if (uid_num is not None and entry.uid == uid_num) or (
            uid_num is None and entry.name == user_part
        ):
            found = entry
            break
    if found is None:
        if uid_num is None:
            raise BuildError(
                f"unable to find user {user_part}: no matching entries in passwd file",
                hint="create the user in the image first, or use a numeric uid",
            )
        if uid_num > 0x7FFFFFFF:
            raise BuildError(f"uid {uid_num} is out of range")
        found = _PasswdEntry("", uid_num, 0, "/")
    uid, gid, home = found.uid, found.gid, found.home or "/"
    groups = _parse_group(group or "")
    additional: list[int] = []
    if group_part:
        if gid_num is not None:
            gid = gid_num
        else:
            match = next((g for g in groups if g.name == group_part), None)
            if match is None:
                raise BuildError(
                    f"unable to find group {group_part}: no matching entries in group file",
                    hint="create the group in the image first, or use a numeric gid",
                )
            gid = match.gid
    elif found.name:
        additional = [g.gid for g in groups if found.name in g.members]
    return ResolvedUser(uid, gid, tuple(additional), home)
