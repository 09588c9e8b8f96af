"""The result and run formats (matrix/schemas/*.schema.json, schema 1), checked wherever the
orchestrator reads them: results and run files may come from other machines, older versions,
other tools or a hand edit. A file that does not fit is one FormatError line naming the file,
the line or field, and what was expected.

The probe writes with matrix.probe.results (standard library only); reading and checking
happen here, outside cells, with jsonschema.
"""

from __future__ import annotations

import functools
import json
from pathlib import Path
from typing import Any, Callable, Dict, Iterator, Optional, Tuple

import jsonschema
import jsonschema_rs

from matrix.errors import FormatError
from matrix.probe import SCHEMA, results

SCHEMAS = Path(__file__).parent / "schemas"


@functools.cache
def _schema(name: str) -> Dict[str, Any]:
    return json.loads((SCHEMAS / f"{name}.schema.json").read_text())


@functools.cache
def validator(name: str) -> Any:
    schema = _schema(name)
    cls = jsonschema.validators.validator_for(schema)
    cls.check_schema(schema)
    return cls(schema)


@functools.cache
def _fast(name: str) -> Any:
    """The same schema compiled by jsonschema-rs: ~2 µs a record against ~1 ms for jsonschema's
    best_match, which a night's 214,000 results cannot afford. jsonschema stays the one that
    says what is wrong, since its best_match picks the most telling error."""
    return jsonschema_rs.validator_for(_schema(name))


def problem(name: str, instance: Any) -> Optional[str]:
    """What is wrong with `instance` as a `name` record ("field: what was expected"), or None."""
    if _fast(name).is_valid(instance):
        return None
    error = jsonschema.exceptions.best_match(validator(name).iter_errors(instance))
    if error is None:
        return None
    where = "/".join(str(part) for part in error.absolute_path) or "the record"
    return f"{where}: {error.message[:200]}"


def read_results(path: Path, warn: Optional[Callable[[str], None]] = None) -> Iterator[Dict[str, Any]]:
    """The results in a .jsonl file, each checked against the result schema."""
    for _number, result in read_numbered(path, warn):
        yield result


def read_numbered(path: Path, warn: Optional[Callable[[str], None]] = None) -> Iterator[Tuple[int, Dict[str, Any]]]:
    """(line number, result), each checked against the result schema."""
    for number, result in _lines(path, warn):
        found = problem("result", result)
        if found:
            raise FormatError(f"{path}:{number}: {found}")
        yield number, result


def _lines(path: Path, warn: Optional[Callable[[str], None]]) -> Iterator[Tuple[int, Dict[str, Any]]]:
    try:
        yield from results.numbered(str(path), warn=warn)
    except OSError as exc:
        raise FormatError(f"{path}: unreadable ({exc.strerror or exc})") from None
    except ValueError as exc:
        raise FormatError(str(exc)) from None


def read_run(folder: Path) -> Dict[str, Any]:
    """A run folder's run.json, checked against the run schema."""
    path = folder / "run.json"
    try:
        meta = json.loads(path.read_text())
    except OSError as exc:
        raise FormatError(f"{path}: unreadable ({exc.strerror or exc})") from None
    except ValueError as exc:
        raise FormatError(f"{path}: not JSON ({exc})") from None
    if isinstance(meta, dict) and meta.get("schema") != SCHEMA:  # said first: the likeliest cause
        raise FormatError(f"{path}: results schema {meta.get('schema')!r}; this version reads schema {SCHEMA}")
    found = problem("run", meta)
    if found:
        raise FormatError(f"{path}: {found}")
    return meta
