"""Rendered files put on disk, either here or by a writer process beside the render.

Why a process: creating a stack's few hundred small files is kernel time (some 30-60 ms a stack on the 2-core
machine, more than serialising them), and a thread cannot take it off the render's path because every file
costs it the interpreter lock. The writer is a plain `python -m infra.offline.disk_writer` reading pickled
(directory, files) records from its stdin; it imports nothing but the standard library, so it starts at once.
The render itself stays one process: only finished text crosses the pipe.

Expanded objects cross the pipe as data and become YAML here (infra/offline/yaml_text.py, the same bytes the render
would write): with `render --expand` that is most of a stack's files, and turning them into text beside the render
uses the second core. A text or object the writer has been sent before (the same object: an expanded object that
several environments of a fleet share) crosses the pipe once; later files with it are hard links to the first, so
a fleet's expanded objects cost the disk one copy.
"""

from __future__ import annotations

import os
import pickle
import shutil
import subprocess
import sys
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import IO, Any

Files = Sequence[tuple[str, str]]
"""(path relative to the directory, text) pairs."""
Payload = str | Mapping[str, Any]
"""A file's text, or an object (plain data) whose YAML text the file holds."""
SharedFiles = Sequence[tuple[str, Payload]]
"""(path relative to the directory, text or object) pairs whose payloads may recur in later calls."""
Shared = tuple[int, Payload | None]
"""A payload sent before: (its number, the text or object the first time; None after)."""


def put_on_disk(
    directory: Path, files: Files, shared: Sequence[tuple[str, Shared]] = (), known: dict | None = None
) -> None:
    """`directory` holding exactly `files` (and `shared`, texts or objects known by number: written once,
    hard-linked after; `known` remembers them across calls): whatever was there before is removed first."""
    if directory.exists():
        shutil.rmtree(directory)
    for folder in {(directory / relative).parent for relative, _ in [*files, *shared]}:
        folder.mkdir(parents=True, exist_ok=True)
    for relative, text in files:
        (directory / relative).write_text(text)
    known = {} if known is None else known
    for relative, (number, payload) in shared:
        target = directory / relative
        if payload is not None:
            text = payload if isinstance(payload, str) else _yaml(payload)
            known[number] = (text, target)
            target.write_text(text)
            continue
        first_text, first = known[number]
        try:
            os.link(first, target)
        except OSError:  # the first copy is gone (its directory written again) or links are not possible here
            target.write_text(first_text)


def _yaml(data: Mapping[str, Any]) -> str:
    from infra.offline.yaml_text import dump_yaml  # only where objects are written: the writer starts without it

    return dump_yaml(data)


class WriterFailed(Exception):
    pass


class DiskWriter:
    """Hands each directory to the writer process; `close` (or leaving the `with` block) waits until all are
    written and raises WriterFailed with the writer's error if any write failed."""

    def __init__(self) -> None:
        self._process = subprocess.Popen(
            [sys.executable, "-m", "infra.offline.disk_writer"],
            stdin=subprocess.PIPE,
            stderr=subprocess.PIPE,
            cwd=Path(__file__).resolve().parents[2],
        )
        self._errors: bytes | None = None
        self._sent: dict[int, tuple[Payload, int]] = {}

    def write(self, directory: Path, files: Files, shared: SharedFiles = ()) -> None:
        """Put `files` (and `shared`: files whose text, or object written as YAML, may recur in later calls) in
        `directory`."""
        assert self._process.stdin is not None
        numbered: list[tuple[str, Shared]] = []
        for relative, payload in shared:
            seen = self._sent.get(id(payload))
            if seen is None:
                self._sent[id(payload)] = (payload, len(self._sent))  # the payload is kept: ids stay unique
                numbered.append((relative, (len(self._sent) - 1, payload)))
            else:
                numbered.append((relative, (seen[1], None)))
        record = (str(directory.resolve()), list(files), numbered)
        try:
            pickle.dump(record, self._process.stdin, protocol=pickle.HIGHEST_PROTOCOL)
            self._process.stdin.flush()
        except BrokenPipeError:
            self.close()  # raises the writer's own error

    def close(self) -> None:
        if self._errors is None:
            self._errors = self._process.communicate()[1]  # closes the writer's stdin: it finishes and exits
        if self._process.returncode != 0:
            message = self._errors.decode(errors="replace").strip()
            raise WriterFailed(f"writing the rendered files failed: {message}")

    def __enter__(self) -> DiskWriter:
        return self

    def __exit__(self, *_exc: object) -> None:
        self.close()


def serve(records: IO[bytes]) -> None:
    known: dict[int, tuple[str, Path]] = {}
    while True:
        try:
            directory, files, shared = pickle.load(records)
        except EOFError:
            return
        put_on_disk(Path(directory), files, shared, known)


if __name__ == "__main__":
    try:
        serve(sys.stdin.buffer)
    except Exception as error:  # noqa: BLE001 (reported to the render, which exits with it)
        print(f"{type(error).__name__}: {error}", file=sys.stderr)
        sys.exit(1)
