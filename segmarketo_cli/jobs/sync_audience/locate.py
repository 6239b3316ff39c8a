"""The static list sync-audience writes to, and the folder --create-list would create it in (reads only)."""

from __future__ import annotations

from typing import TYPE_CHECKING

from segmarketo_cli.errors import ConfigError
from segmarketo_cli.marketo.lists import ListParent, list_parents
from segmarketo_cli.suggest import did_you_mean

if TYPE_CHECKING:
    from segmarketo_cli.jobs.sync_audience.session import SyncSession
    from segmarketo_cli.marketo.client import MarketoClient


def find_list(session: SyncSession) -> None:
    """Set the session's list id and label; or, for a missing list with --create-list, the folder to create it in.
    ConfigError (exit 2) for a list that is not there."""
    client, opts = session.client, session.options
    if opts.list_id is not None:
        found = client.get_list(opts.list_id)
        if found is None:
            raise ConfigError(f"static list id {opts.list_id} not found in Marketo")
        session.list_id, session.list_label = int(found["id"]), str(found.get("name") or session.list_label)
        return
    name = opts.list_name or ""
    found = client.find_list_by_name(name)
    if found is not None and found.get("name") == name:
        session.list_id = int(found["id"])
        return
    if not opts.create_list:
        raise ConfigError(f"static list '{name}' not found in Marketo{did_you_mean(name, client.list_names())}",
                          hint="check the exact name, or pass --create-list --folder NAME")
    session.folder = find_folder(client, opts.folder or "")
    session.report.notes.append(f"list '{name}' does not exist; "
                                + ("it would be created" if opts.dry_run else "creating it"))


def find_folder(client: MarketoClient, folder: str) -> ListParent:
    """The marketing folder or program --folder names: folder:N / program:N, a full path, or an exact name."""
    given = parse_folder_option(folder)
    if given is not None:
        return given
    path = folder.rstrip("/") if folder.startswith("/") else None
    name = path.rsplit("/", 1)[-1] if path else folder
    usable, other = list_parents(client.find_folders_by_name(name), name)
    if path is not None:
        usable = [p for p in usable if p.path.rstrip("/") == path]
    if not usable:
        kinds = sorted({str(row.get("folderType")) for row in other})
        if other and path is None:
            raise ConfigError(f"folder '{folder}' cannot hold a static list (it is a {', '.join(kinds)} folder)",
                              hint="name a marketing folder or a program (Marketing Activities)")
        raise ConfigError(f"folder '{folder}' not found in Marketo",
                          hint="give the exact name or full path of a marketing folder or program")
    if len(usable) > 1:
        where = "; ".join(f"{p.type.lower()} {p.id} at {p.path or '?'}" for p in usable)
        choices = " or ".join(f"--folder {p.option}" for p in usable)
        raise ConfigError(f"folder name '{folder}' is ambiguous, {len(usable)} matches: {where}",
                          hint=f"pass {choices}, or the full path, e.g. --folder '{usable[0].path}'")
    return usable[0]


def parse_folder_option(value: str) -> ListParent | None:
    """--folder folder:N (or the older id:N) and program:N; None for a name or path."""
    kind, sep, number = value.partition(":")
    types = {"id": "Folder", "folder": "Folder", "program": "Program"}
    if sep and kind.strip().lower() in types and number.strip().isdigit():
        return ListParent(int(number), types[kind.strip().lower()])
    return None
