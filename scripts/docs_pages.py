"""Generate the capability pages from the code: ``docs/s3-compatible/<profile>.md`` (whole files, from
``core.storage.providers.s3_profiles.PROFILES``) and the capability table in ``docs/storage/README.md``
(between ``<!-- capabilities: begin -->`` and ``<!-- capabilities: end -->``, from the provider registry).

    python -m scripts.docs_pages           # rewrite them
    python -m scripts.docs_pages --check   # exit 1 when a page differs (tests/docs/test_generated_pages.py)
"""

from __future__ import annotations

import re
import sys
from dataclasses import dataclass, fields
from pathlib import Path

from core.handlers.replication import consistency_of
from core.storage.capabilities import Capabilities
from core.storage.providers.s3_profiles import PROFILES, S3Profile
from core.storage.registry import providers

ROOT = Path(__file__).resolve().parent.parent
COMPATIBLE = ("digitalocean", "oci", "ibm", "alibaba", "tencent")
HANDBOOK = "docs/storage/README.md"
_BLOCK = re.compile(r"(<!-- capabilities: begin -->\n).*?(<!-- capabilities: end -->)", re.S)

# How each provider's storage events reach a function (the parsers in core/events/, samples in tests/events/data/).
EVENTS = {
    "digitalocean": (
        "Spaces sends no object-change notifications, so nothing drives event replication from a Space. "
        "A Space works as a **target**, and as a source through scheduled reconciliation (docs/jobs.md)."
    ),
    "oci": (
        "OCI Events (rule on `com.oraclecloud.objectstorage.createobject` / `deleteobject` / `updateobject`, "
        "with *Emit Object Events* enabled on the bucket) delivered to a function: `core/events/oci.py` reads "
        "the CloudEvents 0.1 envelope; the tenancy namespace becomes the event's `account`. Sample: "
        "`tests/events/data/oci/objectstorage-createobject.reference.json`."
    ),
    "ibm": (
        "A Code Engine COS subscription (`com.ibm.cloud.cos.document.write` / `.delete`) delivered to an app "
        "(binary-mode CloudEvent) or a job (`CE_DATA`): `core/events/ibm.py`. Samples: "
        "`tests/events/data/ibm/`."
    ),
    "alibaba": (
        "A Function Compute OSS trigger (`ObjectCreated:*`, `ObjectRemoved:*`): `core/events/alibaba.py`. "
        "Sample: `tests/events/data/alibaba/oss-ObjectCreated-PutObject.fc-event-template.json`."
    ),
    "tencent": (
        "An SCF COS trigger (`cos:ObjectCreated:*`, `cos:ObjectRemoved:*`): `core/events/tencent.py` (the "
        "key arrives as `/<appid>/<bucket>/<key>`; the event names the bucket `<bucket>-<appid>`). Samples: "
        "`tests/events/data/tencent/`."
    ),
}


@dataclass(frozen=True)
class _Target:
    """What ``consistency_of`` reads of a store: its capabilities."""

    capabilities: Capabilities


def _value(value: object) -> str:
    if isinstance(value, bool):
        return "yes" if value else "**no**"
    if isinstance(value, int) and value >= 1024 and value % 1024 == 0:
        for unit, size in (("GiB", 1024**3), ("MiB", 1024**2), ("KiB", 1024)):
            if value % size == 0:
                return f"{value // size} {unit}"
    if isinstance(value, frozenset):
        return ", ".join(sorted(value)) or "none"
    return str(value)


def _columns() -> list[tuple[str, Capabilities]]:
    cols: list[tuple[str, Capabilities]] = []
    for spec in providers():
        if spec.profiles is not None:
            cols += [(f"`{spec.scheme}` {name}", p.capabilities) for name, p in spec.profiles().items()]
        else:
            cols.append((f"`{spec.scheme}`", spec.capabilities({})))
    return cols


def capability_table() -> str:
    """Every capability flag and limit (rows) of every provider and S3 profile (columns)."""
    cols = _columns()
    rows = ["| capability | " + " | ".join(name for name, _ in cols) + " |", "|---" * (len(cols) + 1) + "|"]
    for f in fields(Capabilities):
        rows.append(f"| `{f.name}` | " + " | ".join(_value(getattr(c, f.name)) for _, c in cols) + " |")
    for deletes in (True, False):
        label = "replication consistency" + (" (propagate_deletes)" if deletes else " (no deletes)")
        values = [consistency_of(_Target(c), propagate_deletes=deletes) for _, c in cols]  # type: ignore[arg-type]
        rows.append(f"| {label} | " + " | ".join(values) + " |")
    return "\n".join(rows) + "\n"


def _quirks(p: S3Profile) -> list[tuple[str, str, str]]:
    """(what, Amazon S3, this provider) for every profile field that differs from the AWS profile."""
    aws = PROFILES["aws"]
    described = {
        "addressing_style": "addressing",
        "checksum_mode": "upload checksums (boto3 `request_checksum_calculation`)",
        "delete_many_needs_md5": "DeleteObjects needs Content-MD5",
        "min_part_size": "smallest multipart part",
        "max_parts": "most multipart parts",
        "etag_is_md5": "ETag is the MD5 (single-part uploads)",
        "list_version": "ListObjects version",
        "create_only_header": "create-only header",
        "write_if_match": "If-Match on PutObject (compare-and-swap)",
        "copy_if_none_match": "create-only CopyObject",
        "delete_if_match": "If-Match on DeleteObject",
        "read_if_match": "If-Match on GetObject",
        "response_checksums": "CRC32/CRC32C/SHA checksums returned",
    }
    out = []
    for name, label in described.items():
        mine, theirs = getattr(p, name), getattr(aws, name)
        if mine != theirs:
            out.append((label, _quirk(theirs), _quirk(mine)))
    return out


def _quirk(value: object) -> str:
    if isinstance(value, tuple):
        return f"`{value[0]}: {value[1]}`"
    if value is None:
        return "**none**"
    return _value(value)


def profile_page(p: S3Profile) -> str:
    region = p.example_regions[0]
    caps, aws = p.capabilities(), PROFILES["aws"].capabilities()
    extra = "".join(f'\n{opt} = "<your {opt}>"' for opt in p.required_options)
    lines = [
        "<!-- generated by python -m scripts.docs_pages from core/storage/providers/s3_profiles.py: do not edit -->",
        f"# {p.title}",
        "",
        f'Reached through the S3 provider (`s3://bucket[/prefix]`, boto3) with `profile = "{p.name}"`: every quirk '
        "below is data in `core/storage/providers/s3_profiles.py`, the backend has no per-provider branch. "
        "Options and credentials: [docs/storage/s3.md](../storage/s3.md); capabilities of every store: "
        "[docs/storage/README.md](../storage/README.md).",
        "",
        "```toml",
        "[stores.archive]",
        'url = "s3://my-bucket"' if p.bucket_pattern is None else 'url = "s3://photos-1250000000"',
        f'profile = "{p.name}"',
        f'region = "{region}"{extra}',
        'access_key_id = "secret://vault/archive#access_key_id"       # HMAC keys, from the secrets service',
        'secret_access_key = "secret://vault/archive#secret_access_key"',
        "```",
        "",
        "## Endpoint",
        "",
        f"- `{p.endpoint}` (regions such as {', '.join(f'`{r}`' for r in p.example_regions)}); "
        "`endpoint_url=` overrides it.",
        f"- Addressing: {p.addressing_style}.",
    ]
    if p.required_options:
        lines.append(f"- Required options: {', '.join(f'`{o}`' for o in p.required_options)}.")
    if p.bucket_rule:
        lines.append(f"- Bucket names: {p.bucket_rule} (checked when the store is opened).")
    lines += ["", "## Differences from Amazon S3", "", "| | Amazon S3 | " + p.title + " |", "|---|---|---|"]
    lines += [f"| {what} | {theirs} | {mine} |" for what, theirs, mine in _quirks(p)]
    diff = [f.name for f in fields(Capabilities) if getattr(caps, f.name) != getattr(aws, f.name)]
    lines += [
        "",
        "Capabilities that differ (`store.capabilities`; an operation the store cannot do raises `Unsupported`, "
        "it is never silently weakened):",
        "",
    ]
    lines += [f"- `{name}`: {_value(getattr(caps, name))} (S3: {_value(getattr(aws, name))})" for name in diff]
    if p.notes:
        lines += ["", "Notes:", ""] + [f"- {note}" for note in p.notes]
    strong = consistency_of(_Target(caps))  # type: ignore[arg-type]
    lines += [
        "",
        "## As a replication target",
        "",
        f"Consistency: **{strong}** "
        + (
            "(create-only, compare-and-swap and conditional delete are all available)."
            if strong == "strong"
            else "(convergence needs create-only, compare-and-swap and conditional delete; what is missing is "
            "replaced by compare-then-write and a confirmation read). What that guarantees: [docs/replication.md, "
            "Guarantees per target capability](../replication.md#guarantees-per-target-capability)."
        ),
        "",
        "## As a replication source: events",
        "",
        EVENTS[p.name],
        "",
    ]
    return "\n".join(lines)


def render_handbook(text: str) -> str:
    if not _BLOCK.search(text):
        raise ValueError(f"{HANDBOOK} has no capabilities block")
    return _BLOCK.sub(lambda m: m.group(1) + capability_table() + m.group(2), text)


def pages() -> dict[str, str]:
    """Page path (relative to the repository) -> its generated text."""
    out = {f"docs/s3-compatible/{name}.md": profile_page(PROFILES[name]) for name in COMPATIBLE}
    out[HANDBOOK] = render_handbook((ROOT / HANDBOOK).read_text(encoding="utf-8"))
    return out


def main(argv: list[str]) -> int:
    stale = []
    for page, text in pages().items():
        path = ROOT / page
        if not path.exists() or path.read_text(encoding="utf-8") != text:
            stale.append(page)
            if "--check" not in argv:
                path.parent.mkdir(parents=True, exist_ok=True)
                path.write_text(text, encoding="utf-8")
    if stale and "--check" in argv:
        print(f"out of date: {', '.join(stale)}: run python -m scripts.docs_pages", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
